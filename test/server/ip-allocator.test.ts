import { describe, expect, it } from 'vitest';
import {
  cidrSize,
  containsAddress,
  containsCidr,
  formatAddress,
  formatCidr,
  parseAddress,
  parseCidr,
  subnetAt,
} from '../../src/server/engine/cidr.js';
import { IpAllocator } from '../../src/server/engine/ip-allocator.js';

const cidr = (text: string) => parseCidr(text);

describe('cidr', () => {
  it('parses and prints IPv4 and IPv6 blocks canonically', () => {
    expect(formatCidr(cidr('10.200.0.0/28'))).toBe('10.200.0.0/28');
    expect(formatCidr(cidr('FD00:0200:0:0:0:0:0:0/48'))).toBe('fd00:200::/48');
    expect(formatCidr(cidr('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(formatCidr(cidr('::/0'))).toBe('::/0');
    expect(cidrSize(cidr('10.0.0.0/8'))).toBe(2n ** 24n);
  });

  it.each([
    ['10.0.0.0', 'expected address/prefix'],
    ['10.0.0.0/8/8', 'prefix length must be 0 to 32, got "8/8"'],
    ['10.0.0.0/1234', 'prefix length must be 0 to 32, got "1234"'],
    [' 10.0.0.0/8', 'bad address " 10.0.0.0"'],
    ['10.0.0.1/8', 'host bits are set (the network is 10.0.0.0/8)'],
    ['fd00::1/64', 'host bits are set (the network is fd00::/64)'],
  ])('refuses %s', (text, message) => {
    expect(() => parseCidr(text)).toThrow(message);
  });

  it('round-trips addresses', () => {
    for (const text of ['0.0.0.0', '255.255.255.255', '::', 'fd00:200::5', '::ffff:1.2.3.4']) {
      expect(formatAddress(parseAddress(text)!)).toBe(text);
    }
    expect(parseAddress('nope')).toBeUndefined();
  });

  it('tells containment', () => {
    const block = cidr('10.200.0.0/16');
    expect(containsAddress(block, parseAddress('10.200.255.255')!)).toBe(true);
    expect(containsAddress(block, parseAddress('10.201.0.0')!)).toBe(false);
    expect(containsAddress(block, parseAddress('::ac8:0')!)).toBe(false);
    expect(containsCidr(block, block)).toBe(true);
    expect(containsCidr(block, cidr('10.200.7.0/24'))).toBe(true);
    expect(containsCidr(block, cidr('10.0.0.0/8'))).toBe(false);
    expect(containsCidr(block, cidr('fd00::/64'))).toBe(false);
  });

  it('carves subnets', () => {
    const pool = cidr('10.201.0.0/23');
    expect(formatCidr(subnetAt(pool, 24, 1)!)).toBe('10.201.1.0/24');
    expect(subnetAt(pool, 24, 2)).toBeUndefined();
    expect(subnetAt(pool, 22, 0)).toBeUndefined();
    expect(subnetAt(pool, 24, -1)).toBeUndefined();
    expect(formatCidr(subnetAt(cidr('fd00:201::/48'), 64, 3)!)).toBe('fd00:201:0:3::/64');
  });
});

describe('IpAllocator', () => {
  it('skips the network and broadcast addresses of an IPv4 block', () => {
    const allocator = new IpAllocator(cidr('10.0.0.0/30'));
    expect(allocator.text).toBe('10.0.0.0/30');
    expect(allocator.capacity).toBe(2n);
    expect([allocator.allocate(), allocator.allocate(), allocator.allocate()]).toEqual([
      '10.0.0.1',
      '10.0.0.2',
      undefined,
    ]);
    expect(allocator.allocated).toBe(2);
  });

  it('uses every address of a /31 and a /32', () => {
    const pair = new IpAllocator(cidr('10.0.0.0/31'));
    expect([pair.allocate(), pair.allocate(), pair.allocate()]).toEqual([
      '10.0.0.0',
      '10.0.0.1',
      undefined,
    ]);
    const single = new IpAllocator(cidr('10.0.0.7/32'));
    expect(single.capacity).toBe(1n);
    expect(single.allocate()).toBe('10.0.0.7');
  });

  it('skips only the anycast address of an IPv6 block', () => {
    const allocator = new IpAllocator(cidr('fd00::/126'));
    expect(allocator.capacity).toBe(3n);
    expect(allocator.allocate()).toBe('fd00::1');
    expect(allocator.reserve('fd00::3')).toBe(true);
    expect(new IpAllocator(cidr('fd00::9/128')).allocate()).toBe('fd00::9');
  });

  it('reserves, releases and fills the lowest hole first', () => {
    const allocator = new IpAllocator(cidr('10.0.0.0/29'));
    expect(allocator.reserve('10.0.0.1')).toBe(true);
    expect(allocator.reserve('10.0.0.1')).toBe(false);
    expect(allocator.reserve('10.0.0.0')).toBe(false);
    expect(allocator.reserve('10.0.0.7')).toBe(false);
    expect(allocator.reserve('10.0.1.1')).toBe(false);
    expect(allocator.reserve('fd00::1')).toBe(false);
    expect(allocator.reserve('bogus')).toBe(false);
    expect(allocator.allocate()).toBe('10.0.0.2');
    expect(allocator.release('10.0.0.1')).toBe(true);
    expect(allocator.release('10.0.0.1')).toBe(false);
    expect(allocator.release('fd00::1')).toBe(false);
    expect(allocator.allocate()).toBe('10.0.0.1');
    expect(allocator.contains('10.0.0.7')).toBe(true);
    expect(allocator.contains('10.0.0.8')).toBe(false);
    expect(allocator.contains('bogus')).toBe(false);
  });

  it('stays fast in a huge IPv6 block', () => {
    const allocator = new IpAllocator(cidr('fd00::/64'));
    for (let i = 0; i < 50_000; i++) allocator.allocate();
    expect(allocator.allocate()).toBe('fd00::c351');
    expect(allocator.release('fd00::7')).toBe(true);
    expect(allocator.allocate()).toBe('fd00::7');
    expect(allocator.allocate()).toBe('fd00::c352');
    expect(allocator.capacity).toBe(2n ** 64n - 1n);
  });
});
