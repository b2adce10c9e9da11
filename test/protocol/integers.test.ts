import { describe, expect, it } from 'vitest';
import { CodecError } from '../../src/errors.js';
import {
  decodeFrame,
  encodeFrameToString,
  I64_MAX,
  I64_MIN,
  isI64,
  isU8,
  isU16,
  isU32,
  isU64,
  normalizeI64,
  normalizeU64,
  U64_MAX,
} from '../../src/protocol/index.js';

const nodeIdFrame = (nodeId: string) =>
  `{"frame":"request","id":1,"request":{"op":"set_local_node_id","node_id":${nodeId}}}`;

function nodeIdOf(text: string): unknown {
  const frame = decodeFrame(text);
  if (frame.frame !== 'request' || frame.request.op !== 'set_local_node_id')
    throw new Error('shape');
  return frame.request.node_id;
}

describe('normalizeU64', () => {
  it('keeps safe integers as numbers and larger values as bigints', () => {
    expect(normalizeU64(0)).toBe(0);
    expect(Object.is(normalizeU64(-0), 0)).toBe(true);
    expect(normalizeU64(5n)).toBe(5);
    expect(normalizeU64(9007199254740991n)).toBe(9007199254740991);
    expect(normalizeU64(9007199254740992n)).toBe(9007199254740992n);
    expect(normalizeU64(U64_MAX)).toBe(U64_MAX);
    expect(normalizeI64(-9007199254740991n)).toBe(-9007199254740991);
    expect(normalizeI64(-9007199254740992n)).toBe(-9007199254740992n);
  });

  it('refuses numbers that are not safe integers, pointing at bigint', () => {
    expect(() => normalizeU64(2 ** 53)).toThrow(/bigint/);
    expect(() => normalizeU64(1.5)).toThrow(RangeError);
  });
});

describe('integer ranges', () => {
  it('bounds the small unsigned types and accepts only numbers for them', () => {
    expect([isU8(0), isU8(255), isU8(256), isU8(-1), isU8(1.5), isU8(1n)]).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect([isU16(65535), isU16(65536)]).toEqual([true, false]);
    expect([isU32(4294967295), isU32(4294967296)]).toEqual([true, false]);
  });

  it('bounds u64 and i64 exactly, for numbers and bigints', () => {
    expect([isU64(0), isU64(-1), isU64(U64_MAX), isU64(U64_MAX + 1n), isU64(-1n)]).toEqual([
      true,
      false,
      true,
      false,
      false,
    ]);
    expect([isU64(2 ** 53), isU64('1'), isU64(1.5)]).toEqual([false, false, false]);
    expect([isI64(I64_MIN), isI64(I64_MAX), isI64(I64_MAX + 1n), isI64(I64_MIN - 1n)]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect([isI64(-(2 ** 53) + 1), isI64(-(2 ** 53))]).toEqual([true, false]);
  });
});

describe('u64 on the wire', () => {
  it.each([
    ['0', 0],
    ['9007199254740991', 9007199254740991],
    ['999999999999999', 999999999999999],
    ['1000000000000000', 1000000000000000],
    ['9007199254740992', 9007199254740992n],
    ['9007199254740993', 9007199254740993n],
    ['18446744073709551615', 18446744073709551615n],
    ['00000000000000000001'.replace(/^0+/, ''), 1],
  ])('decodes %s exactly, in normalized form', (text, expected) => {
    expect(nodeIdOf(nodeIdFrame(text))).toBe(expected);
    expect(encodeFrameToString(decodeFrame(nodeIdFrame(text)))).toBe(nodeIdFrame(text));
  });

  it.each([
    ['18446744073709551616', 'integer 18446744073709551616 (outside the 64-bit range)'],
    ['123456789012345678901234567890', 'integer 123456789012345678901234567890 (outside'],
    ['-1', 'integer -1'],
    ['-9223372036854775809', 'integer -9223372036854775809 (outside the 64-bit range)'],
    ['1.0', 'floating point 1.0'],
    ['1e3', 'floating point 1e3'],
    ['1E+3', 'floating point 1E+3'],
    ['-0', 'floating point -0'],
    ['-0.0', 'floating point -0.0'],
    ['7.5', 'floating point 7.5'],
  ])('rejects %s', (text, detail) => {
    expect(() => decodeFrame(nodeIdFrame(text))).toThrow(
      `invalid value for request.node_id: expected u64, got ${detail}`,
    );
  });

  it('encodes numbers and bigints as bare digits', () => {
    const frame = (nodeId: number | bigint) =>
      encodeFrameToString({
        frame: 'request',
        id: 1n,
        request: { op: 'set_local_node_id', node_id: nodeId },
      });
    expect(frame(7)).toBe(nodeIdFrame('7'));
    expect(frame(7n)).toBe(nodeIdFrame('7'));
    expect(frame(U64_MAX)).toBe(nodeIdFrame('18446744073709551615'));
  });

  it('refuses unsafe numbers on encode, suggesting a bigint', () => {
    const encode = () =>
      encodeFrameToString({
        frame: 'request',
        id: 1,
        request: { op: 'set_local_node_id', node_id: 2 ** 64 },
      });
    expect(encode).toThrow(CodecError);
    expect(encode).toThrow(/request\.node_id: expected u64, got number .* pass a bigint/);
  });

  it('refuses out-of-range bigints on encode', () => {
    expect(() =>
      encodeFrameToString({ frame: 'response', id: U64_MAX + 1n, response: { result: 'ok' } }),
    ).toThrow('invalid value for id: expected u64, got integer 18446744073709551616');
  });

  it('decodes i64 handshakes at both ends of the range', () => {
    const text = (secs: string) =>
      `{"frame":"response","id":1,"response":{"result":"status","peer_count":1,"service_count":0,"peers":[{"public_key":"k","endpoint":"e","allowed_ips":"a","last_handshake_unix_secs":${secs}}]}}`;
    for (const [secs, value] of [
      ['-9223372036854775808', I64_MIN],
      ['9223372036854775807', I64_MAX],
      ['-9007199254740991', -9007199254740991],
      ['-5', -5],
    ] as const) {
      const frame = decodeFrame(text(secs));
      if (frame.frame !== 'response' || frame.response.result !== 'status')
        throw new Error('shape');
      expect(frame.response.peers[0]?.last_handshake_unix_secs).toBe(value);
      expect(encodeFrameToString(frame)).toBe(text(secs));
    }
    expect(() => decodeFrame(text('-9223372036854775809'))).toThrow('expected i64');
  });
});
