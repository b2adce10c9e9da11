/**
 * Request ids: from 1 upward, wrapping at u64 like the Rust client's
 * `wrapping_add` (…, 2^64 − 1, 0, 1, …). Ids are JS numbers while they are
 * exact and bigints beyond 2^53 − 1, the same normal form the codec decodes to.
 */
import { normalizeU64, type U64 } from '../protocol/index.js';

const U64_MODULUS = 1n << 64n;

export class IdAllocator {
  #next: U64;

  constructor(first: U64 = 1) {
    this.#next = normalizeU64(BigInt(first) % U64_MODULUS);
  }

  /** The id to use now; the following call returns the one after it. */
  next(): U64 {
    const id = this.#next;
    this.#next =
      typeof id === 'number' && id < Number.MAX_SAFE_INTEGER
        ? id + 1
        : normalizeU64((BigInt(id) + 1n) % U64_MODULUS);
    return id;
  }
}
