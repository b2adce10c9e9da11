/**
 * Shared by the fuzz tests: chunkings, byte-level mutations of frame streams,
 * JSON-level mutations of valid frames, and `feed`, which runs a FrameDecoder
 * over chunks and checks its invariants.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { ClosedError, IoError, OverlaydError } from '../../src/errors.js';
import { JsonFloat, type JsonValue } from '../../src/protocol/index.js';
import {
  encodeLengthPrefixed,
  FrameDecoder,
  MAX_FRAME_BYTES,
  PREFIX_BYTES,
} from '../../src/transport/framing.js';

/** Runs per property (at least 10,000 in CI). */
export const RUNS = 10_000;

/** Split `bytes` into chunks whose sizes cycle through `sizes`. */
export function split(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const size = sizes[k % sizes.length] ?? 1;
    chunks.push(bytes.subarray(i, i + size));
    i += size;
  }
  return chunks;
}

export const chunkSizes = fc.array(fc.integer({ min: 1, max: 48 }), {
  minLength: 1,
  maxLength: 12,
});

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'prefix'; frame: number; length: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip'), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate'), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert'),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete'), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    kind: fc.constant('prefix'),
    frame: fc.nat(),
    length: fc.oneof(
      fc.constantFrom(0, 0xffffffff, MAX_FRAME_BYTES + 1, MAX_FRAME_BYTES),
      fc.nat({ max: 200 }),
      fc.integer({ min: 0, max: 0xffffffff }),
    ),
  }),
) as fc.Arbitrary<Mutation>;

/** Wire bytes of these bodies, and where each frame starts. */
export function wireOf(bodies: readonly Uint8Array[]): { wire: Buffer; starts: number[] } {
  const frames = bodies.map((body) => Buffer.from(encodeLengthPrefixed(body)));
  const starts: number[] = [];
  let at = 0;
  for (const frame of frames) {
    starts.push(at);
    at += frame.length;
  }
  return { wire: Buffer.concat(frames), starts };
}

export function mutate(wire: Buffer, starts: readonly number[], m: Mutation): Buffer {
  const n = wire.length;
  switch (m.kind) {
    case 'flip': {
      if (n === 0) return wire;
      const out = Buffer.from(wire);
      const at = m.at % n;
      out[at] = (out[at] ?? 0) ^ (1 << m.bit);
      return out;
    }
    case 'truncate':
      return wire.subarray(0, m.at % (n + 1));
    case 'insert': {
      const at = m.at % (n + 1);
      return Buffer.concat([wire.subarray(0, at), m.bytes, wire.subarray(at)]);
    }
    case 'delete': {
      const at = m.at % (n + 1);
      return Buffer.concat([wire.subarray(0, at), wire.subarray(at + m.count)]);
    }
    case 'prefix': {
      const start = starts.length === 0 ? undefined : starts[m.frame % starts.length];
      if (start === undefined || start + PREFIX_BYTES > n) return wire;
      const out = Buffer.from(wire);
      out.writeUInt32LE(m.length >>> 0, start);
      return out;
    }
  }
}

/** What feeding `chunks` to a fresh decoder did; fails the property on a foreign error. */
export function feed(chunks: readonly Uint8Array[]): {
  bodies: Uint8Array[];
  failure: OverlaydError | undefined;
  end: ClosedError | IoError | undefined;
} {
  const given = chunks.reduce((sum, c) => sum + c.length, 0);
  const bodies: Uint8Array[] = [];
  let delivered = 0;
  const decoder = new FrameDecoder((body) => {
    expect(body.length).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    delivered += PREFIX_BYTES + body.length;
    bodies.push(Uint8Array.from(body));
  });
  let failure: OverlaydError | undefined;
  let pushed = 0;
  for (const chunk of chunks) {
    try {
      decoder.push(chunk);
      pushed += chunk.length;
      expect(delivered + decoder.pendingBytes).toBeLessThanOrEqual(pushed);
    } catch (error) {
      expect(error).toBeInstanceOf(OverlaydError);
      failure = error as OverlaydError;
      break;
    }
  }
  if (failure !== undefined) {
    // A failed decoder stays failed, with the same error, and holds nothing.
    expect(() => decoder.push(Uint8Array.of(0))).toThrow(failure);
    expect(() => decoder.end()).toThrow(failure);
    expect(decoder.pendingBytes).toBe(0);
    return { bodies, failure, end: undefined };
  }
  expect(delivered).toBeLessThanOrEqual(given);
  const end = decoder.end();
  expect(end === decoder.end()).toBe(true);
  expect(end instanceof ClosedError || end instanceof IoError).toBe(true);
  return { bodies, failure, end };
}

// ---------------------------------------------------------------------------
// JSON-level mutations of valid frames

/** An object whose entries may repeat a key (a plain object cannot). */
export class Obj {
  constructor(readonly entries: Array<[string, Tree]>) {}
}

/** A JSON tree that keeps integers exact, float lexemes verbatim and duplicate keys. */
export type Tree = null | boolean | number | bigint | string | JsonFloat | Tree[] | Obj;

export function treeOf(value: JsonValue): Tree {
  if (Array.isArray(value)) return value.map(treeOf);
  if (value !== null && typeof value === 'object' && !(value instanceof JsonFloat)) {
    return new Obj(Object.entries(value).map(([k, v]) => [k, treeOf(v)]));
  }
  return value;
}

