/**
 * Length-prefixed byte framing: `u32 LE length || body`. Bodies are opaque
 * bytes here; JSON lives in `src/protocol`.
 */
import { ClosedError, FrameTooLargeError, IoError } from '../errors.js';
import { MAX_FRAME_BYTES, PREFIX_BYTES } from '../protocol/limits.js';

export { MAX_FRAME_BYTES, PREFIX_BYTES } from '../protocol/limits.js';

/**
 * Prefix `body` with its u32 LE length, in one buffer so a frame is always a
 * single write. Throws FrameTooLargeError for bodies over MAX_FRAME_BYTES.
 */
export function encodeLengthPrefixed(body: Uint8Array): Uint8Array {
  const n = body.length;
  if (n > MAX_FRAME_BYTES) throw new FrameTooLargeError(n, MAX_FRAME_BYTES);
  const out = Buffer.allocUnsafe(PREFIX_BYTES + n);
  out.writeUInt32LE(n, 0);
  out.set(body, PREFIX_BYTES);
  return out;
}

/**
 * Streaming decoder. `push` each chunk as it arrives; every complete body is
 * handed to `onBody` synchronously, in order. A body that lies wholly inside
 * one chunk is passed as a zero-copy view of that chunk; a body split across
 * chunks is copied once into a buffer allocated when its length is known. A
 * zero-length body is delivered as an empty array (the codec rejects it).
 *
 * After a failure — an advertised length over MAX_FRAME_BYTES (thrown
 * FrameTooLargeError, before anything is allocated) or an exception thrown by
 * `onBody` — and after `end()`, the decoder refuses further input: `push`
 * throws that failure (or the end result) again.
 */
export class FrameDecoder {
  readonly #onBody: (body: Uint8Array) => void;
  /** Partial length prefix, when a chunk ended inside one. */
  readonly #prefix = new Uint8Array(PREFIX_BYTES);
  #prefixFilled = 0;
  /** Body being assembled across chunks, or undefined between bodies. */
  #body: Uint8Array | undefined = undefined;
  #bodyFilled = 0;
  /** What stopped the decoder: a thrown failure, or the result of end(). */
  #failure: { error: unknown } | undefined = undefined;
  #ended: ClosedError | IoError | undefined = undefined;

  constructor(onBody: (body: Uint8Array) => void) {
    this.#onBody = onBody;
  }

  /** Bytes received but not yet delivered (a partial prefix or body). */
  get pendingBytes(): number {
    return this.#prefixFilled + this.#bodyFilled;
  }

  push(chunk: Uint8Array): void {
    if (this.#failure !== undefined) throw this.#failure.error;
    if (this.#ended !== undefined) throw this.#ended;
    try {
      this.#consume(chunk);
    } catch (error) {
      this.#failure = { error };
      this.#body = undefined;
      this.#bodyFilled = 0;
      this.#prefixFilled = 0;
      throw error;
    }
  }

  /**
   * The stream ended: returns ClosedError when it ended at a frame boundary or
   * inside a length prefix, IoError when it ended inside a body. Rethrows the
   * failure that stopped the decoder, if any. Idempotent.
   */
  end(): ClosedError | IoError {
    if (this.#failure !== undefined) throw this.#failure.error;
    if (this.#ended !== undefined) return this.#ended;
    const body = this.#body;
    this.#ended =
      body === undefined
        ? new ClosedError('connection closed by peer')
        : new IoError(
            `io error: early eof (received ${this.#bodyFilled} of ${body.length} body bytes)`,
          );
    this.#body = undefined;
    this.#bodyFilled = 0;
    this.#prefixFilled = 0;
    return this.#ended;
  }

  #consume(chunk: Uint8Array): void {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      const body = this.#body;
      if (body !== undefined) {
        const filled = this.#bodyFilled;
        const take = Math.min(body.length - filled, n - off);
        body.set(chunk.subarray(off, off + take), filled);
        off += take;
        if (filled + take < body.length) {
          this.#bodyFilled = filled + take;
          return;
        }
        this.#body = undefined;
        this.#bodyFilled = 0;
        this.#onBody(body);
        continue;
      }
      let len: number;
      if (this.#prefixFilled === 0 && n - off >= PREFIX_BYTES) {
        len =
          (chunk[off]! |
            (chunk[off + 1]! << 8) |
            (chunk[off + 2]! << 16) |
            (chunk[off + 3]! << 24)) >>>
          0;
        off += PREFIX_BYTES;
      } else {
        const p = this.#prefix;
        while (this.#prefixFilled < PREFIX_BYTES && off < n)
          p[this.#prefixFilled++] = chunk[off++]!;
        if (this.#prefixFilled < PREFIX_BYTES) return;
        this.#prefixFilled = 0;
        len = (p[0]! | (p[1]! << 8) | (p[2]! << 16) | (p[3]! << 24)) >>> 0;
      }
      if (len > MAX_FRAME_BYTES) throw new FrameTooLargeError(len, MAX_FRAME_BYTES);
      if (n - off >= len) {
        const whole = chunk.subarray(off, off + len);
        off += len;
        this.#onBody(whole);
      } else {
        const part = new Uint8Array(len);
        part.set(chunk.subarray(off), 0);
        this.#body = part;
        this.#bodyFilled = n - off;
        return;
      }
    }
  }
}
