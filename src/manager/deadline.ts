/**
 * One OverlayManager call's deadline: its timeout and the caller's
 * AbortSignal, over the whole call. A call waits for its turn in the
 * one-at-a-time order, for a connection, for a resync, and for the answers
 * of the requests it sends; the deadline bounds all of it, with one timer.
 */
import type { Clock } from '../client/clock.js';
import { AbortedError, type OverlaydError, TimeoutError } from '../errors.js';

/** What the caller may give each manager call. */
export interface CallOptions {
  /** This call's deadline, overriding `requestTimeoutMs`: waits and requests included. */
  timeoutMs?: number;
  /** Aborting fails the call; a request not yet written then never is. */
  signal?: AbortSignal;
}

/** The reason the deadline's own signal carries when time runs out. */
class DeadlinePassed extends Error {}

export class CallDeadline {
  readonly timeoutMs: number;
  readonly #endpoint: string;
  readonly #clock: Clock;
  readonly #controller = new AbortController();
  readonly #timer: unknown;
  readonly #caller: AbortSignal | undefined;
  readonly #onCallerAbort: (() => void) | undefined;

  constructor(clock: Clock, endpoint: string, timeoutMs: number, caller?: AbortSignal) {
    this.timeoutMs = timeoutMs;
    this.#endpoint = endpoint;
    this.#clock = clock;
    this.#caller = caller;
    if (caller?.aborted) {
      this.#controller.abort(caller.reason);
      return;
    }
    this.#timer = clock.setTimeout(
      () => this.#controller.abort(new DeadlinePassed(`deadline of ${timeoutMs} ms passed`)),
      timeoutMs,
    );
    if (caller !== undefined) {
      this.#onCallerAbort = () => this.#controller.abort(caller.reason);
      caller.addEventListener('abort', this.#onCallerAbort, { once: true });
    }
  }

  /** Aborted once the deadline passes or the caller aborts. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Wait for `promise`; if the call ends first, run `giveUp` and fail it as not sent. */
  race<T>(promise: Promise<T>, op: string, giveUp?: () => void): Promise<T> {
    const signal = this.#controller.signal;
    if (signal.aborted) {
      giveUp?.();
      return Promise.reject(this.#unsent(op));
    }
    return new Promise<T>((resolve, reject) => {
      const onEnd = () => {
        giveUp?.();
        reject(this.#unsent(op));
      };
      signal.addEventListener('abort', onEnd, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onEnd);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onEnd);
          reject(error);
        },
      );
    });
  }

  /**
   * A signal for one request: aborted when the call ends or `connection`
   * aborts, whichever comes first. `dispose` unhooks it once the request settled.
   */
  linkedWith(connection: AbortSignal): { signal: AbortSignal; dispose(): void } {
    const own = this.#controller.signal;
    if (own.aborted) return { signal: own, dispose: () => {} };
    if (connection.aborted) return { signal: connection, dispose: () => {} };
    const linked = new AbortController();
    const fromCall = () => linked.abort(own.reason);
    const fromConnection = () => linked.abort(connection.reason);
    own.addEventListener('abort', fromCall, { once: true });
    connection.addEventListener('abort', fromConnection, { once: true });
    return {
      signal: linked.signal,
      dispose: () => {
        own.removeEventListener('abort', fromCall);
        connection.removeEventListener('abort', fromConnection);
      },
    };
  }

  /** The client's account of a request this deadline ended: a timeout, not an abort. */
  translate(error: unknown): unknown {
    if (!(error instanceof AbortedError) || !(error.cause instanceof DeadlinePassed)) return error;
    return new TimeoutError(this.timeoutMs, {
      ...(error.op !== undefined && { op: error.op }),
      ...(error.id !== undefined && { id: error.id }),
      endpoint: this.#endpoint,
      ...(error.delivery !== undefined && { delivery: error.delivery }),
    });
  }

  /** Clear the timer and the caller's listener: the call is over. */
  dispose(): void {
    this.#clock.clearTimeout(this.#timer);
    if (this.#onCallerAbort) this.#caller?.removeEventListener('abort', this.#onCallerAbort);
  }

  #unsent(op: string): OverlaydError {
    const reason: unknown = this.#controller.signal.reason;
    const ctx = { op, endpoint: this.#endpoint, delivery: 'not-sent' as const };
    if (reason instanceof DeadlinePassed) return new TimeoutError(this.timeoutMs, ctx);
    return new AbortedError('call aborted before it was sent', { ...ctx, cause: reason });
  }
}
