/**
 * decodeFrame under fuzz: arbitrary text and bytes, JSON of every shape,
 * frame-shaped objects, and the reference's valid frames mutated (a key
 * dropped or duplicated, a value of the wrong type, big and float numbers,
 * unknown keys, text cut or spliced). Only CodecError is ever thrown, and
 * whatever decodes re-encodes to JSON that decodes to the same value, and
 * re-encodes to the same bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError } from '../../src/errors.js';
import {
  decodeFrame,
  encodeFrameToString,
  type OverlaydFrame,
  parseJsonStrict,
} from '../../src/protocol/index.js';
import { valid } from '../vectors/index.js';
import {
  mutateText,
  mutateTree,
  RUNS,
  textMutation,
  textOf,
  treeMutation,
  treeOf,
} from './arbitraries.js';

const vectors = valid.filter((v) => v.type === 'OverlaydFrame');

type Result = 'decoded' | 'refused';

/** Decode `input`: only a CodecError may be thrown; a decoded frame must round-trip. */
function check(input: string | Uint8Array): Result {
  let frame: OverlaydFrame;
  try {
    frame = decodeFrame(input);
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    return 'refused';
  }
  const text = encodeFrameToString(frame);
  const again = decodeFrame(text);
  expect(again).toEqual(frame);
  expect(encodeFrameToString(again)).toBe(text);
  return 'decoded';
}

const OPS = ['status', 'allocate_ip', 'add_peer', 'attach_container', 'register_dns', 'nat_tick'];
const RESULTS = ['ok', 'ip', 'err', 'status', 'attached', 'guest_config', 'service_overlay'];
const FIELDS = [
  'id',
  'pubkey',
  'healthy',
  'endpoint',
  'ip',
  'message',
  'name',
  'service',
  'join_global',
  'handle',
  'scope',
  'peer_count',
  'service_count',
  'peers',
  'public_key',
  'allowed_ips',
  'persistent_keepalive_secs',
];

/** Objects that look like frames: a known tag, known field names, values of any type. */
const frameShaped = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, 0, 7, -1, 1.5, '', '10.0.0.1', 2 ** 64),
    fc.string({ maxLength: 8 }),
    fc.array(tie('value'), { maxLength: 3 }),
    tie('object'),
  ),
  object: fc.dictionary(fc.constantFrom(...FIELDS), tie('value'), { maxKeys: 4 }),
  frame: fc.record({
    frame: fc.constantFrom('request', 'response', 'event', 'bogus'),
    id: fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, '1', 2 ** 53 + 2)),
    request: fc.tuple(fc.constantFrom(...OPS), tie('object')).map(([op, o]) => ({
      ...(o as object),
      op,
    })),
    response: fc.tuple(fc.constantFrom(...RESULTS), tie('object')).map(([result, o]) => ({
      ...(o as object),
      result,
    })),
    event: fc.constantFrom('peer_health_changed', 'nat_endpoint_changed', 'bogus_event'),
    pubkey: fc.string({ maxLength: 8 }),
    healthy: fc.boolean(),
  }),
})).frame;

describe('fuzz: decodeFrame', () => {
  it('arbitrary text (lone surrogates included) and bytes: only CodecError', () => {
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: anyUnit, maxLength: 64 }),
          fc.string({ unit: 'binary', maxLength: 64 }),
          fc.uint8Array({ maxLength: 96 }),
        ),
        (input) => {
          check(input);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('JSON of every shape, as text and as bytes: only CodecError, and what decodes round-trips', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), fc.boolean(), (text, asBytes) => {
        check(asBytes ? Buffer.from(text) : text);
      }),
      { numRuns: RUNS },
    );
  });

  it('frame-shaped objects with fields of any type: only CodecError, and what decodes round-trips', () => {
    const counts = { decoded: 0, refused: 0 };
    fc.assert(
      fc.property(frameShaped, (frame) => {
        counts[check(JSON.stringify(frame))]++;
      }),
      { numRuns: RUNS },
    );
    expect(counts.decoded).toBeGreaterThan(RUNS / 20);
  });

  it('mutated reference frames (drop, duplicate, retype, big numbers, unknown keys, spliced text): only CodecError, and what decodes round-trips', () => {
    expect(vectors.length).toBeGreaterThan(50);
    const counts = { decoded: 0, refused: 0 };
    fc.assert(
      fc.property(
        fc.nat({ max: vectors.length - 1 }),
        fc.array(treeMutation, { minLength: 1, maxLength: 3 }),
        fc.array(textMutation, { maxLength: 2 }),
        fc.boolean(),
        (index, treeMutations, textMutations, asBytes) => {
          const tree = treeOf(parseJsonStrict(vectors[index]!.json));
          for (const m of treeMutations) mutateTree(tree, m);
          let text = textOf(tree);
          for (const m of textMutations) text = mutateText(text, m);
          counts[check(asBytes ? Buffer.from(text) : text)]++;
        },
      ),
      { numRuns: RUNS },
    );
    // Both outcomes are well represented, so the round-trip check really ran.
    expect(counts.decoded).toBeGreaterThan(RUNS / 20);
    expect(counts.refused).toBeGreaterThan(RUNS / 2);
  });
});
