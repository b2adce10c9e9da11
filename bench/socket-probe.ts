/**
 * Splits a sequential round trip, seen from the client's socket, into the
 * client's turn and the time away:
 *
 * - turn: from a response's bytes arriving (`'data'`) to the next request's
 *   write — decode, the client's bookkeeping, the caller's continuation,
 *   encode. This is the client's own cost on the critical path.
 * - away: from a write to the next bytes arriving — the kernel, the server
 *   and the wake-ups on both sides.
 *
 * The probe wraps one socket instance (its own `write`, and a `'data'`
 * listener put before the client's), so the client under test is unchanged.
 * Use it on connections opened for this measurement only: it costs two
 * `performance.now()` calls per round trip.
 */
import type { Socket } from 'node:net';

export class SocketProbe {
  readonly #turns: number[] = [];
  readonly #aways: number[] = [];
  #lastWrite = 0;
  #lastData = 0;

  /** Start timing `socket`; returns it, for use inside a socket opener. */
  attach<S extends Socket>(socket: S): S {
    const write = socket.write;
    const probe = this;
    socket.write = function probedWrite(this: Socket, ...args: unknown[]): boolean {
      probe.#onWrite(performance.now());
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as Socket['write'];
    socket.prependListener('data', () => this.#onData(performance.now()));
    return socket;
  }

  /** Forget what was recorded (after a warm-up). */
  reset(): void {
    this.#turns.length = 0;
    this.#aways.length = 0;
    this.#lastWrite = 0;
    this.#lastData = 0;
  }

  /** Every turn since the last reset, in µs: 'data' to the next write. */
  get turnsUs(): readonly number[] {
    return this.#turns;
  }

  /** Every time away since the last reset, in µs: a write to the next 'data'. */
  get awaysUs(): readonly number[] {
    return this.#aways;
  }

  #onWrite(now: number): void {
    // Only the first write after a response ends the turn.
    if (this.#lastData !== 0) this.#turns.push((now - this.#lastData) * 1e3);
    this.#lastData = 0;
    this.#lastWrite = now;
  }

  #onData(now: number): void {
    if (this.#lastWrite !== 0) this.#aways.push((now - this.#lastWrite) * 1e3);
    this.#lastWrite = 0;
    this.#lastData = now;
  }
}
