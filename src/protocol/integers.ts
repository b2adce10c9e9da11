/**
 * Fixed-width integers of the wire contract.
 *
 * u8/u16/u32 always fit a JS number. u64 and i64 do not: they are carried as
 * `number | bigint`, normalized so that a value inside the safe-integer range
 * is a number and anything beyond it a bigint. Decoding always yields that
 * normalized form; encoding accepts either (a number must be a safe integer).
 */
import * as v from 'valibot';

/** A u64 value: a number up to 2^53-1, a bigint above. */
export type U64 = number | bigint;
/** An i64 value: a number within ±(2^53-1), a bigint beyond. */
export type I64 = number | bigint;

export const U64_MAX = 18446744073709551615n;
export const I64_MIN = -9223372036854775808n;
export const I64_MAX = 9223372036854775807n;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/**
 * The normalized form of an integer: a number when it is a safe integer, a
 * bigint otherwise. Throws a RangeError for a number that is not an integer
 * or not safe (it may already have been rounded: use a bigint).
 */
export function normalizeU64(value: number | bigint): number | bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`${value} is not a safe integer; pass a bigint for exact 64-bit values`);
    }
    return value === 0 ? 0 : value; // folds -0
  }
  return value <= MAX_SAFE && value >= MIN_SAFE ? Number(value) : value;
}

/** The same normalization for i64 values. */
export const normalizeI64: (value: number | bigint) => number | bigint = normalizeU64;

// Every safe integer is within i64, and the non-negative ones within u64.
export const isU64 = (value: unknown): value is U64 =>
  typeof value === 'number'
    ? Number.isSafeInteger(value) && value >= 0
    : typeof value === 'bigint' && value >= 0n && value <= U64_MAX;
export const isI64 = (value: unknown): value is I64 =>
  typeof value === 'number'
    ? Number.isSafeInteger(value)
    : typeof value === 'bigint' && value >= I64_MIN && value <= I64_MAX;

/** Small integers are plain numbers, never bigints. */
function smallInt(max: number) {
  return (value: unknown): boolean =>
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

export const isU8 = smallInt(0xff);
export const isU16 = smallInt(0xffff);
export const isU32 = smallInt(0xffff_ffff);

/*
 * The schemas carry their expected type as the custom message: the codec's
 * compiler prints it as `expected u16, got …`.
 */
export const U8Schema = v.custom<number>(isU8, 'expected u8');
export const U16Schema = v.custom<number>(isU16, 'expected u16');
export const U32Schema = v.custom<number>(isU32, 'expected u32');
export const U64Schema = v.pipe(v.custom<U64>(isU64, 'expected u64'), v.transform(normalizeU64));
export const I64Schema = v.pipe(v.custom<I64>(isI64, 'expected i64'), v.transform(normalizeI64));
