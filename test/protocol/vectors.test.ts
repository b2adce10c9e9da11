import { describe, expect, it } from 'vitest';
import { CodecError } from '../../src/errors.js';
import { decodePaths } from '../../src/protocol/codec.js';
import {
  decodeFrame,
  decodeWire,
  encodeFrameToString,
  encodeWire,
  WIRE_TYPES,
  type WireTypeName,
} from '../../src/protocol/index.js';
import { invalid, lenient, valid } from '../vectors/index.js';

const utf8 = new TextEncoder();

function rejection(json: string): CodecError {
  try {
    decodeFrame(json);
  } catch (error) {
    expect(error).toBeInstanceOf(CodecError);
    return error as CodecError;
  }
  throw new Error(`accepted: ${json}`);
}

/**
 * What our message must contain, derived from serde's message (the wording
 * differs, the facts must not). The first matching rule applies.
 */
const RULES: [RegExp, (m: RegExpExecArray, json: string) => string[]][] = [
  [/^missing field `(\w+)`/, (m) => ['missing field', m[1]!]],
  [/^unknown variant `([^`]+)`/, (m) => [`unknown variant \`${m[1]}\``]],
  [/^duplicate field `(\w+)`/, (m) => [`duplicate field \`${m[1]}\``]],
  [
    /^invalid (?:type|value): integer `(-?\d+)`, expected ([ui]\d+)/,
    (m) => [`expected ${m[2]}, got integer ${m[1]}`],
  ],
  [
    /^invalid type: floating point `.*`, expected ([ui]\d+)/,
    // serde reads integers beyond 64 bits as floats; we name them integers out of range.
    (m, json) => [
      `expected ${m[1]}, got`,
      /:\s*-?\d{20,}[,}]/.test(json) ? 'outside the 64-bit range' : 'floating point',
    ],
  ],
  [/^invalid type: string .*, expected ([ui]\d+)/, (m) => [`expected ${m[1]}, got string`]],
  [/IP address/, () => ['expected IP address']],
  [/expected (a string|a boolean)$/, (m) => [`expected ${m[1]}`]],
  [/expected a sequence$/, () => ['expected an array']],
  [/expected (internally tagged enum|struct variant)/, () => ['expected an object']],
  [/expected variant identifier/, () => ['expected a string tag']],
  [/hex escape at (line \d+ column \d+)$/, (m) => ['lone surrogate', m[1]!]],
  [/ at line \d+ column \d+$/, (m) => [m.input]],
];

function expectedFragments(serdeError: string, json: string): string[] {
  for (const [pattern, fragments] of RULES) {
    const m = pattern.exec(serdeError);
    if (m) return fragments(m, json);
  }
  throw new Error(`no expectation derived from: ${serdeError}`);
}

/** Where we knowingly word things differently from serde. */
const OVERRIDES: Record<string, string[]> = {
  // serde would read a sequence as the tagged enum's fields; we refuse arrays outright.
  'shape/top_level_empty_array': ['expected an object, got array'],
};

describe('valid.json', () => {
  it('covers every wire type name it uses', () => {
    for (const vector of valid) expect(Object.keys(WIRE_TYPES)).toContain(vector.type);
  });

  it.each(valid.map((v) => [v.name, v] as const))(
    'round-trips %s byte-identically',
    (_, vector) => {
      const type = vector.type as WireTypeName;
      const value = decodeWire(type, vector.json);
      expect(encodeWire(type, value as never)).toBe(vector.json);
      expect(decodeWire(type, utf8.encode(vector.json))).toEqual(value);
      expect(decodePaths.strict(type, vector.json)).toEqual(value);
    },
  );
});

describe('invalid.json', () => {
  it.each(invalid.map((v) => [v.name, v] as const))(
    'rejects %s, naming the problem',
    (name, vector) => {
      const error = rejection(vector.json);
      for (const fragment of OVERRIDES[name] ??
        expectedFragments(vector.serde_error, vector.json)) {
        expect(error.message).toContain(fragment);
      }
      // The bytes path rejects it the same way.
      expect(() => decodeFrame(utf8.encode(vector.json))).toThrow(error.message);
    },
  );
});

describe('lenient.json', () => {
  it.each(lenient.map((v) => [v.name, v] as const))('accepts %s and re-encodes it', (_, vector) => {
    expect(encodeFrameToString(decodeFrame(vector.json))).toBe(vector.reserialized);
  });
});
