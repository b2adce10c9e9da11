/**
 * OverlaydClient's per-request work without the statechart: the same ids,
 * validating codec (`encodeFrame`, `decodeFrame`), framing
 * (`FramedConnection`) and a deadline timer per request, with the request
 * flow in a Map instead of XState events. No queue, reconnect or
 * cancellation; a response with an unknown id is skipped.
 *
 * Not a product: it is the row that says what the chart costs, by leaving
 * it out and keeping everything else, for the decision issue 7 is waiting on.
 */
import type { Socket } from 'node:net';
import { IdAllocator } from '../src/client/ids.js';
import { decodeFrame, encodeFrame, type OverlaydRequestInput } from '../src/protocol/index.js';
import { FramedConnection } from '../src/transport/framed-connection.js';

const DEADLINE_MS = 30_000;

interface Waiter {
  resolve(response: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class ChartlessClient {
  readonly #connection: FramedConnection;
  readonly #ids = new IdAllocator();
  readonly #waiting = new Map<number | bigint, Waiter>();

  private constructor(socket: Socket) {
    this.#connection = new FramedConnection(socket, {
      onBody: (body) => this.#onBody(body),
      onEnd: (reason) => {
        for (const waiter of this.#waiting.values()) {
          clearTimeout(waiter.timer);
          waiter.reject(reason);
        }
        this.#waiting.clear();
      },
    });
  }

  /** A client over a socket that is already connected. */
  static over(socket: Socket): ChartlessClient {
    return new ChartlessClient(socket);
  }

  call(request: OverlaydRequestInput): Promise<unknown> {
    const id = this.#ids.next();
    this.#connection.send(encodeFrame({ frame: 'request', id, request }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`request ${id} timed out`));
      }, DEADLINE_MS);
      this.#waiting.set(id, { resolve, reject, timer });
    });
  }

  #onBody(body: Uint8Array): void {
    const frame = decodeFrame(body);
    if (frame.frame !== 'response') return;
    const waiter = this.#waiting.get(frame.id);
    if (waiter === undefined) return;
    this.#waiting.delete(frame.id);
    clearTimeout(waiter.timer);
    waiter.resolve(frame.response);
  }

  close(): void {
    this.#connection.destroy();
  }
}
