import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { compileValidator, compileWriter, Failure } from '../../src/protocol/compile.js';

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(Failure);
    return (error as Failure).format('x');
  }
  throw new Error('did not throw');
}

describe('the schema compiler', () => {
  it('refuses schema kinds and actions the wire contract does not use', () => {
    expect(() => compileValidator(v.number())).toThrow('unsupported schema type number');
    expect(() => compileValidator(v.pipe(v.string(), v.minLength(1)))).toThrow(
      'unsupported pipe action min_length',
    );
    expect(() => compileWriter(v.number())).toThrow('cannot write schema type number');
  });

  it('ignores metadata and chains longer pipes in order', () => {
    const schema = v.pipe(
      v.string(),
      v.metadata({ note: 'x' }),
      v.transform((s: string) => `${s}!`),
      v.check((s: string) => s.length < 4, 'expected a short string'),
      v.transform((s: string) => s.toUpperCase()),
    );
    const validate = compileValidator(schema);
    expect(validate('ab')).toBe('AB!');
    expect(failure(() => validate('abc'))).toBe(
      'invalid value for x: expected a short string, got string "abc!"',
    );
  });

  it('checks literals outside variants', () => {
    const validate = compileValidator(v.literal('on'));
    expect(validate('on')).toBe('on');
    expect(failure(() => validate('off'))).toBe(
      'invalid value for x: expected `on`, got string "off"',
    );
    expect(compileWriter(v.literal('on'))('on')).toBe('"on"');
  });

  it('describes missing fields of every kind', () => {
    const validate = compileValidator(
      v.object({ a: v.array(v.string()), b: v.literal('t'), c: v.object({}) }),
    );
    expect(failure(() => validate({}))).toBe('missing field x: expected an array');
    expect(failure(() => validate({ a: [] }))).toBe('missing field x: expected `t`');
    expect(failure(() => validate({ a: [], b: 't' }))).toBe('missing field x: expected an object');
  });

  it('copies arrays only from the first changed item', () => {
    const validate = compileValidator(
      v.array(
        v.pipe(
          v.string(),
          v.transform((s: string) => s.trim()),
        ),
      ),
    );
    const same = ['a', 'b'];
    expect(validate(same)).toBe(same);
    const changed = ['a', ' b', 'c'];
    const out = validate(changed);
    expect(out).toEqual(['a', 'b', 'c']);
    expect(out).not.toBe(changed);
  });

  it('writes an empty object when every field is absent', () => {
    const schema = v.object({ a: v.optional(v.string()) });
    expect(compileWriter(schema)(compileValidator(schema)({}))).toBe('{}');
  });

  it('lets errors other than validation failures through untouched', () => {
    const validate = compileValidator(v.object({ a: v.array(v.string()) }));
    const boom = new TypeError('boom');
    const throwing = {
      get a() {
        throw boom;
      },
    };
    expect(() => validate(throwing)).toThrow(boom);
    const item = Object.defineProperty([], 0, {
      get() {
        throw boom;
      },
    });
    Object.defineProperty(item, 'length', { value: 1 });
    expect(() => validate({ a: item })).toThrow(boom);
  });
});
