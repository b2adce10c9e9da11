import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp, formatIp, isIpAddr, parseIp } from '../../src/protocol/index.js';

describe('parseIp', () => {
  it.each(['0.0.0.0', '10.200.0.5', '255.255.255.255', '1.2.3.4'])(
    'accepts IPv4 %s and keeps its spelling',
    (text) => {
      expect(parseIp(text)).toEqual({ v: 4, octets: text.split('.').map(Number) });
      expect(canonicalIp(text)).toBe(text);
    },
  );

  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fe80:0::0:01', 'fe80::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['ABCD:EF01::FF', 'abcd:ef01::ff'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['::ffff:a00:1', '::ffff:10.0.0.1'],
    ['::ffff:0.0.0.0', '::ffff:0.0.0.0'],
    ['::c000:201', '::c000:201'],
    ['::192.0.2.1', '::c000:201'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['2001:db8::1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
  ])('accepts IPv6 %s and prints it as Rust does (%s)', (text, canonical) => {
    expect(parseIp(text)?.v).toBe(6);
    expect(canonicalIp(text)).toBe(canonical);
  });

  it.each([
    '',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '10.0.0.256',
    '010.0.0.1',
    '10.00.0.1',
    '10.1',
    '10.0.0',
    '10.0.0.1.',
    '1.2.3.4.5',
    '0x0a000001',
    '10.0.0.1:53',
    '1234.1.1.1',
    'localhost',
    '1::2::3',
    '2001:db8::12345',
    '12345::',
    ':1',
    '1:',
    ':::',
    '1:::2',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '1:2:3:4:5:6:7::8',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3',
    '::1.2.3.04',
    '1.2.3.4::',
    '1.2.3.4::1',
    '::1.2.3.4:5',
    '[::1]',
    'fe80::1%eth0',
    'g::1',
    '::1 ',
    '１.2.3.4',
  ])('rejects %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
    expect(isIpAddr(text)).toBe(false);
  });

  it('rejects non-strings', () => {
    expect(isIpAddr(null)).toBe(false);
    expect(isIpAddr(['10.0.0.1'])).toBe(false);
  });
});

const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const groups = fc.array(group, { minLength: 8, maxLength: 8 });

describe('formatIp', () => {
  it('prints IPv4 dotted, and canonicalIp leaves text it cannot parse alone', () => {
    expect(formatIp({ v: 4, octets: [10, 0, 0, 1] })).toBe('10.0.0.1');
    expect(canonicalIp('not:an:ip')).toBe('not:an:ip');
  });

  it('agrees with the WHATWG URL serializer (RFC 5952) outside v4-mapped addresses', () => {
    fc.assert(
      fc.property(groups, (g) => {
        fc.pre(!(g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff));
        const text = formatIp({ v: 6, groups: g });
        expect(`[${text}]`).toBe(
          new URL(`http://[${g.map((x) => x.toString(16)).join(':')}]/`).hostname,
        );
      }),
    );
  });

  it('round-trips through parseIp from any spelling', () => {
    fc.assert(
      fc.property(groups, fc.boolean(), (g, padded) => {
        const spelled = g.map((x) => (padded ? x.toString(16).padStart(4, '0') : x.toString(16)));
        const parsed = parseIp(spelled.join(':'));
        expect(parsed).toEqual({ v: 6, groups: g });
        const canonical = formatIp(parsed!);
        expect(parseIp(canonical)).toEqual(parsed);
        expect(canonicalIp(canonical)).toBe(canonical);
      }),
    );
  });

  it('prints IPv4-mapped addresses with a dotted tail', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
        (o) => {
          const text = `::ffff:${o.join('.')}`;
          expect(canonicalIp(text)).toBe(text);
        },
      ),
    );
  });

  it('never accepts a string that does not parse back to itself after canonicalization', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF:.'.split(''));
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 45 }).map((chars) => chars.join('')),
        (text) => {
          const parsed = parseIp(text);
          if (parsed === undefined) return;
          expect(parseIp(formatIp(parsed))).toEqual(parsed);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('parseIp against node:net', () => {
  it('accepts exactly what isIP accepts (no zone ids generated)', () => {
    const token = fc.constantFrom(
      ...['0', '1', '00', '01', '255', '256', 'ffff', '0000', '12345', 'a', 'F', ':', '::', '.'],
      ...['1.2.3.4', '0.0.0.0', '10.0.0.01'],
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), (tokens) => {
        const text = tokens.join('');
        expect(parseIp(text) !== undefined).toBe(isIP(text) !== 0);
      }),
      { numRuns: 20_000 },
    );
  });
});
