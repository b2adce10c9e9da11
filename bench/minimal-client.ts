/**
 * What a user could write in an afternoon: a promise client with no state
 * machine, no validation, no timeouts and no reconnect. JSON.stringify and a
 * length prefix out; a simple streaming decoder and JSON.parse in; a Map of
 * id → resolve. The middle row between the floor and OverlaydClient.
 */
import { createConnection, type Socket } from 'node:net';

interface Waiter {
  resolve(response: unknown): void;
  reject(error: Error): void;
}

interface ResponseMessage {
  frame: string;
  id: number;
  response: { result: string; message?: string };
}

export class MinimalClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Waiter>();
  #nextId = 1;
  #buffered: Buffer | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error('connection closed'));
      this.#pending.clear();
    });
  }

  static connect(endpoint: string): Promise<MinimalClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(endpoint);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => socket.destroy());
        resolve(new MinimalClient(socket));
      });
    });
  }

  /** A client over a socket that is already connected (e.g. an in-memory one). */
  static over(socket: Socket): MinimalClient {
    return new MinimalClient(socket);
  }

  /** Requests written and not yet answered. */
  get pending(): number {
    return this.#pending.size;
  }

  call(request: { op: string }): Promise<unknown> {
    const id = this.#nextId++;
    const body = Buffer.from(JSON.stringify({ frame: 'request', id, request }));
    const frame = Buffer.allocUnsafe(4 + body.length);
    frame.writeUInt32LE(body.length, 0);
    body.copy(frame, 4);
    this.#socket.write(frame);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
  }

  #onData(chunk: Buffer): void {
    let buf = this.#buffered === undefined ? chunk : Buffer.concat([this.#buffered, chunk]);
    this.#buffered = undefined;
    while (buf.length >= 4) {
      const len = buf.readUInt32LE(0);
      if (buf.length < 4 + len) break;
      const message = JSON.parse(buf.toString('utf8', 4, 4 + len)) as ResponseMessage;
      buf = buf.subarray(4 + len);
      const waiter = this.#pending.get(message.id);
      if (waiter === undefined) continue;
      this.#pending.delete(message.id);
      if (message.response.result === 'err') waiter.reject(new Error(message.response.message));
      else waiter.resolve(message.response);
    }
    if (buf.length > 0) this.#buffered = buf;
  }

  close(): void {
    this.#socket.destroy();
  }
}
