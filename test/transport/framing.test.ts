import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClosedError, FrameTooLargeError, IoError } from '../../src/errors.js';
import {
  encodeLengthPrefixed,
  FrameDecoder,
  MAX_FRAME_BYTES,
  PREFIX_BYTES,
} from '../../src/transport/framing.js';
import { settledArrayBuffers } from '../support/memory.js';
import { framing } from '../vectors/index.js';

const facts = framing.facts;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

type Outcome =
  | { kind: 'frame'; body: Uint8Array }
  | { kind: 'Closed' | 'Io' | 'FrameTooLarge'; error: Error };

/** What a receiver reading one frame from `input` gets (like the reference's read_frame). */
function readOne(input: Uint8Array, chunkSize = input.length || 1): Outcome {
  const bodies: Uint8Array[] = [];
  const decoder = new FrameDecoder((b) => bodies.push(b));
  try {
    for (let i = 0; i < input.length && bodies.length === 0; i += chunkSize) {
      decoder.push(input.subarray(i, i + chunkSize));
    }
  } catch (error) {
    if (error instanceof FrameTooLargeError) return { kind: 'FrameTooLarge', error };
    throw error;
  }
  const first = bodies[0];
  if (first !== undefined) return { kind: 'frame', body: first };
  const end = decoder.end();
  return { kind: end instanceof ClosedError ? 'Closed' : 'Io', error: end };
}

