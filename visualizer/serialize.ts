/**
 * Turns whatever XState hands the inspector (contexts, events, action params)
 * into plain JSON that cannot throw, loop or balloon: bigints become strings,
 * Errors a {name, message, code} summary, functions and symbols are dropped,
 * actor refs a reference, and depth, breadth and string length are capped.
 */
import { errorCode } from '../src/diagnostics/error-code.js';

export interface SerializeLimits {
  /** Nesting beyond this becomes `'[…]'`. */
  maxDepth: number;
  /** Array items and object keys beyond this are cut, with a count of what was left. */
  maxItems: number;
  /** Strings longer than this are cut. */
  maxString: number;
}

export const DEFAULT_LIMITS: Readonly<SerializeLimits> = Object.freeze({
  maxDepth: 8,
  maxItems: 100,
  maxString: 2000,
});

export interface ErrorJson {
  name: string;
  message: string;
  code?: string | number;
}

/** An Error (or anything thrown) as `{ name, message, code? }`. */
export function errorJson(error: unknown): ErrorJson {
  if (error instanceof Error) {
    const summary: ErrorJson = { name: error.name, message: error.message };
    // The inspector also shows a numeric code (a DOMException's), which the other readers leave out.
    const numeric = (error as { code?: unknown }).code;
    const code = errorCode(error) ?? (typeof numeric === 'number' ? numeric : undefined);
    if (code !== undefined) summary.code = code;
    return summary;
  }
  return { name: 'NonError', message: safeString(error) };
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '[unprintable]';
  }
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more chars)` : text;
}

interface ActorRefLike {
  id?: unknown;
  sessionId?: unknown;
  send?: unknown;
}

function isActorRef(value: object): value is ActorRefLike {
  const ref = value as ActorRefLike;
  return typeof ref.sessionId === 'string' && typeof ref.send === 'function';
}

/** A JSON-safe copy of `value`; `undefined` for what JSON has no place for (functions, symbols). */
export function toSafeJson(value: unknown, limits: SerializeLimits = DEFAULT_LIMITS): unknown {
  const ancestors = new Set<object>();

  const convert = (current: unknown, depth: number): unknown => {
    switch (typeof current) {
      case 'string':
        return cut(current, limits.maxString);
      case 'number':
        return Number.isFinite(current) ? current : String(current);
      case 'boolean':
        return current;
      case 'bigint':
        return current.toString();
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
    }
    if (current === null) return null;
    const object = current as object;
    if (object instanceof Error) return errorJson(object);
    if (object instanceof Date) {
      return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
    }
    if (isActorRef(object)) {
      return { '@actor': safeString(object.id), sessionId: object.sessionId };
    }
    if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
      return { '@bytes': object.byteLength };
    }
    if (object instanceof Promise) return '[Promise]';
    if (object instanceof WeakMap || object instanceof WeakSet) return '[Weak collection]';
    if (depth >= limits.maxDepth) return '[…]';
    if (ancestors.has(object)) return '[Circular]';
    ancestors.add(object);
    try {
      if (Array.isArray(object) || object instanceof Set) {
        const items = Array.isArray(object) ? object : [...object];
        const out: unknown[] = [];
        for (const item of items.slice(0, limits.maxItems)) {
          const converted = convert(item, depth + 1);
          out.push(converted === undefined ? null : converted);
        }
        if (items.length > limits.maxItems) out.push(`… ${items.length - limits.maxItems} more`);
        return out;
      }
      if (object instanceof Map) {
        const out: Array<[unknown, unknown]> = [];
        let count = 0;
        for (const [key, item] of object) {
          if (count++ >= limits.maxItems) break;
          out.push([convert(key, depth + 1) ?? null, convert(item, depth + 1) ?? null]);
        }
        return { '@map': out, size: object.size };
      }
      const out: Record<string, unknown> = {};
      let keys: string[];
      try {
        keys = Object.keys(object);
      } catch {
        return '[unreadable]';
      }
      for (const key of keys.slice(0, limits.maxItems)) {
        let item: unknown;
        try {
          item = (object as Record<string, unknown>)[key];
        } catch {
          item = '[unreadable]';
        }
        const converted = convert(item, depth + 1);
        if (converted !== undefined) out[key] = converted;
      }
      if (keys.length > limits.maxItems) out['…'] = `${keys.length - limits.maxItems} more keys`;
      return out;
    } finally {
      ancestors.delete(object);
    }
  };

  return convert(value, 0);
}
