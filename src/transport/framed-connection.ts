/**
 * Frames over one stream socket, shared by the reference server and the
 * client: bodies in (`onBody`), bodies out (`send`), and exactly one `onEnd`
 * saying how the connection ended.
 */
import type { Socket } from 'node:net';
import { ClosedError, IoError, OtherError, OverlaydError } from '../errors.js';
import { encodeLengthPrefixed, encodeLengthPrefixedAll, FrameDecoder } from './framing.js';

/** Errors a write gets from a socket whose peer is already gone. */
const PEER_GONE = new Set(['EPIPE', 'ECONNRESET']);

export interface FramedConnectionHandlers {
  /**
   * Called for every complete body, in order. The body may be a view into the
   * socket's chunk (nothing else writes to it). A throw ends the connection.
   */
  onBody(body: Uint8Array): void;
  /** Called after the bodies of one socket read have all gone to `onBody` (to act on them as one batch). */
  onReadEnd?(): void;
  /**
   * Called exactly once when the connection ends: ClosedError when the peer
   * closed at a frame boundary or we closed it; IoError when the stream ended
   * inside a body or the socket failed (the OS error as `cause`);
   * FrameTooLargeError for an oversized advertised length; the error (wrapped
   * in OtherError unless it already is an OverlaydError) when `onBody` threw.
   */
  onEnd(reason: OverlaydError): void;
  /**
   * Called when the connection becomes, or stops being, stuck: part of a frame
   * received and the rest not yet, or written bytes the peer has not taken
   * (the socket's write buffer over its high-water mark).
   */
  onStuck?(stuck: boolean): void;
}

export class FramedConnection {
  readonly socket: Socket;
  readonly #handlers: FramedConnectionHandlers;
  readonly #decoder: FrameDecoder;
  #ended = false;
  #midFrame = false;
  #backedUp = false;
  #stuck = false;

  constructor(socket: Socket, handlers: FramedConnectionHandlers) {
    this.socket = socket;
    this.#handlers = handlers;
    this.#decoder = new FrameDecoder(this.#deliver);
    socket.on('data', this.#onData);
    socket.on('end', this.#onPeerEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
    // A socket that is already gone may never emit 'close' again.
    if (socket.destroyed) process.nextTick(this.#onClose);
  }

  /** True once `onEnd` has been called (or is being called). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Write one frame (length prefix and body in a single write). Throws
   * FrameTooLargeError before writing anything when `body` is over the cap,
   * and ClosedError when the connection has ended.
   */
  send(body: Uint8Array): void {
    if (this.#ended) throw new ClosedError('connection is closed');
    if (!this.socket.write(encodeLengthPrefixed(body))) {
      this.#backedUp = true;
      this.#reportStuck();
    }
  }

  /**
   * Write several frames in one write. Returns undefined when the bytes were
   * written or buffered, or the error that refused the write whole, when none
   * of its bytes can have reached the peer; the caller then ends the
   * connection (which has failed).
   *
   * The proof, per write: a write to a socket already destroyed or errored
   * is not attempted. Otherwise Node hands the write straight to libuv only
   * when nothing is buffered before it (`writableLength` 0); libuv then
   * tries one `write(2)` and reports an error synchronously (before
   * `socket.write` returns, setting `socket.errored`) only when that syscall
   * failed, so it accepted no byte. EPIPE and ECONNRESET there mean the peer
   * had already gone. In every other case (a write queued behind another, an
   * error reported later from libuv's queue) bytes may have left, and the
   * write counts as written.
   */
  sendAll(bodies: readonly Uint8Array[]): Error | undefined {
    if (this.#ended) throw new ClosedError('connection is closed');
    const s = this.socket;
    const bytes = encodeLengthPrefixedAll(bodies);
    if (s.destroyed || s.errored) return s.errored ?? new Error('socket is destroyed');
    const queuedBefore = s.writableLength;
    const accepted = s.write(bytes);
    const error = s.errored as NodeJS.ErrnoException | null | undefined;
    if (error && queuedBefore === 0 && PEER_GONE.has(error.code ?? '')) return error;
    if (!accepted) {
      this.#backedUp = true;
      this.#reportStuck();
    }
    return undefined;
  }

  /** Stop reading from the peer (backpressure); `resume()` undoes it. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /**
   * Close gracefully: frames already passed to `send` are flushed, then the
   * socket is destroyed. Reports `reason` (default ClosedError) to `onEnd`.
   * Idempotent; does nothing once the connection has ended.
   */
  close(reason?: OverlaydError): void {
    this.#finish(reason ?? new ClosedError('connection closed'), false);
  }

  /** Close at once, dropping unsent data. Idempotent. */
  destroy(reason?: OverlaydError): void {
    this.#finish(reason ?? new ClosedError('connection closed'), true);
  }

  readonly #deliver = (body: Uint8Array): void => {
    if (!this.#ended) this.#handlers.onBody(body);
  };

  readonly #onData = (chunk: Buffer): void => {
    try {
      this.#decoder.push(chunk);
      if (!this.#ended) this.#handlers.onReadEnd?.();
      this.#midFrame = this.#decoder.pendingBytes > 0;
      this.#reportStuck();
    } catch (error) {
      this.#finish(
        error instanceof OverlaydError
          ? error
          : new OtherError(`frame handler threw: ${String(error)}`, { cause: error }),
        true,
      );
    }
  };

  readonly #onDrain = (): void => {
    this.#backedUp = false;
    this.#reportStuck();
  };

  #reportStuck(): void {
    const stuck = this.#midFrame || this.#backedUp;
    if (stuck === this.#stuck || this.#ended) return;
    this.#stuck = stuck;
    this.#handlers.onStuck?.(stuck);
  }

  readonly #onPeerEnd = (): void => {
    this.#finish(this.#decoder.end(), false);
  };

  readonly #onError = (error: Error): void => {
    this.#finish(new IoError(`io error: ${error.message}`, { cause: error }), true);
  };

  readonly #onClose = (): void => {
    const s = this.socket;
    s.off('data', this.#onData);
    s.off('end', this.#onPeerEnd);
    s.off('error', this.#onError);
    s.off('close', this.#onClose);
    s.off('drain', this.#onDrain);
    this.#finish(new ClosedError('connection closed'), true);
  };

  /**
   * End once. Stops reading at once; the 'error' and 'close' listeners stay
   * until the socket has closed (a late socket error must not go unhandled)
   * and are removed then.
   */
  #finish(reason: OverlaydError, destroy: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    const s = this.socket;
    s.off('data', this.#onData);
    s.off('end', this.#onPeerEnd);
    if (destroy || s.destroyed) {
      s.destroy();
    } else {
      // Discard further input so a chatty peer cannot stall the flush, then
      // flush what was sent and destroy.
      s.resume();
      s.end(() => s.destroy());
    }
    try {
      this.#handlers.onEnd(reason);
    } catch (error) {
      process.emitWarning(`FramedConnection onEnd handler threw: ${String(error)}`);
    }
  }
}
