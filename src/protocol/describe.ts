/** Short descriptions of offending values for error messages. */
import { JsonFloat } from './json.js';

const MAX_SHOWN = 64;

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof JsonFloat) {
    return /^-?[1-9]\d*$/.test(value.text)
      ? `integer ${value.text} (outside the 64-bit range)`
      : `floating point ${value.text}`;
  }
  switch (typeof value) {
    case 'string': {
      const shown = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}…` : value;
      return `string ${JSON.stringify(shown)}`;
    }
    case 'number':
      if (!Number.isInteger(value)) return `floating point ${value}`;
      if (!Number.isSafeInteger(value)) {
        return `number ${value} (not a safe integer: pass a bigint for exact 64-bit values)`;
      }
      return `integer ${value}`;
    case 'bigint':
      return `integer ${value}`;
    case 'boolean':
      return `boolean ${value}`;
    case 'object':
      return Array.isArray(value) ? 'array' : 'object';
    default:
      return typeof value;
  }
}
