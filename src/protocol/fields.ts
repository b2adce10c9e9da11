/**
 * Field helpers that spell serde's attributes in valibot terms. The codec's
 * compiler (compile.ts) reads these shapes back:
 *
 * - `option(S)`: `Option<T>`. Absent or `null` decodes to absent; omitted
 *   when absent on encode.
 * - `v.optional(S, () => default)`: `#[serde(default)]`. Absent decodes to
 *   the default; `null` is rejected; always written on encode.
 * - `v.optional(v.array(S), () => [])`: `#[serde(default, skip_serializing_if
 *   = "Vec::is_empty")]`: as above, and an empty array is omitted on encode.
 */
import * as v from 'valibot';

/** `Option<T>`: absent or null on the wire, `undefined` (key absent) in values. */
export function option<S extends v.GenericSchema>(schema: S) {
  return v.pipe(
    v.nullish(schema),
    v.transform((value) => value ?? undefined),
  );
}

/** `Vec<T>` with serde default and skip-if-empty. */
export function defaultedArray<S extends v.GenericSchema>(item: S) {
  return v.optional(v.array(item), () => []);
}
