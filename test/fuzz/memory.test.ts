/**
 * Memory stays bounded under fuzz: after 10,000 mutated frame streams go
 * through FrameDecoder and decodeFrame, a forced GC brings the heap back
 * near where it started; and an advertised length over the cap is refused
 * before any body buffer exists.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError, FrameTooLargeError, OverlaydError } from '../../src/errors.js';
import { decodeFrame, encodeFrame } from '../../src/protocol/index.js';
import { FrameDecoder, MAX_FRAME_BYTES } from '../../src/transport/framing.js';
import { settledArrayBuffers, settledHeap } from '../support/memory.js';
import { chunkSizes, mutate, mutation, RUNS, split, wireOf } from './arbitraries.js';

const KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const bodies = [
  encodeFrame({ frame: 'response', id: 7, response: { result: 'ip', ip: '10.200.0.5' } }),
  encodeFrame({ frame: 'event', event: 'peer_health_changed', pubkey: KEY, healthy: true }),
  encodeFrame({ frame: 'request', id: 2n ** 64n - 1n, request: { op: 'status' } }),
];

/** One stream: mutated valid frames through the decoder, each body through the codec. */
const stream = fc
  .tuple(fc.array(mutation, { maxLength: 3 }), chunkSizes)
  .map(([mutations, sizes]) => {
    const { wire, starts } = wireOf(bodies);
    let bytes = wire;
    for (const m of mutations) bytes = mutate(bytes, starts, m);
    return split(bytes, sizes);
  });

function run(chunks: Uint8Array[]): void {
  const decoder = new FrameDecoder((body) => {
    try {
      decodeFrame(body);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
    }
  });
  try {
    for (const chunk of chunks) decoder.push(chunk);
    decoder.end();
  } catch (error) {
    if (!(error instanceof OverlaydError)) throw error;
  }
}

describe('fuzz: memory stays bounded', () => {
  it('heap growth after 10,000 mutated streams and a forced GC stays under 8 MB', () => {
    fc.assert(fc.property(stream, run), { numRuns: 500 }); // warm-up: JIT, codec caches
    const before = settledHeap();
    fc.assert(fc.property(stream, run), { numRuns: RUNS });
    const growth = settledHeap() - before;
    expect(growth).toBeLessThan(8 * 1024 * 1024);
  });

  it('an advertised 8 MiB + 1 length is refused before anything is buffered', async () => {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(MAX_FRAME_BYTES + 1);
    const before = await settledArrayBuffers();
    const decoder = new FrameDecoder(() => {
      throw new Error('no body may come out');
    });
    // The prefix arrives in two pieces, then some of the would-be body.
    decoder.push(prefix.subarray(0, 2));
    expect(decoder.pendingBytes).toBe(2);
    expect(() => decoder.push(Buffer.concat([prefix.subarray(2), Buffer.alloc(1000)]))).toThrow(
      FrameTooLargeError,
    );
    expect(decoder.pendingBytes).toBe(0);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024);
  });

  it('an advertised 8 MiB body is held in one buffer of that size (the cap), allocated when the prefix arrives; only bytes given count as pending', async () => {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(MAX_FRAME_BYTES);
    const before = await settledArrayBuffers();
    const decoder = new FrameDecoder(() => {});
    decoder.push(Buffer.concat([prefix, Buffer.alloc(1000)]));
    expect(decoder.pendingBytes).toBe(1000);
    // Documented in SECURITY.md: the body buffer is allocated when its length is known.
    const held = process.memoryUsage().arrayBuffers - before;
    expect(held).toBeGreaterThan((MAX_FRAME_BYTES * 9) / 10);
    expect(held).toBeLessThan(MAX_FRAME_BYTES + 64 * 1024);
    expect(decoder.end().code).toBe('OVERLAYD_IO');
  });
});
