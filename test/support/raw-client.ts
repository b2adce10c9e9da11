/**
 * A bare test client: a Unix socket, the framing and the codec, nothing else
 * (no correlation, no retries) — to see exactly what a server sends.
 */
import { connect, type Socket } from 'node:net';
import {
  decodeFrame,
  encodeFrame,
  type OverlaydFrame,
  type OverlaydFrameInput,
  type OverlaydRequestInput,
} from '../../src/protocol/index.js';
import { encodeLengthPrefixed, FrameDecoder } from '../../src/transport/framing.js';

export class RawClient {
  /** Resolves when the socket has closed, whichever side closed it. */
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #frames: OverlaydFrame[] = [];
  #waiter: ((frame: OverlaydFrame | undefined) => void) | undefined;
  #ended = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const decoder = new FrameDecoder((body) => this.#deliver(decodeFrame(body)));
    socket.on('data', (chunk) => decoder.push(chunk));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#ended = true;
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter?.(undefined);
        resolve();
      });
    });
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => {}); // surfaces as 'close'
        resolve(new RawClient(socket));
      });
    });
  }

  send(frame: OverlaydFrameInput): void {
    this.#socket.write(encodeLengthPrefixed(encodeFrame(frame)));
  }

  request(id: number | bigint, request: OverlaydRequestInput): void {
    this.send({ frame: 'request', id, request });
  }

  /** The next frame received; undefined once the connection has closed. */
  next(): Promise<OverlaydFrame | undefined> {
    const frame = this.#frames.shift();
    if (frame !== undefined || this.#ended) return Promise.resolve(frame);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  /** Sends one request and returns the next frame (its response, unless an event came first). */
  async call(
    id: number | bigint,
    request: OverlaydRequestInput,
  ): Promise<OverlaydFrame | undefined> {
    this.request(id, request);
    return this.next();
  }

  close(): void {
    this.#socket.destroy();
  }

  #deliver(frame: OverlaydFrame): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter !== undefined) waiter(frame);
    else this.#frames.push(frame);
  }
}
