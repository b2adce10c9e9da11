/**
 * fast-check arbitraries derived from the protocol's valibot schemas (valid
 * input values of any wire type), plus random JSON text that stresses the
 * decoder: duplicate and escaped keys, floats, long integers, surrogates.
 */
import fc from 'fast-check';
import type * as v from 'valibot';
import { formatIp, I64_MAX, I64_MIN, U64_MAX } from '../../src/protocol/index.js';

interface Node {
  type: string;
  message?: unknown;
  entries?: Record<string, Node>;
  options?: Node[] | string[];
  literal?: unknown;
  wrapped?: Node;
  default?: unknown;
  item?: Node;
  pipe?: Node[];
}

const safeOrBig = (min: bigint, max: bigint) =>
  fc.oneof(
    fc.integer({ min: Math.max(Number(min), -(2 ** 31)), max: 2 ** 31 }),
    fc.bigInt({ min, max }),
    fc.constantFrom(min, max, 9007199254740991n, 9007199254740992n),
  );

const ipv4 = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
  .map((o) => o.join('.'));
const ipv6 = fc
  .tuple(
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
      minLength: 8,
      maxLength: 8,
    }),
    fc.constantFrom('canonical', 'full', 'upper'),
  )
  .map(([groups, spelling]) => {
    if (spelling === 'canonical') return formatIp({ v: 6, groups });
    const full = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
    return spelling === 'upper' ? full.toUpperCase() : full;
  });
export const ipAddr = fc.oneof(ipv4, ipv6, fc.constantFrom('::ffff:10.0.0.1', '::', '::1'));

const CUSTOM: Record<string, fc.Arbitrary<unknown>> = {
  'expected u8': fc.integer({ min: 0, max: 0xff }),
  'expected u16': fc.integer({ min: 0, max: 0xffff }),
  'expected u32': fc.integer({ min: 0, max: 0xffff_ffff }),
  'expected u64': safeOrBig(0n, U64_MAX),
  'expected i64': safeOrBig(I64_MIN, I64_MAX),
  'expected IP address': ipAddr,
};

const text = fc.string({ unit: 'binary', maxLength: 12 });

/** Valid input values of a schema. */
export function arbitraryOf(schema: v.GenericSchema): fc.Arbitrary<unknown> {
  return arb(schema as unknown as Node);
}

function arb(node: Node): fc.Arbitrary<unknown> {
  const base = node.pipe ? node.pipe[0]! : node;
  switch (base.type) {
    case 'string':
      return text;
    case 'boolean':
      return fc.boolean();
    case 'literal':
      return fc.constant(base.literal);
    case 'picklist':
      return fc.constantFrom(...(base.options as string[]));
    case 'custom':
      return CUSTOM[String(base.message)]!;
    case 'optional':
      return fc.option(arb(base.wrapped!), { nil: undefined });
    case 'nullish':
      return fc.oneof(fc.constant(undefined), fc.constant(null), arb(base.wrapped!));
    case 'array':
      return fc.array(arb(base.item!), { maxLength: 3 });
    case 'variant':
      return fc.oneof(...(base.options as Node[]).map(arb));
    case 'object': {
      const entries = base.entries!;
      const required = Object.keys(entries).filter(
        (key) => entries[key]!.type !== 'optional' && entries[key]!.type !== 'nullish',
      );
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, entry] of Object.entries(entries)) record[key] = arb(entry);
      return fc.record(record, { requiredKeys: required });
    }
    default:
      throw new Error(`no arbitrary for ${base.type}`);
  }
}

// ---------------------------------------------------------------------------
// Random JSON text

const ws = fc.constantFrom('', '', ' ', '\n', '\t', '\r\n  ');
const stringToken = fc.oneof(
  text.map((s) => JSON.stringify(s)),
  fc.constantFrom(
    '"\\ud800"',
    '"\\uDE00x"',
    '"\\ud83d\\ude00"',
    '"\\uD83D\\uDE00"',
    '"\\u0041\\/\\"\\\\"',
    '"a\\\\"',
    '"a\\":\\""',
    '"1.5e3:-0"',
  ),
);
const numberToken = fc.oneof(
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.constantFrom('-0', '1.0', '1e3', '1E+2', '-0.0', '9007199254740993', '1000000000000000'),
);
// Few key names, some spelled with escapes, so duplicates are frequent.
const keyToken = fc.constantFrom('"a"', '"b"', '"\\u0061"', '"__proto__"', '"frame"', '"id"');

const { value: jsonValue } = fc.letrec<{
  value: string;
  array: string;
  object: string;
}>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberToken,
    stringToken,
    fc.constantFrom('true', 'false', 'null'),
    tie('array'),
    tie('object'),
  ),
  array: fc
    .tuple(fc.array(tie('value'), { maxLength: 4 }), ws)
    .map(([items, w]) => `[${w}${items.join(`${w},`)}${w}]`),
  object: fc
    .tuple(fc.array(fc.tuple(keyToken, tie('value')), { maxLength: 4 }), ws)
    .map(([pairs, w]) => `{${pairs.map(([k, val]) => `${w}${k}${w}:${val}`).join(',')}}`),
}));

/** Random JSON text, valid for RFC 8259 but not necessarily for serde (dups, surrogates). */
export const jsonText = jsonValue;
