/**
 * OverlaydClient's per-request work without the statechart: the same ids,
 * validating codec (`encodeFrame`, `decodeFrame`), framing
 * (`FramedConnection`), a deadline timer per request, and one request in
 * flight with the rest in a FIFO queue, as the Rust client has it; the request flow
 * is plain fields instead of XState events. No reconnect or cancellation; a
 * response with another id is skipped.
 *
 * Not a product: it is the row that says what the chart costs, by leaving
 * it out and keeping everything else.
 */
import type { Socket } from 'node:net';
import { IdAllocator } from '../src/client/ids.js';
import { decodeFrame, encodeFrame, type OverlaydRequestInput } from '../src/protocol/index.js';
import { FramedConnection } from '../src/transport/framed-connection.js';

const DEADLINE_MS = 30_000;

interface Waiter {
  id: number | bigint;
  payload: Uint8Array;
  resolve(response: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class ChartlessClient {
  readonly #connection: FramedConnection;
  readonly #ids = new IdAllocator();
  readonly #queue: Waiter[] = [];
  #inFlight: Waiter | undefined;

  private constructor(socket: Socket) {
    this.#connection = new FramedConnection(socket, {
      onBody: (body) => this.#onBody(body),
      onEnd: (reason) => {
        for (const waiter of [this.#inFlight, ...this.#queue.splice(0)]) {
          if (waiter === undefined) continue;
          clearTimeout(waiter.timer);
          waiter.reject(reason);
        }
        this.#inFlight = undefined;
      },
    });
  }

  /** A client over a socket that is already connected. */
  static over(socket: Socket): ChartlessClient {
    return new ChartlessClient(socket);
  }

  call(request: OverlaydRequestInput): Promise<unknown> {
    const id = this.#ids.next();
    const payload = encodeFrame({ frame: 'request', id, request });
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { id, payload, resolve, reject, timer: undefined as never };
      waiter.timer = setTimeout(() => this.#expire(waiter), DEADLINE_MS);
      if (this.#inFlight === undefined) this.#dispatch(waiter);
      else this.#queue.push(waiter);
    });
  }

  #dispatch(waiter: Waiter): void {
    this.#inFlight = waiter;
    this.#connection.send(waiter.payload);
  }

  #expire(waiter: Waiter): void {
    const queued = this.#queue.indexOf(waiter);
    if (queued >= 0) this.#queue.splice(queued, 1);
    else if (this.#inFlight === waiter) this.#next();
    waiter.reject(new Error(`request ${waiter.id} timed out`));
  }

  #next(): void {
    this.#inFlight = undefined;
    const next = this.#queue.shift();
    if (next !== undefined) this.#dispatch(next);
  }

  #onBody(body: Uint8Array): void {
    const frame = decodeFrame(body);
    const waiter = this.#inFlight;
    if (frame.frame !== 'response' || waiter === undefined || frame.id !== waiter.id) return;
    clearTimeout(waiter.timer);
    this.#next();
    waiter.resolve(frame.response);
  }

  close(): void {
    this.#connection.destroy();
  }
}
