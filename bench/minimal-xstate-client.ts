/**
 * The baseline for what a chart that decides every request costs: a minimal
 * hand-written XState client (for the benchmark only, not a product). Its
 * chart has the same per-request transitions as OverlaydClient's
 * (connected → awaitingResponse → connected), one `assign` each; the client
 * writes to the socket itself, and reads with plain `JSON.parse`. No
 * validation, deadlines, reconnect or socket actor.
 *
 * With `window` above 1 it keeps that many requests written, the rest in a
 * FIFO queue, and tells the chart in batches, like OverlaydClient: the calls
 * of one tick in one event (and one write), the responses of one read in one.
 */
import type { Socket } from 'node:net';
import { assign, createActor, setup } from 'xstate';

interface Waiter {
  id: number;
  request: { op: string };
  resolve(response: unknown): void;
  reject(error: Error): void;
}

interface ResponseMessage {
  id: number;
  response: { result: string };
}

type ChartEvent = { type: 'written'; count: number } | { type: 'answered'; count: number };

const chart = setup({
  types: { context: {} as { inFlight: number }, events: {} as ChartEvent },
  guards: {
    answersAll: ({ context, event }) => event.count >= context.inFlight,
  },
}).createMachine({
  id: 'minimal',
  context: { inFlight: 0 },
  initial: 'connected',
  states: {
    connected: {
      on: {
        written: {
          target: 'awaitingResponse',
          actions: assign(({ event }) => ({ inFlight: event.count })),
        },
      },
    },
    awaitingResponse: {
      on: {
        written: {
          actions: assign(({ context, event }) => ({ inFlight: context.inFlight + event.count })),
        },
        answered: [
          {
            guard: 'answersAll',
            target: 'connected',
            actions: assign({ inFlight: 0 }),
          },
          {
            actions: assign(({ context, event }) => ({ inFlight: context.inFlight - event.count })),
          },
        ],
      },
    },
  },
});

export class MinimalXStateClient {
  readonly #socket: Socket;
  readonly #window: number;
  readonly #actor = createActor(chart);
  /** Written, unanswered, oldest first. */
  readonly #inFlight = new Map<number, Waiter>();
  readonly #queue: Waiter[] = [];
  #arrivals: Waiter[] = [];
  #nextId = 1;
  #buffered: Buffer | undefined;

  private constructor(socket: Socket, window: number) {
    this.#socket = socket;
    this.#window = Math.max(1, window);
    this.#actor.start();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => {
      for (const waiter of [...this.#inFlight.values(), ...this.#queue, ...this.#arrivals]) {
        waiter.reject(new Error('connection closed'));
      }
      this.#inFlight.clear();
    });
  }

  /** A client over a socket that is already connected. */
  static over(socket: Socket, options: { window?: number } = {}): MinimalXStateClient {
    return new MinimalXStateClient(socket, options.window ?? 1);
  }

  call(request: { op: string }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#arrivals.length === 0) queueMicrotask(this.#flush);
      this.#arrivals.push({ id: this.#nextId++, request, resolve, reject });
    });
  }

  /** The calls of this tick join the queue; the window takes what it can, in one write. */
  readonly #flush = (): void => {
    this.#queue.push(...this.#arrivals);
    this.#arrivals = [];
    this.#fill();
  };

  #fill(): void {
    const room = this.#window - this.#inFlight.size;
    if (room <= 0 || this.#queue.length === 0) return;
    const taken = this.#queue.splice(0, room);
    const frames: Buffer[] = [];
    for (const waiter of taken) {
      const body = Buffer.from(
        JSON.stringify({ frame: 'request', id: waiter.id, request: waiter.request }),
      );
      const frame = Buffer.allocUnsafe(4 + body.length);
      frame.writeUInt32LE(body.length, 0);
      body.copy(frame, 4);
      frames.push(frame);
      this.#inFlight.set(waiter.id, waiter);
    }
    this.#actor.send({ type: 'written', count: taken.length });
    this.#socket.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames));
  }

  #onData(chunk: Buffer): void {
    let buf = this.#buffered === undefined ? chunk : Buffer.concat([this.#buffered, chunk]);
    this.#buffered = undefined;
    const answered: Array<[Waiter, unknown]> = [];
    while (buf.length >= 4) {
      const len = buf.readUInt32LE(0);
      if (buf.length < 4 + len) break;
      const message = JSON.parse(buf.toString('utf8', 4, 4 + len)) as ResponseMessage;
      buf = buf.subarray(4 + len);
      const waiter = this.#inFlight.get(message.id);
      if (waiter === undefined) continue;
      this.#inFlight.delete(message.id);
      answered.push([waiter, message.response]);
    }
    if (buf.length > 0) this.#buffered = buf;
    if (answered.length === 0) return;
    this.#actor.send({ type: 'answered', count: answered.length });
    for (const [waiter, response] of answered) waiter.resolve(response);
    this.#fill();
  }

  close(): void {
    this.#actor.stop();
    this.#socket.destroy();
  }
}
