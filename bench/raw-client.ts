/**
 * The floor: a bare `node:net` socket that writes a pre-encoded request
 * frame and counts response bytes. No encoding, no parsing, no promises: what
 * is left is the socket, the event loop and the server.
 */
import { createConnection, type Socket } from 'node:net';
import { prefixed, requestBody } from './echo-server.js';

/**
 * The request id the floor always sends: the response is then a fixed size,
 * learnt from the first answer (the fast server's and the simulated
 * overlayd's differ).
 */
const RAW_ID = 1;

export class RawPingPong {
  readonly #socket: Socket;
  readonly #request: Buffer;
  #responseBytes: number | undefined;
  #onData: (chunk: Buffer) => void = () => {};

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#request = prefixed(requestBody(RAW_ID));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  static connect(endpoint: string): Promise<RawPingPong> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(endpoint);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPingPong(socket));
      });
    });
  }

  /** The floor over a socket that is already connected (e.g. an in-memory one). */
  static over(socket: Socket): RawPingPong {
    return new RawPingPong(socket);
  }

  /** One round trip, reading the answer's length prefix: the size of every answer. */
  #responseSize(): Promise<number> {
    if (this.#responseBytes !== undefined) return Promise.resolve(this.#responseBytes);
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      this.#onData = (chunk) => {
        chunks.push(chunk);
        const all = Buffer.concat(chunks);
        if (all.length < 4 || all.length < 4 + all.readUInt32LE(0)) return;
        this.#responseBytes = all.length;
        resolve(all.length);
      };
      this.#socket.write(this.#request);
    });
  }

  /** `n` requests, one at a time; the latency of each, in µs. */
  async sequential(n: number): Promise<number[]> {
    const latencies: number[] = [];
    const socket = this.#socket;
    const request = this.#request;
    const size = await this.#responseSize();
    return new Promise((resolve) => {
      let received = 0;
      let start = performance.now();
      this.#onData = (chunk) => {
        received += chunk.length;
        if (received < size) return;
        received -= size;
        const now = performance.now();
        latencies.push((now - start) * 1e3);
        if (latencies.length === n) {
          resolve(latencies);
          return;
        }
        start = performance.now();
        socket.write(request);
      };
      socket.write(request);
    });
  }

  /** `n` requests with `depth` outstanding at a time; the elapsed time in ms. */
  async pipelined(n: number, depth: number): Promise<number> {
    const socket = this.#socket;
    const size = await this.#responseSize();
    const batch = Buffer.concat(Array.from({ length: depth }, () => this.#request));
    const one = this.#request.length;
    return new Promise((resolve) => {
      let received = 0;
      let answered = 0;
      let written = Math.min(depth, n);
      const start = performance.now();
      this.#onData = (chunk) => {
        received += chunk.length;
        const done = Math.floor(received / size);
        if (done === 0) return;
        received -= done * size;
        answered += done;
        if (answered >= n) {
          resolve(performance.now() - start);
          return;
        }
        const more = Math.min(done, n - written);
        if (more > 0) {
          written += more;
          socket.write(batch.subarray(0, more * one));
        }
      };
      socket.write(batch.subarray(0, written * one));
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}
