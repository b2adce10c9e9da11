/**
 * IPv4 and IPv6 addresses as integers, and CIDR blocks over them: parsing,
 * printing, containment and carving subnets. Address text follows Rust's
 * `IpAddr` grammar (src/protocol/ip.ts).
 */
import { formatIp, parseIp } from '../../protocol/ip.js';

export type Family = 4 | 6;

/** An address as an unsigned integer of its family's width. */
export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

export interface Cidr {
  readonly family: Family;
  /** The first address of the block (host bits clear). */
  readonly network: bigint;
  readonly prefix: number;
}

export const familyBits = (family: Family): number => (family === 4 ? 32 : 128);

/** Parses address text; undefined when it is not an address. */
export function parseAddress(text: string): Address | undefined {
  const ip = parseIp(text);
  if (ip === undefined) return undefined;
  const [parts, width] = ip.v === 4 ? [ip.octets, 8n] : [ip.groups, 16n];
  let value = 0n;
  for (const part of parts) value = (value << width) | BigInt(part);
  return { family: ip.v, value };
}

/** Prints an address in Rust's canonical form. */
export function formatAddress({ family, value }: Address): string {
  const [count, width, mask] = family === 4 ? [4, 8n, 0xffn] : [8, 16n, 0xffffn];
  const parts: number[] = [];
  for (let i = count - 1; i >= 0; i--) parts.push(Number((value >> (BigInt(i) * width)) & mask));
  return formatIp(family === 4 ? { v: 4, octets: parts } : { v: 6, groups: parts });
}

/**
 * Parses `address/prefix`. Throws a RangeError saying what is wrong: a
 * missing or out-of-range prefix, a bad address, or host bits set.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw new RangeError('expected address/prefix');
  const address = parseAddress(text.slice(0, slash));
  if (address === undefined) throw new RangeError(`bad address "${text.slice(0, slash)}"`);
  const bits = familyBits(address.family);
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > bits) {
    throw new RangeError(`prefix length must be 0 to ${bits}, got "${prefixText}"`);
  }
  const cidr: Cidr = {
    family: address.family,
    network: address.value & netmask(bits, prefix),
    prefix,
  };
  if (cidr.network !== address.value) {
    throw new RangeError(`host bits are set (the network is ${formatCidr(cidr)})`);
  }
  return cidr;
}

function netmask(bits: number, prefix: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  return all ^ ((1n << BigInt(bits - prefix)) - 1n);
}

export function formatCidr(cidr: Cidr): string {
  return `${formatAddress({ family: cidr.family, value: cidr.network })}/${cidr.prefix}`;
}

/** Number of addresses in the block. */
export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(familyBits(cidr.family) - cidr.prefix);
}

export function containsAddress(cidr: Cidr, address: Address): boolean {
  return (
    address.family === cidr.family &&
    address.value >= cidr.network &&
    address.value < cidr.network + cidrSize(cidr)
  );
}

/** Whether `inner` lies wholly inside `outer` (a block contains itself). */
export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return (
    inner.prefix >= outer.prefix &&
    containsAddress(outer, { family: inner.family, value: inner.network })
  );
}

/** The `index`-th subnet of length `prefix` inside `cidr`, or undefined past its end. */
export function subnetAt(cidr: Cidr, prefix: number, index: number): Cidr | undefined {
  const size = 1n << BigInt(familyBits(cidr.family) - prefix);
  const network = cidr.network + BigInt(index) * size;
  const subnet: Cidr = { family: cidr.family, network, prefix };
  return prefix >= cidr.prefix && index >= 0 && containsCidr(cidr, subnet) ? subnet : undefined;
}
