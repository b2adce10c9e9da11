/**
 * Hands out the addresses of one CIDR block, lowest free first.
 *
 * Usable addresses: for IPv4 up to /30, all but the network and broadcast
 * addresses; a /31 or /32 uses every address (RFC 3021). For IPv6, all but
 * the subnet-router anycast address (the network address), except a /128.
 */
import {
  type Cidr,
  cidrSize,
  containsAddress,
  formatAddress,
  formatCidr,
  parseAddress,
} from './cidr.js';

export class IpAllocator {
  readonly cidr: Cidr;
  /** `cidr` as text, e.g. `10.200.0.0/28`. */
  readonly text: string;
  readonly #first: bigint;
  readonly #last: bigint;
  readonly #taken = new Set<bigint>();
  /** No address below this one is free. */
  #lowestFree: bigint;

  constructor(cidr: Cidr) {
    this.cidr = cidr;
    this.text = formatCidr(cidr);
    const size = cidrSize(cidr);
    const skipNetwork = cidr.family === 4 ? size > 2n : size > 1n;
    const skipBroadcast = cidr.family === 4 && size > 2n;
    this.#first = cidr.network + (skipNetwork ? 1n : 0n);
    this.#last = cidr.network + size - (skipBroadcast ? 2n : 1n);
    this.#lowestFree = this.#first;
  }

  /** Number of usable addresses. */
  get capacity(): bigint {
    return this.#last - this.#first + 1n;
  }

  /** Number of addresses handed out. */
  get allocated(): number {
    return this.#taken.size;
  }

  /** Whether `ip` is inside the block (usable or not). */
  contains(ip: string): boolean {
    const address = parseAddress(ip);
    return address !== undefined && containsAddress(this.cidr, address);
  }

  /** The lowest free usable address, now taken; undefined when exhausted. */
  allocate(): string | undefined {
    if (BigInt(this.#taken.size) >= this.capacity) return undefined;
    let value = this.#lowestFree;
    while (this.#taken.has(value)) value++;
    this.#taken.add(value);
    this.#lowestFree = value + 1n;
    return formatAddress({ family: this.cidr.family, value });
  }

  /** Takes `ip` itself; false when it is taken, unusable or outside the block. */
  reserve(ip: string): boolean {
    const value = this.#valueOf(ip);
    if (value === undefined || value < this.#first || value > this.#last) return false;
    if (this.#taken.has(value)) return false;
    this.#taken.add(value);
    return true;
  }

  /** Frees `ip`; false when it was not handed out. */
  release(ip: string): boolean {
    const value = this.#valueOf(ip);
    if (value === undefined || !this.#taken.delete(value)) return false;
    if (value < this.#lowestFree) this.#lowestFree = value;
    return true;
  }

  #valueOf(ip: string): bigint | undefined {
    const address = parseAddress(ip);
    return address !== undefined && address.family === this.cidr.family ? address.value : undefined;
  }
}
