/**
 * Request ids: from 1 upward, wrapping at u64 like the Rust client's
 * `wrapping_add` (…, 2^64 − 1, 0, 1, …). Ids are JS numbers while they are
 * exact and bigints beyond 2^53 − 1, the same normal form the codec decodes to.
 */
const U64_MODULUS = 1n << 64n;

export class IdAllocator {
  #next: number | bigint;

  constructor(first: number | bigint = 1) {
    this.#next = normalize(BigInt(first) % U64_MODULUS);
  }

  /** The id to use now; the following call returns the one after it. */
  next(): number | bigint {
    const id = this.#next;
    if (typeof id === 'number' && id < Number.MAX_SAFE_INTEGER) {
      this.#next = id + 1;
    } else {
      this.#next = normalize((BigInt(id) + 1n) % U64_MODULUS);
    }
    return id;
  }
}

function normalize(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}
