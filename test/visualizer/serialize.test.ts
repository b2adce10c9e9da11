import { describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { errorJson, toSafeJson } from '../../visualizer/serialize.js';

describe('toSafeJson', () => {
  it('turns bigints into strings, Errors into summaries, and drops functions and symbols', () => {
    const error = Object.assign(new Error('connect ENOENT /run/x.sock'), { code: 'ENOENT' });
    const value = {
      id: 18446744073709551615n,
      error,
      plain: new TypeError('bad'),
      fn: () => 1,
      sym: Symbol('s'),
      list: [1, () => 2, undefined, 3n],
      nan: Number.NaN,
      when: new Date(0),
    };
    expect(toSafeJson(value)).toEqual({
      id: '18446744073709551615',
      error: { name: 'Error', message: 'connect ENOENT /run/x.sock', code: 'ENOENT' },
      plain: { name: 'TypeError', message: 'bad' },
      list: [1, null, null, '3'],
      nan: 'NaN',
      when: '1970-01-01T00:00:00.000Z',
    });
  });

  it('survives cycles, deep nesting, long strings, wide objects and hostile getters', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 20; i++) deep = { inner: deep };
    const wide = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, i]));
    const hostile = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });

    const out = toSafeJson({ cyclic, deep, long: 'x'.repeat(5000), wide, hostile }) as Record<
      string,
      unknown
    >;
    expect(out.cyclic).toEqual({ name: 'loop', self: '[Circular]' });
    expect(JSON.stringify(out.deep)).toContain('"[…]"');
    expect((out.long as string).length).toBeLessThan(2100);
    expect(Object.keys(out.wide as object)).toHaveLength(101);
    expect(out.hostile).toEqual({ boom: '[unreadable]' });
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('does not mark a shared (non-cyclic) object as circular', () => {
    const shared = { a: 1 };
    expect(toSafeJson({ x: shared, y: shared })).toEqual({ x: { a: 1 }, y: { a: 1 } });
  });

  it('writes actor refs, maps, sets and bytes as references and summaries', () => {
    const actor = createActor(createMachine({ id: 'child' }));
    const out = toSafeJson({
      actor,
      map: new Map([['a', 1n]]),
      set: new Set([1, 2]),
      bytes: Buffer.from('hello'),
    });
    expect(out).toEqual({
      actor: { '@actor': actor.id, sessionId: actor.sessionId },
      map: { '@map': [['a', '1']], size: 1 },
      set: [1, 2],
      bytes: { '@bytes': 5 },
    });
  });

  it('summarizes thrown non-errors', () => {
    expect(errorJson('plain')).toEqual({ name: 'NonError', message: 'plain' });
  });
});