/** Decode a whole stream given as chunks: every body, and how it ended. */
function decodeAll(chunks: Uint8Array[]): { bodies: string[]; end: Error } {
  const bodies: string[] = [];
  const decoder = new FrameDecoder((b) => bodies.push(hex(b)));
  for (const c of chunks) decoder.push(c);
  return { bodies, end: decoder.end() };
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

describe('framing vectors (test/vectors/framing.json)', () => {
  it('agrees on the cap', () => {
    expect(MAX_FRAME_BYTES).toBe(framing.max_frame_bytes);
    expect(MAX_FRAME_BYTES).toBe(8 * 1024 * 1024);
  });

  for (const fact of facts.filter((f) => f.wire_hex !== undefined)) {
    it(`${fact.name}: encodes to the reference wire bytes and back`, () => {
      const body = utf8(fact.body!);
      const wire = encodeLengthPrefixed(body);
      expect(hex(wire)).toBe(fact.wire_hex);
      const out = readOne(Buffer.from(fact.wire_hex!, 'hex'));
      expect(out.kind).toBe('frame');
      if (out.kind === 'frame') expect(Buffer.from(out.body).toString('utf8')).toBe(fact.body);
    });
  }

  for (const fact of facts.filter((f) => f.body_len !== undefined)) {
    it(`${fact.name}: sending ${fact.body_len} bytes → ${fact.result}`, () => {
      const body = new Uint8Array(fact.body_len!);
      if (fact.result === 'ok') {
        const wire = encodeLengthPrefixed(body);
        expect(wire.length).toBe(PREFIX_BYTES + fact.body_len!);
        expect(Buffer.from(wire).readUInt32LE(0)).toBe(fact.body_len);
      } else {
        expect(() => encodeLengthPrefixed(body)).toThrow(FrameTooLargeError);
        expect(() => encodeLengthPrefixed(body)).toThrow(fact.result!);
        try {
          encodeLengthPrefixed(body);
        } catch (error) {
          expect((error as Error).message).toBe(fact.result);
        }
      }
    });
  }

  for (const fact of facts.filter((f) => f.recv !== undefined)) {
    for (const chunkSize of [undefined, 1, 3]) {
      it(`${fact.name}: receiving → ${fact.recv} (chunks of ${chunkSize ?? 'all'})`, () => {
        const input = Buffer.from(fact.input_hex!, 'hex');
        const out = readOne(input, chunkSize);
        switch (fact.recv) {
          case 'Ok':
            expect(out.kind).toBe('frame');
            // Trailing whitespace passes through unchanged; the codec accepts it.
            if (out.kind === 'frame') {
              expect(hex(out.body)).toBe(hex(input.subarray(PREFIX_BYTES)));
              expect(Buffer.from(out.body).toString('utf8').trimEnd()).toBe(fact.detail);
            }
            break;
          case 'Codec':
            // Framing yields the empty body; the codec turns it into a CodecError.
            expect(out.kind).toBe('frame');
            if (out.kind === 'frame') expect(out.body.length).toBe(0);
            break;
          case 'FrameTooLarge':
            expect(out.kind).toBe('FrameTooLarge');
            if (out.kind !== 'frame') expect(out.error.message).toBe(fact.detail);
            break;
          case 'Closed':
            expect(out.kind).toBe('Closed');
            if (out.kind !== 'frame') {
              expect(out.error).toBeInstanceOf(ClosedError);
              expect(out.error.message).toBe(fact.detail);
            }
            break;
          case 'Io':
            expect(out.kind).toBe('Io');
            if (out.kind !== 'frame') {
              expect(out.error).toBeInstanceOf(IoError);
              expect(out.error.message).toMatch(/^io error: early eof/);
              expect(out.error.message).toContain('received 9 of 100 body bytes');
            }
            break;
          default:
            throw new Error(`unknown outcome ${String(fact.recv)}`);
        }
      });
    }
  }
});

describe('FrameDecoder', () => {
  it('hands out a body wholly inside one chunk as a view of that chunk (zero copy)', () => {
    const wire = Buffer.concat([
      encodeLengthPrefixed(utf8('abc')),
      encodeLengthPrefixed(utf8('de')),
    ]);
    const bodies: Uint8Array[] = [];
    new FrameDecoder((b) => bodies.push(b)).push(wire);
    expect(bodies.map((b) => Buffer.from(b).toString())).toEqual(['abc', 'de']);
    expect(bodies[0]!.buffer).toBe(wire.buffer);
  });

  it('delivers many frames from one chunk, including empty bodies, in order', () => {
    const parts = ['', 'x', '', 'yz'].map((s) => encodeLengthPrefixed(utf8(s)));
    const { bodies, end } = decodeAll([concat(parts)]);
    expect(bodies).toEqual(['', '78', '', '797a']);
    expect(end).toBeInstanceOf(ClosedError);
  });

  it('reports an empty body whose prefix ends a chunk', () => {
    const { bodies } = decodeAll([new Uint8Array([0, 0]), new Uint8Array([0, 0])]);
    expect(bodies).toEqual(['']);
  });

  it('ends with IoError when the stream stops right after a prefix', () => {
    const { end } = decodeAll([new Uint8Array([5, 0, 0, 0])]);
    expect(end).toBeInstanceOf(IoError);
    expect(end.message).toContain('received 0 of 5 body bytes');
  });

  it('tracks the bytes it holds', () => {
    const decoder = new FrameDecoder(() => {});
    decoder.push(new Uint8Array([3, 0]));
    expect(decoder.pendingBytes).toBe(2);
    decoder.push(new Uint8Array([0, 0, 1]));
    expect(decoder.pendingBytes).toBe(1);
    decoder.push(new Uint8Array([2, 3]));
    expect(decoder.pendingBytes).toBe(0);
  });

  it('refuses further input after an oversized prefix, and end() rethrows', () => {
    const decoder = new FrameDecoder(() => {});
    expect(() => decoder.push(new Uint8Array([1, 0, 0x80, 0]))).toThrow(FrameTooLargeError);
    expect(() => decoder.push(encodeLengthPrefixed(utf8('ok')))).toThrow(FrameTooLargeError);
    expect(() => decoder.end()).toThrow(FrameTooLargeError);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('stops when onBody throws, and refuses further input with that error', () => {
    const boom = new Error('boom');
    const seen: string[] = [];
    const decoder = new FrameDecoder((b) => {
      seen.push(Buffer.from(b).toString());
      throw boom;
    });
    const wire = concat([encodeLengthPrefixed(utf8('a')), encodeLengthPrefixed(utf8('b'))]);
    expect(() => decoder.push(wire)).toThrow(boom);
    expect(() => decoder.push(wire)).toThrow(boom);
    expect(() => decoder.end()).toThrow(boom);
    expect(seen).toEqual(['a']);
  });

  it('end() is idempotent and later input is refused with the end result', () => {
    const decoder = new FrameDecoder(() => {});
    const end = decoder.end();
    expect(end).toBeInstanceOf(ClosedError);
    expect(decoder.end()).toBe(end);
    expect(() => decoder.push(new Uint8Array([0]))).toThrow(end);
  });

  it('refuses an advertised 0xFFFFFFFF (and max+1) without allocating the body', async () => {
    // Control: an allowed 8 MiB prefix followed by one byte makes the decoder
    // allocate the body, and the measurement sees it.
    const before = await settledArrayBuffers();
    const allowed = new FrameDecoder(() => {});
    allowed.push(new Uint8Array([0, 0, 0x80, 0, 7]));
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeGreaterThan((MAX_FRAME_BYTES * 9) / 10);
    expect(allowed.pendingBytes).toBe(1);

    for (const prefix of [
      [0xff, 0xff, 0xff, 0xff],
      [1, 0, 0x80, 0],
    ]) {
      const start = await settledArrayBuffers();
      const decoder = new FrameDecoder(() => {});
      expect(() => decoder.push(new Uint8Array([...prefix, 1, 2, 3]))).toThrow(FrameTooLargeError);
      // Less than a tenth of what allocating even the smaller body would cost.
      expect(process.memoryUsage().arrayBuffers - start).toBeLessThan(MAX_FRAME_BYTES / 10);
      expect(decoder.pendingBytes).toBe(0);
    }
    expect(allowed.end()).toBeInstanceOf(IoError);
  });

  it('an oversized prefix split over chunks is refused on its last byte', () => {
    const decoder = new FrameDecoder(() => {});
    decoder.push(new Uint8Array([0xff]));
    decoder.push(new Uint8Array([0xff, 0xff]));
    expect(() => decoder.push(new Uint8Array([0xff]))).toThrow(
      'frame too large: 4294967295 bytes (max 8388608)',
    );
  });
});

describe('framing properties', () => {
  const body = fc.uint8Array({ maxLength: 300 });
  /** Small advertised lengths followed by too few or too many bytes, so bodies do complete. */
  const lyingFrames = fc
    .array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.uint8Array({ maxLength: 40 })), {
      maxLength: 6,
    })
    .map((parts) =>
      concat(parts.map(([len, data]) => concat([new Uint8Array([len, 0, 0, 0]), data]))),
    );

  it('any bodies, encoded and split anywhere, decode to the same bodies', () => {
    fc.assert(
      fc.property(
        fc.array(body, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (bodies, cuts) => {
          const wire = concat(bodies.map(encodeLengthPrefixed));
          const { bodies: got, end } = decodeAll(splitAt(wire, cuts));
          expect(got).toEqual(bodies.map(hex));
          expect(end).toBeInstanceOf(ClosedError);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('one byte at a time decodes the same bodies', () => {
    fc.assert(
      fc.property(fc.array(body, { maxLength: 8 }), (bodies) => {
        const wire = concat(bodies.map(encodeLengthPrefixed));
        const chunks = Array.from(wire, (b) => new Uint8Array([b]));
        expect(decodeAll(chunks).bodies).toEqual(bodies.map(hex));
      }),
    );
  });

  it('a stream cut short ends Closed between frames or in a prefix, Io inside a body', () => {
    fc.assert(
      fc.property(fc.array(body, { minLength: 1, maxLength: 6 }), fc.nat(), (bodies, cut) => {
        const frames = bodies.map(encodeLengthPrefixed);
        const wire = concat(frames);
        const at = cut % (wire.length + 1);
        // Where does `at` fall?
        let start = 0;
        let expected: typeof ClosedError | typeof IoError = ClosedError;
        for (const f of frames) {
          if (at >= start + PREFIX_BYTES && at < start + f.length) expected = IoError;
          start += f.length;
        }
        expect(decodeAll([wire.subarray(0, at)]).end).toBeInstanceOf(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes in arbitrary chunks never throw anything but FrameTooLargeError', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 64 }), lyingFrames),
        fc.array(fc.nat(), { maxLength: 8 }),
        (bytes, cuts) => {
          const decoder = new FrameDecoder(() => {});
          try {
            for (const c of splitAt(bytes, cuts)) decoder.push(c);
            const end = decoder.end();
            expect(end instanceof ClosedError || end instanceof IoError).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(FrameTooLargeError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never holds more than the bytes it was given', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 16 }), { maxLength: 10 }), (chunks) => {
        const decoder = new FrameDecoder(() => {});
        let given = 0;
        for (const c of chunks) {
          given += c.length;
          try {
            decoder.push(c);
          } catch (error) {
            expect(error).toBeInstanceOf(FrameTooLargeError);
            return;
          }
          expect(decoder.pendingBytes).toBeLessThanOrEqual(given);
        }
      }),
    );
  });
});
