/**
 * The floor: a bare `node:net` socket that writes a pre-encoded request
 * frame and counts the response frames by their length prefixes. No
 * encoding, no JSON, no promises: what is left is the socket, the event loop
 * and the server.
 */
import { createConnection, type Socket } from 'node:net';
import { prefixed, requestBody } from './echo-server.js';

/** The request id the floor always sends. */
const RAW_ID = 1;

/**
 * Counts whole frames in a byte stream by their length prefixes (a frame may
 * be split across reads), without looking inside them.
 */
class FrameCounter {
  /** Bytes still to skip of the frame being read, prefix included once known. */
  #left = 0;
  /** The start of a length prefix split across reads. */
  #prefix: Buffer | undefined;

  /** How many frames `chunk` completes. */
  push(chunk: Buffer): number {
    let data = chunk;
    if (this.#prefix !== undefined) {
      data = Buffer.concat([this.#prefix, chunk]);
      this.#prefix = undefined;
    }
    let at = Math.min(this.#left, data.length);
    this.#left -= at;
    let frames = this.#left === 0 && at > 0 ? 1 : 0;
    while (this.#left === 0 && at < data.length) {
      if (data.length - at < 4) {
        this.#prefix = data.subarray(at);
        break;
      }
      const size = 4 + data.readUInt32LE(at);
      const here = Math.min(size, data.length - at);
      at += here;
      this.#left = size - here;
      if (this.#left === 0) frames++;
    }
    return frames;
  }
}

export class RawPingPong {
  readonly #socket: Socket;
  readonly #request: Buffer;
  readonly #frames = new FrameCounter();
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

  /** `n` requests, one at a time; the latency of each, in µs. */
  sequential(n: number): Promise<number[]> {
    const latencies: number[] = [];
    const socket = this.#socket;
    const request = this.#request;
    return new Promise((resolve) => {
      let start = performance.now();
      this.#onData = (chunk) => {
        if (this.#frames.push(chunk) === 0) return;
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

  /**
   * `n` requests with `depth` outstanding at a time, the requests that
   * answers make room for written together in one write (as the clients
   * write a batch); the elapsed time in ms.
   */
  pipelined(n: number, depth: number): Promise<number> {
    const socket = this.#socket;
    const batch = Buffer.concat(Array.from({ length: depth }, () => this.#request));
    const one = this.#request.length;
    return new Promise((resolve) => {
      let answered = 0;
      let written = Math.min(depth, n);
      const start = performance.now();
      this.#onData = (chunk) => {
        const done = this.#frames.push(chunk);
        if (done === 0) return;
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