export function textOf(tree: Tree): string {
  if (tree instanceof Obj) {
    return `{${tree.entries.map(([k, v]) => `${JSON.stringify(k)}:${textOf(v)}`).join(',')}}`;
  }
  if (Array.isArray(tree)) return `[${tree.map(textOf).join(',')}]`;
  if (tree instanceof JsonFloat) return tree.text;
  if (typeof tree === 'bigint') return tree.toString();
  return JSON.stringify(tree);
}

/** Every place in the tree a value sits: its container and key or index. */
function slots(tree: Tree, out: Array<{ parent: Obj | Tree[]; index: number }> = []) {
  if (tree instanceof Obj) {
    tree.entries.forEach(([, v], index) => {
      out.push({ parent: tree, index });
      slots(v, out);
    });
  } else if (Array.isArray(tree)) {
    tree.forEach((v, index) => {
      out.push({ parent: tree, index });
      slots(v, out);
    });
  }
  return out;
}

function objects(tree: Tree, out: Obj[] = []): Obj[] {
  if (tree instanceof Obj) {
    out.push(tree);
    for (const [, v] of tree.entries) objects(v, out);
  } else if (Array.isArray(tree)) {
    for (const v of tree) objects(v, out);
  }
  return out;
}

/** Numbers a u64/u32/u16/i64 field must refuse or carry exactly. */
export const bigNumber: fc.Arbitrary<Tree> = fc.oneof(
  fc.constantFrom<Tree>(
    2n ** 64n,
    2n ** 64n - 1n,
    2n ** 63n,
    2n ** 53n + 1n,
    -1n,
    -(2n ** 63n) - 1n,
    10n ** 40n,
    65536,
    4294967296,
    new JsonFloat('1e400'),
    new JsonFloat('-0'),
    new JsonFloat('1.0'),
    new JsonFloat('9'.repeat(400)),
  ),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
);

/** Tag and field values the schemas know, so mutations reach deep validation paths. */
const KNOWN_STRINGS = [
  'request',
  'response',
  'event',
  'ok',
  'ip',
  'err',
  'status',
  'attached',
  'guest_config',
  'bridge_name',
  'service_overlay',
  'allocate_ip',
  'add_peer',
  'attach_container',
  'peer_health_changed',
  'nat_endpoint_changed',
  'global',
  'service',
  'linux_pid',
  'guest_managed',
  'windows_container',
  'shared',
  'auto',
  'dedicated',
  '10.200.0.5',
  'fd00::1',
  '::ffff:1.2.3.4',
  '1.2.3.256',
  '',
];

export const oddValue: fc.Arbitrary<Tree> = fc.oneof(
  fc.constantFrom<Tree>(null, true, false, 0, -1, 1.5, '', [], new Obj([])),
  fc.constantFrom<Tree>(...KNOWN_STRINGS),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  bigNumber,
);

export type TreeMutation =
  | { kind: 'drop' | 'retype' | 'duplicate'; at: number; value: Tree }
  | { kind: 'unknownKey'; at: number; key: string; value: Tree };

export const treeMutation: fc.Arbitrary<TreeMutation> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('drop', 'retype', 'duplicate'),
    at: fc.nat(),
    value: oddValue,
  }),
  fc.record({
    kind: fc.constant('unknownKey'),
    at: fc.nat(),
    key: fc.oneof(fc.constantFrom('x_unknown', '__proto__', 'constructor'), fc.string()),
    value: oddValue,
  }),
  fc.record({ kind: fc.constant('retype'), at: fc.nat(), value: bigNumber }),
) as fc.Arbitrary<TreeMutation>;

/** A fresh copy, so that a generated value is never shared between places. */
function clone(tree: Tree): Tree {
  if (tree instanceof Obj) return new Obj(tree.entries.map(([k, v]) => [k, clone(v)]));
  return Array.isArray(tree) ? tree.map(clone) : tree;
}

/** Mutates `tree` in place (a fresh tree per run). */
export function mutateTree(tree: Tree, mutation: TreeMutation): void {
  const m = { ...mutation, value: clone(mutation.value) };
  if (m.kind === 'unknownKey') {
    const objs = objects(tree);
    objs[m.at % objs.length]?.entries.push([m.key, m.value]);
    return;
  }
  const all = slots(tree);
  const slot = all[m.at % Math.max(all.length, 1)];
  if (slot === undefined) return;
  const { parent, index } = slot;
  if (parent instanceof Obj) {
    const entry = parent.entries[index]!;
    if (m.kind === 'drop') parent.entries.splice(index, 1);
    else if (m.kind === 'retype') entry[1] = m.value;
    else parent.entries.push([entry[0], m.value]);
  } else if (m.kind === 'drop') parent.splice(index, 1);
  else if (m.kind === 'retype') parent[index] = m.value;
  else parent.push(m.value);
}

export type TextMutation =
  | { kind: 'cut'; at: number; count: number }
  | { kind: 'insert'; at: number; text: string };

export const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ kind: fc.constant('cut'), at: fc.nat(), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({
    kind: fc.constant('insert'),
    at: fc.nat(),
    text: fc.oneof(
      fc.constantFrom(
        '{',
        '}',
        '[',
        ']',
        ',',
        ':',
        '"',
        '\\',
        '\\u',
        '\\ud800',
        '-',
        '0',
        'e9',
        ' ',
      ),
      fc.string({ maxLength: 4 }),
    ),
  }),
) as fc.Arbitrary<TextMutation>;

export function mutateText(text: string, m: TextMutation): string {
  const at = m.at % (text.length + 1);
  return m.kind === 'cut'
    ? text.slice(0, at) + text.slice(at + m.count)
    : text.slice(0, at) + m.text + text.slice(at);
}
