/**
 * The two value checks the codec and the compiled validators share: what counts as a JSON object,
 * and whether a string can be written as UTF-8.
 */

/** A JSON object: not null, not an array. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * No lone UTF-16 surrogate, which UTF-8 cannot carry. ES2024's String.prototype.isWellFormed
 * (Node ≥ 20; the lib target does not declare it yet); one-byte strings answer in O(1).
 */
export const isWellFormed = (s: string): boolean =>
  (s as unknown as { isWellFormed(): boolean }).isWellFormed();
