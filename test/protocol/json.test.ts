import { describe, expect, it } from 'vitest';
import { CodecError } from '../../src/errors.js';
import { JsonFloat, MAX_DEPTH, parseJsonStrict, scanJson } from '../../src/protocol/json.js';

function syntaxError(text: string): string {
  try {
    parseJsonStrict(text);
  } catch (error) {
    expect(error).toBeInstanceOf(CodecError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${text}`);
}

describe('parseJsonStrict', () => {
  it('parses every JSON value kind', () => {
    expect(parseJsonStrict(' {"a":[1,-2,true,false,null,"x",{}],"b":[]}\n\t\r ')).toEqual({
      a: [1, -2, true, false, null, 'x', {}],
      b: [],
    });
  });

  it('decodes every escape, pairs surrogates and keeps raw non-ASCII', () => {
    expect(parseJsonStrict(String.raw`"\"\\\/\b\f\n\r\t\u0041\u00e9\uD83D\uDE00é😀"`)).toBe(
      '"\\/\b\f\n\r\tAé😀é😀',
    );
  });

  it('keeps integers exact and marks floats', () => {
    expect(parseJsonStrict('[0,-7,123456789012345,9007199254740993,-9223372036854775808]')).toEqual(
      [0, -7, 123456789012345, 9007199254740993n, -9223372036854775808n],
    );
    const floats = parseJsonStrict('[1.0,1e3,1E-3,-0,-0.0,0.5e+2]') as JsonFloat[];
    expect(floats.map((f) => (f instanceof JsonFloat ? f.toString() : f))).toEqual([
      '1.0',
      '1e3',
      '1E-3',
      '-0',
      '-0.0',
      '0.5e+2',
    ]);
  });

  it('reads integers beyond 64 bits as floats, like serde_json', () => {
    for (const text of ['18446744073709551616', '-9223372036854775809', '1'.repeat(40)]) {
      expect(parseJsonStrict(text)).toEqual(new JsonFloat(text));
    }
  });

  it('keeps a __proto__ key as an own property', () => {
    const value = parseJsonStrict('{"__proto__":{"x":1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
  });

  it.each([
    ['', 'EOF while parsing a value at line 1 column 0'],
    ['   ', 'EOF while parsing a value at line 1 column 3'],
    ['{"a":1', 'EOF while parsing an object at line 1 column 6'],
    ['{"a"', 'EOF while parsing an object at line 1 column 4'],
    ['{', 'EOF while parsing an object at line 1 column 1'],
    ['{"a":1,', 'EOF while parsing a value at line 1 column 7'],
    ['{"a" 1}', 'expected `:` at line 1 column 6'],
    ['{"a":1 "b":2}', 'expected `,` or `}` at line 1 column 8'],
    ['{"a":1,}', 'trailing comma at line 1 column 8'],
    ['{1:2}', 'key must be a string at line 1 column 2'],
    ['[1', 'EOF while parsing a list at line 1 column 2'],
    ['[1,', 'EOF while parsing a value at line 1 column 3'],
    ['[1,]', 'trailing comma at line 1 column 4'],
    ['[1 2]', 'expected `,` or `]` at line 1 column 4'],
    ['"abc', 'EOF while parsing a string at line 1 column 4'],
    ['"abc\\', 'EOF while parsing a string at line 1 column 5'],
    ['"\\u12', 'EOF while parsing a string at line 1 column 5'],
    ['"\\u12G4"', 'invalid escape at line 1 column 6'],
    ['"\\x"', 'invalid escape at line 1 column 3'],
    ['"\\udc00"', 'lone surrogate \\udc00 in string escape at line 1 column 7'],
    ['"\\ud800\\u0041"', 'lone surrogate \\ud800 in string escape at line 1 column 8'],
    [
      '"a\u0001"',
      'control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3',
    ],
    ['tru', 'EOF while parsing a value at line 1 column 3'],
    ['trUe', 'expected ident at line 1 column 3'],
    ['nul', 'EOF while parsing a value at line 1 column 3'],
    ['-', 'EOF while parsing a value at line 1 column 1'],
    ['-a', 'invalid number at line 1 column 2'],
    ['01', 'invalid number at line 1 column 2'],
    ['1.', 'EOF while parsing a value at line 1 column 2'],
    ['1.e3', 'invalid number at line 1 column 3'],
    ['1e', 'EOF while parsing a value at line 1 column 2'],
    ['1e+', 'EOF while parsing a value at line 1 column 3'],
    ['+1', 'expected value at line 1 column 1'],
    ['1 2', 'trailing characters at line 1 column 3'],
    ['{}\n\n x', 'trailing characters at line 3 column 2'],
    ['\uFEFF{}', 'expected value at line 1 column 1 (a UTF-8 BOM is not allowed)'],
    ['{"a":1,"a":2}', 'duplicate field `a` at line 1 column 10'],
    ['{"a":[{"b":1,"b":1}]}', 'duplicate field `b` in a[0] at line 1 column 16'],
  ])('rejects %j with serde-style position', (text, message) => {
    expect(syntaxError(text)).toBe(message);
  });

  it('names the path of a duplicate key', () => {
    try {
      parseJsonStrict('{"x":{"y":[0,{"z":1,"z":2}]}}');
      expect.unreachable();
    } catch (error) {
      expect((error as CodecError).path).toBe('x.y[1].z');
    }
  });

  it(`allows ${MAX_DEPTH} nested containers and refuses one more`, () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    expect(() => parseJsonStrict(nested(MAX_DEPTH))).not.toThrow();
    expect(syntaxError(nested(MAX_DEPTH + 1))).toBe(
      `recursion limit exceeded at line 1 column ${MAX_DEPTH + 1}`,
    );
  });
});

describe('scanJson', () => {
  it('counts object keys outside strings', () => {
    expect(scanJson('{"a":1,"b" : {"c":"x:y","d:":[{}]}}')).toBe(4);
    expect(scanJson('{"a\\":":"\\\\","b":"\\"x\\":"}')).toBe(2);
    expect(scanJson('[]')).toBe(0);
  });

  it.each([
    ['floats', '[1.5]'],
    ['exponents', '[1e3]'],
    ['upper-case exponents', '[2E3]'],
    ['negative zero', '[-0]'],
    ['16-digit integers', '[1000000000000000]'],
    ['16-digit negative integers', '[-1000000000000000]'],
    ['escaped surrogates', '["\\uD83D\\uDE00"]'],
    ['lower-case escaped surrogates', '["\\udfff"]'],
    ['deep nesting', '['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1)],
    ['an unterminated string', '"abc'],
    ['an escaped quote at the end', '"abc\\"'],
  ])('declines %s', (_, text) => {
    expect(scanJson(text)).toBe(-1);
  });

  it.each([
    ['15-digit integers', '[999999999999999,-999999999999999]'],
    ['non-surrogate escapes', '["\\u00e9\\uE000\\ud7ff\\n"]'],
    ['digits inside strings', '["1.5e3", "-0"]'],
    ['letters e in literals', '[true,false,null]'],
  ])('accepts %s', (_, text) => {
    expect(scanJson(text)).toBe(0);
  });
});
