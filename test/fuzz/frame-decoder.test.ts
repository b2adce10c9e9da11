/**
 * FrameDecoder under fuzz: arbitrary bytes, and valid frame streams with
 * random mutations, split at random chunk boundaries. Whatever arrives, the
 * decoder throws only the project's errors (OverlaydError), never a
 * TypeError or RangeError, stays failed once failed, hands out bodies no
 * larger than the cap, and never holds more bytes than it was given (see
 * `feed`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClosedError } from '../../src/errors.js';
import { chunkSizes, feed, mutate, mutation, RUNS, split, wireOf } from './arbitraries.js';

describe('fuzz: FrameDecoder', () => {
  it('arbitrary bytes at arbitrary chunk boundaries: only OverlaydErrors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), chunkSizes, (bytes, sizes) => {
        feed(split(bytes, sizes));
      }),
      { numRuns: RUNS },
    );
  });

  it('valid frame streams at arbitrary chunk boundaries: every body out, in order, then Closed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 96 }), { maxLength: 8 }),
        chunkSizes,
        (bodies, sizes) => {
          const { wire } = wireOf(bodies);
          const out = feed(split(wire, sizes));
          expect(out.failure).toBeUndefined();
          expect(out.end).toBeInstanceOf(ClosedError);
          expect(out.bodies.map((b) => Buffer.from(b).toString('hex'))).toEqual(
            bodies.map((b) => Buffer.from(b).toString('hex')),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('mutated frame streams (bit flips, truncation, insertion, deletion, prefix corruption): only OverlaydErrors', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 96 }), { minLength: 1, maxLength: 6 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        chunkSizes,
        (bodies, mutations, sizes) => {
          const { wire, starts } = wireOf(bodies);
          let bytes = wire;
          for (const m of mutations) bytes = mutate(bytes, starts, m);
          const out = feed(split(bytes, sizes));
          const outcome = out.failure?.code ?? out.end?.code ?? 'none';
          seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
        },
      ),
      { numRuns: RUNS },
    );
    // The mutations reach every way a stream can end.
    expect([...seen.keys()].sort()).toEqual([
      'OVERLAYD_CLOSED',
      'OVERLAYD_FRAME_TOO_LARGE',
      'OVERLAYD_IO',
    ]);
  });
});
