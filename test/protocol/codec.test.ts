import { describe, expect, expectTypeOf, it } from 'vitest';
import { CodecError } from '../../src/errors.js';
import { decodePaths } from '../../src/protocol/codec.js';
import {
  decodeFrame,
  decodeWire,
  encodeFrame,
  encodeFrameToString,
  encodeWire,
  MAX_FRAME_BYTES,
  OPS,
  type Op,
  type OverlaydFrame,
  type OverlaydFrameInput,
  type OverlaydResponse,
  PROTOCOL_VERSION,
  type ResultFor,
  type ResultKind,
  SUCCESS_RESULTS,
} from '../../src/protocol/index.js';
import { framing } from '../vectors/index.js';

function codecError(fn: () => unknown): CodecError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CodecError);
    return error as CodecError;
  }
  throw new Error('did not throw');
}

const status = '{"frame":"request","id":1,"request":{"op":"status"}}';

describe('constants', () => {
  it('matches the reference', () => {
    expect(MAX_FRAME_BYTES).toBe(framing.max_frame_bytes);
    expect(PROTOCOL_VERSION).toBe(framing.protocol_version_const);
  });
});

describe('decodeFrame', () => {
  it('decodes bytes and text alike, trailing whitespace included', () => {
    const bytes = new TextEncoder().encode(`${status}\n \r\t`);
    expect(decodeFrame(bytes)).toEqual({ frame: 'request', id: 1, request: { op: 'status' } });
    expect(decodeFrame(`${status} `)).toEqual(decodeFrame(bytes));
  });

  it('names field, op and id in validation errors', () => {
    const error = codecError(() =>
      decodeFrame(
        '{"frame":"request","id":1,"request":{"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":65536,"nat_enabled":true}}',
      ),
    );
    expect(error.message).toBe(
      'invalid value for request.wg_port: expected u16, got integer 65536 (op setup_global_overlay, id 1)',
    );
    expect(error.code).toBe('OVERLAYD_CODEC');
    expect(error.path).toBe('request.wg_port');
    expect(error.op).toBe('setup_global_overlay');
    expect(error.id).toBe(1);
  });

  it('carries big ids in the error context exactly', () => {
    const error = codecError(() =>
      decodeFrame('{"frame":"response","id":18446744073709551615,"response":{"result":"nope"}}'),
    );
    expect(error.id).toBe(18446744073709551615n);
    expect(error.op).toBeUndefined();
  });

  it('refuses a zero-length body like the reference', () => {
    expect(() => decodeFrame(new Uint8Array())).toThrow(
      'EOF while parsing a value at line 1 column 0',
    );
  });

  it('refuses invalid UTF-8 and a BOM', () => {
    const bad = new Uint8Array([
      ...new TextEncoder().encode(status.slice(0, -2)),
      0xff,
      0x7d,
      0x7d,
    ]);
    expect(() => decodeFrame(bad)).toThrow('frame body is not valid UTF-8');
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(status)]);
    expect(() => decodeFrame(bom)).toThrow('a UTF-8 BOM is not allowed');
  });

  it('refuses text holding a lone surrogate', () => {
    const text = status.replace('status"}', 'status","x":"\uD800"}');
    expect(() => decodeFrame(text)).toThrow('lone UTF-16 surrogate');
  });

  it('refuses duplicate keys anywhere, unknown fields included', () => {
    expect(() => decodeFrame(status.replace('{"op"', '{"op":"nat_tick","op"'))).toThrow(
      'duplicate field `op` in request',
    );
    expect(() => decodeFrame(status.replace('}}', '},"x":{"a":[{"b":1,"b":2}]}}'))).toThrow(
      'duplicate field `b` in x.a[0]',
    );
    expect(() => decodeFrame(status.replace('}}', '},"__proto__":1,"__proto__":2}'))).toThrow(
      'duplicate field `__proto__`',
    );
  });

  it('ignores unknown fields holding anything well-formed', () => {
    const extra =
      '"x":{"f":1.5e300,"n":-0,"big":123456789012345678901234567890,"s":"\\ud83d\\ude00","deep":[[[{}]]],"__proto__":{"p":1}}';
    expect(decodeFrame(status.replace('}}', `},${extra}}`))).toEqual(decodeFrame(status));
    expect(decodeFrame(status.replace('"status"', `"status",${extra}`))).toEqual(
      decodeFrame(status),
    );
  });

  it("follows serde_json's nesting limit inside unknown fields", () => {
    // The frame object is level 1, so 126 arrays reach level 127.
    const nested = (depth: number) =>
      status.replace('}}', `},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    expect(decodeFrame(nested(126))).toEqual(decodeFrame(status));
    expect(() => decodeFrame(nested(127))).toThrow('recursion limit exceeded');
  });

  it('decodes escaped quotes and colons inside strings', () => {
    const frame = decodeFrame(
      '{"frame":"request","id":1,"request":{"op":"unregister_dns","name":"a\\":\\"b\\\\"}}',
    );
    expect(frame).toEqual({
      frame: 'request',
      id: 1,
      request: { op: 'unregister_dns', name: 'a":"b\\' },
    });
  });

  it('returns fresh objects only where the decoded value differs', () => {
    const frame = decodeFrame(
      '{"frame":"response","id":1,"response":{"result":"status","node_ip":"fd00:0::1","peer_count":0,"service_count":0,"slice_cidr":null}}',
    );
    expect(frame).toEqual({
      frame: 'response',
      id: 1,
      response: {
        result: 'status',
        node_ip: 'fd00::1',
        peer_count: 0,
        service_count: 0,
        peers: [],
        dedicated_services: [],
      },
    });
    expect(Object.keys((frame as { response: object }).response)).not.toContain('slice_cidr');
  });
});

describe('encodeFrame', () => {
  it('writes UTF-8 JSON with the tag first and fields in declaration order', () => {
    const frame = {
      request: { scope: { service: 'web', scope: 'service' }, pubkey: 'k', op: 'remove_peer' },
      id: 3,
      frame: 'request',
    } as const satisfies OverlaydFrameInput;
    const bytes = encodeFrame(frame);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(bytes)).toBe(
      '{"frame":"request","id":3,"request":{"op":"remove_peer","pubkey":"k","scope":{"scope":"service","service":"web"}}}',
    );
  });

  it('writes the default scope, omits absent and null options and empty lists, drops unknown keys', () => {
    const request = { op: 'add_allowed_ip', pubkey: 'k', cidr: 'c', extra: 1 } as const;
    expect(encodeFrameToString({ frame: 'request', id: 1, request })).toBe(
      '{"frame":"request","id":1,"request":{"op":"add_allowed_ip","pubkey":"k","cidr":"c","scope":{"scope":"global"}}}',
    );
    expect(
      encodeFrameToString({
        frame: 'response',
        id: 2,
        response: {
          result: 'status',
          interface: null,
          node_ip: undefined,
          peer_count: 0,
          service_count: 0,
          peers: [],
        },
      }),
    ).toBe(
      '{"frame":"response","id":2,"response":{"result":"status","peer_count":0,"service_count":0}}',
    );
  });

  it('writes IPv6 addresses canonically and escapes strings like serde_json', () => {
    expect(
      encodeFrameToString({
        frame: 'request',
        id: 1,
        request: {
          op: 'register_dns',
          name: 'q"\\/\n\u0001\u007fé😀\u2028',
          ip: '2001:DB8:0:0::1',
        },
      }),
    ).toBe(
      '{"frame":"request","id":1,"request":{"op":"register_dns","name":"q\\"\\\\/\\n\\u0001\u007fé😀\u2028","ip":"2001:db8::1"}}',
    );
  });

  it('validates first, naming field, op and id', () => {
    const missing = codecError(() =>
      encodeFrame({ frame: 'request', id: 9, request: { op: 'release_ip' } as never }),
    );
    expect(missing.message).toBe(
      'missing field request.ip: expected IP address (op release_ip, id 9)',
    );
    expect(missing.path).toBe('request.ip');

    const badIp = codecError(() =>
      encodeFrame({ frame: 'request', id: 9, request: { op: 'release_ip', ip: '10.0.0.1/32' } }),
    );
    expect(badIp.message).toBe(
      'invalid value for request.ip: expected IP address, got string "10.0.0.1/32" (op release_ip, id 9)',
    );

    const unknownOp = codecError(() =>
      encodeFrame({ frame: 'request', id: 9, request: { op: 'reboot' } as never }),
    );
    expect(unknownOp.message).toMatch(
      /^unknown variant `reboot` for request\.op, expected one of `set_local_node_id`/,
    );
    expect(unknownOp.op).toBeUndefined();

    const badScope = codecError(() =>
      encodeFrame({
        frame: 'request',
        id: 9,
        request: { op: 'remove_peer', pubkey: 'k', scope: null as never },
      }),
    );
    expect(badScope.message).toBe(
      'invalid value for request.scope: expected an object, got null (op remove_peer, id 9)',
    );
  });

  it('refuses strings UTF-8 cannot carry', () => {
    expect(() =>
      encodeFrame({ frame: 'request', id: 1, request: { op: 'unregister_dns', name: 'a\uDC00' } }),
    ).toThrow(
      'invalid value for request.name: string holds a lone UTF-16 surrogate (op unregister_dns, id 1)',
    );
  });

  it('shortens long offending strings in messages', () => {
    expect(() =>
      encodeFrame({ frame: 'request', id: 1, request: { op: 'release_ip', ip: 'x'.repeat(100) } }),
    ).toThrow(`got string "${'x'.repeat(64)}…"`);
  });

  it('refuses values of the wrong JS type', () => {
    expect(() => encodeFrame(null as never)).toThrow(
      'invalid value for OverlaydFrame: expected an object, got null',
    );
    expect(() =>
      encodeFrame({
        frame: 'event',
        event: 'peer_health_changed',
        pubkey: 'k',
        healthy: 1 as never,
      }),
    ).toThrow('invalid value for healthy: expected a boolean, got integer 1');
    expect(() => encodeFrame({ frame: 'request', id: 1.5, request: { op: 'status' } })).toThrow(
      'invalid value for id: expected u64, got floating point 1.5',
    );
    expect(() =>
      encodeWire('PeerScope', { scope: 'service', service: Symbol('x') as never }),
    ).toThrow('invalid value for service: expected a string, got symbol');
    expect(() => encodeWire('OverlayMode', 3 as never)).toThrow(
      'invalid value for OverlayMode: expected one of `auto`, `shared`, `dedicated`, got integer 3',
    );
  });
});

describe('decodeWire / encodeWire', () => {
  it('handles the non-frame types', () => {
    expect(decodeWire('OverlayConfig', '{}')).toEqual({ mode: 'auto' });
    expect(encodeWire('OverlayConfig', {})).toBe('{"mode":"auto"}');
    expect(decodeWire('OverlayMode', '"dedicated"')).toBe('dedicated');
    expect(decodeWire('IpAddr', '"::ffff:a00:1"')).toBe('::ffff:10.0.0.1');
    expect(encodeWire('PeerScope', { scope: 'global', service: 'x' } as never)).toBe(
      '{"scope":"global"}',
    );
    expect(encodeWire('StatusSnapshot', { peer_count: 0, service_count: 0 })).toBe(
      '{"peer_count":0,"service_count":0}',
    );
    expect(() => decodeWire('OverlayMode', '"Auto"')).toThrow(
      'unknown variant `Auto` for OverlayMode, expected one of `auto`, `shared`, `dedicated`',
    );
  });

  it('names the op of a bare request', () => {
    const error = codecError(() => decodeWire('OverlaydRequest', '{"op":"allocate_ip"}'));
    expect(error.message).toBe('missing field service: expected a string (op allocate_ip)');
  });

  it('exposes both decode paths with one outcome', () => {
    expect(decodePaths.fast('OverlaydFrame', status)).toEqual(
      decodePaths.strict('OverlaydFrame', status),
    );
    expect(decodePaths.fast('OverlaydFrame', '{"frame":"request","id":1.0}')).toBeUndefined();
    expect(decodePaths.fast('OverlaydFrame', '{')).toBeUndefined();
    expect(decodePaths.fast('OverlaydFrame', '{"frame":"x"}')).toBeUndefined();
    expect(decodePaths.fast('OverlaydFrame', '{"frame":"event","a":1,"a":2}')).toBeUndefined();
  });
});

describe('SUCCESS_RESULTS / ResultFor', () => {
  it('lists the success answers of every op', () => {
    expect(Object.keys(SUCCESS_RESULTS).sort()).toEqual([...OPS].sort());
    expect(SUCCESS_RESULTS.allocate_ip).toEqual(['ip']);
    expect(SUCCESS_RESULTS.setup_service_overlay).toEqual(['service_overlay', 'bridge_name']);
    expect(SUCCESS_RESULTS.attach_container).toEqual(['attached', 'guest_config']);
    expect(SUCCESS_RESULTS.setup_global_overlay).toEqual(['bridge_name']);
    expect(SUCCESS_RESULTS.status).toEqual(['status']);
    const special = new Set<Op>([
      'allocate_ip',
      'setup_service_overlay',
      'attach_container',
      'setup_global_overlay',
      'status',
    ]);
    for (const op of OPS) if (!special.has(op)) expect(SUCCESS_RESULTS[op]).toEqual(['ok']);
  });

  it('types an op to its success responses', () => {
    expectTypeOf<ResultFor<'allocate_ip'>>().toEqualTypeOf<
      Extract<OverlaydResponse, { result: 'ip' }>
    >();
    expectTypeOf<ResultFor<'attach_container'>['result']>().toEqualTypeOf<
      'attached' | 'guest_config'
    >();
    expectTypeOf<ResultFor<'shutdown'>>().toEqualTypeOf<{ result: 'ok' }>();
    expectTypeOf(SUCCESS_RESULTS).toMatchTypeOf<Record<Op, readonly ResultKind[]>>();
    expectTypeOf<Extract<OverlaydFrame, { frame: 'event' }>['event']>().toEqualTypeOf<
      'peer_health_changed' | 'nat_endpoint_changed'
    >();
  });
});
