import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { CodecError } from '../../src/errors.js';
import { decodePaths } from '../../src/protocol/codec.js';
import {
  decodeFrame,
  decodeWire,
  encodeFrameToString,
  encodeWire,
  type OverlaydFrameInput,
  OverlaydFrameSchema,
  WIRE_TYPES,
  type WireTypeName,
} from '../../src/protocol/index.js';
import { arbitraryOf, jsonText } from './arbitraries.js';

/** Any UTF-16 code unit, lone surrogates included. */
const utf16 = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

const frames = arbitraryOf(OverlaydFrameSchema) as fc.Arbitrary<OverlaydFrameInput>;

type Outcome = { value: unknown } | { error: string };

function outcome(fn: () => unknown): Outcome {
  try {
    return { value: fn() };
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    return { error: error.message };
  }
}

/** The strict path decides; the fast path, when it answers, must agree with it. */
function expectPathsAgree(name: WireTypeName, text: string): Outcome {
  const strict = outcome(() => decodePaths.strict(name, text));
  expect(outcome(() => decodeWire(name, text))).toEqual(strict);
  const fast = outcome(() => decodePaths.fast(name, text));
  if ('value' in fast && fast.value !== undefined) expect(fast).toEqual(strict);
  return strict;
}

describe('valid values', () => {
  it('round-trip through encode and decode, re-encoding byte-identically', () => {
    fc.assert(
      fc.property(frames, (frame) => {
        const text = encodeFrameToString(frame);
        const decoded = decodeFrame(text);
        expect(encodeFrameToString(decoded)).toBe(text);
        expect(decodeFrame(new TextEncoder().encode(text))).toEqual(decoded);
        expect(JSON.parse(text, (_, x: unknown) => x)).toBeTypeOf('object');
        expectPathsAgree('OverlaydFrame', text);
      }),
      { numRuns: 500 },
    );
  });

  it('mostly take the fast path', () => {
    let fast = 0;
    fc.assert(
      fc.property(frames, (frame) => {
        if (decodePaths.fast('OverlaydFrame', encodeFrameToString(frame)) !== undefined) fast++;
      }),
      { numRuns: 300 },
    );
    // About 60% in practice: big u64 values (16+ digits) are left to the strict path.
    expect(fast).toBeGreaterThan(100);
  });

  it.each(Object.keys(WIRE_TYPES))('of %s agree with valibot itself', (name) => {
    const schema = WIRE_TYPES[name as WireTypeName] as v.GenericSchema;
    fc.assert(
      fc.property(arbitraryOf(schema), (value) => {
        const text = encodeWire(name as WireTypeName, value as never);
        expect(decodeWire(name as WireTypeName, text)).toEqual(v.parse(schema, value));
      }),
      { numRuns: 100 },
    );
  });
});

describe('arbitrary input', () => {
  it('never throws anything but CodecError (strings)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        outcome(() => decodeFrame(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but CodecError (bytes, lone surrogates)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.string({ unit: utf16 }), (bytes, units) => {
        outcome(() => decodeFrame(bytes));
        outcome(() => decodeFrame(units));
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes random JSON the same way on both paths', () => {
    fc.assert(
      fc.property(jsonText, (json) => {
        expectPathsAgree('OverlaydFrame', json);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes frames carrying random JSON in unknown fields the same way on both paths', () => {
    fc.assert(
      fc.property(frames, jsonText, jsonText, (frame, x, y) => {
        const text = encodeFrameToString(frame);
        const inner = text.replace(
          /^(\{"frame":"(?:request|response)","id":\d+,"\w+":\{"\w+":"\w+")/,
          `$1,"x":${x}`,
        );
        const result = expectPathsAgree('OverlaydFrame', `${inner.slice(0, -1)},"y":${y}}`);
        // Dropping the unknown fields gives back the frame, unless they were malformed for serde.
        if ('value' in result)
          expect(encodeFrameToString(result.value as OverlaydFrameInput)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes mutated frames the same way on both paths', () => {
    const mutation = fc.tuple(
      fc.nat(),
      fc.constantFrom('insert', 'delete', 'replace'),
      fc.constantFrom(...'{}[]:,"\\ 0123456789.eE-+tfn\u00e9'.split('')),
    );
    fc.assert(
      fc.property(frames, fc.array(mutation, { minLength: 1, maxLength: 3 }), (frame, edits) => {
        let text = encodeFrameToString(frame);
        for (const [at, kind, char] of edits) {
          const i = at % (text.length + 1);
          const keep = kind === 'insert' ? i : i + 1;
          text = text.slice(0, i) + (kind === 'delete' ? '' : char) + text.slice(keep);
        }
        expectPathsAgree('OverlaydFrame', text);
      }),
      { numRuns: 2000 },
    );
  });
});
