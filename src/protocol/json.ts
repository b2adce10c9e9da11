/**
 * JSON text → values, with serde_json's strictness.
 *
 * Two readers share one contract. `parseJsonStrict` is a small RFC 8259
 * parser that keeps what `JSON.parse` loses: integer lexemes stay exact
 * (number or bigint, normalized), non-integers become `JsonFloat` markers,
 * duplicate keys and lone surrogate escapes are errors, and syntax errors
 * carry serde-style `line L column C` positions. `scanJson` is the fast
 * path's companion: one cheap pass that tells whether `JSON.parse`'s result
 * for a text can be trusted (see its comment).
 */
import { CodecError } from '../errors.js';
import { I64_MIN, normalizeU64, U64_MAX } from './integers.js';

/**
 * A number serde_json would read as an f64: one with a fraction or exponent,
 * `-0`, or an integer outside the 64-bit range. Integer schemas reject it.
 */
export class JsonFloat {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonFloat
  | JsonValue[]
  | { [key: string]: JsonValue };

/** serde_json's limit: the 128th nested array/object is refused. */
export const MAX_DEPTH = 127;

/** `line L column C` for an error at `index`, counted like serde_json (after the offending char). */
export function positionOf(text: string, index: number): string {
  const end = Math.min(index + 1, text.length);
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line} column ${end - lineStart}`;
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

class StrictParser {
  pos = 0;
  depth = 0;
  /** Keys and indices leading to the value being parsed, for duplicate-key messages. */
  readonly path: (string | number)[] = [];

  constructor(readonly text: string) {}

  fail(message: string, index: number, path?: string): never {
    const hint =
      index === 0 && this.text.charCodeAt(0) === 0xfeff ? ' (a UTF-8 BOM is not allowed)' : '';
    throw new CodecError(
      `${message} at ${positionOf(this.text, index)}${hint}`,
      path === undefined ? {} : { path },
    );
  }

  skipWhitespace(): void {
    const text = this.text;
    let c = text.charCodeAt(this.pos);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++this.pos);
  }

  value(): JsonValue {
    this.skipWhitespace();
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b) return this.object();
    if (c === 0x5b) return this.array();
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (c === 0x74) return this.word('true', true);
    if (c === 0x66) return this.word('false', false);
    if (c === 0x6e) return this.word('null', null);
    if (Number.isNaN(c)) this.fail('EOF while parsing a value', this.text.length);
    return this.fail('expected value', this.pos);
  }

  word<T>(word: string, value: T): T {
    for (let i = 0; i < word.length; i++, this.pos++) {
      if (this.pos >= this.text.length) this.fail('EOF while parsing a value', this.pos);
      if (this.text[this.pos] !== word[i]) this.fail('expected ident', this.pos);
    }
    return value;
  }

  enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail('recursion limit exceeded', this.pos);
    this.pos++;
    this.skipWhitespace();
  }

  object(): JsonValue {
    this.enter();
    const out: { [key: string]: JsonValue } = {};
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      this.depth--;
      return out;
    }
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x22) {
        if (Number.isNaN(c)) this.fail('EOF while parsing an object', this.pos);
        this.fail(c === 0x7d ? 'trailing comma' : 'key must be a string', this.pos);
      }
      const key = this.string();
      if (Object.hasOwn(out, key)) {
        const parent = formatPath(this.path);
        const where = parent === '' ? '' : ` in ${parent}`;
        this.fail(
          `duplicate field \`${key}\`${where}`,
          this.pos - 1,
          formatPath([...this.path, key]),
        );
      }
      this.skipWhitespace();
      const colon = this.text.charCodeAt(this.pos);
      if (colon !== 0x3a) {
        this.fail(Number.isNaN(colon) ? 'EOF while parsing an object' : 'expected `:`', this.pos);
      }
      this.pos++;
      this.path.push(key);
      const value = this.value();
      this.path.pop();
      // A plain assignment to `__proto__` would set the prototype instead.
      if (key === '__proto__') {
        Object.defineProperty(out, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        out[key] = value;
      }
      this.skipWhitespace();
      const next = this.text.charCodeAt(this.pos);
      this.pos++;
      if (next === 0x7d) break;
      if (next !== 0x2c) {
        if (Number.isNaN(next)) this.fail('EOF while parsing an object', this.text.length);
        this.fail('expected `,` or `}`', this.pos - 1);
      }
      this.skipWhitespace();
      if (this.pos >= this.text.length) this.fail('EOF while parsing a value', this.pos);
    }
    this.depth--;
    return out;
  }

  array(): JsonValue {
    this.enter();
    const out: JsonValue[] = [];
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      this.depth--;
      return out;
    }
    for (;;) {
      this.path.push(out.length);
      out.push(this.value());
      this.path.pop();
      this.skipWhitespace();
      const next = this.text.charCodeAt(this.pos);
      this.pos++;
      if (next === 0x5d) break;
      if (next !== 0x2c) {
        if (Number.isNaN(next)) this.fail('EOF while parsing a list', this.text.length);
        this.fail('expected `,` or `]`', this.pos - 1);
      }
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) === 0x5d) this.fail('trailing comma', this.pos);
    }
    this.depth--;
    return out;
  }

  number(): JsonValue {
    const text = this.text;
    const start = this.pos;
    const digitAt = (i: number) => {
      const c = text.charCodeAt(i);
      return c >= 0x30 && c <= 0x39;
    };
    const digits = () => {
      if (!digitAt(this.pos)) {
        this.fail(
          this.pos >= text.length ? 'EOF while parsing a value' : 'invalid number',
          this.pos,
        );
      }
      while (digitAt(this.pos)) this.pos++;
    };
    if (text.charCodeAt(this.pos) === 0x2d) this.pos++;
    if (text.charCodeAt(this.pos) === 0x30) {
      this.pos++;
      if (digitAt(this.pos)) this.fail('invalid number', this.pos);
    } else {
      digits();
    }
    let float = false;
    if (text.charCodeAt(this.pos) === 0x2e) {
      this.pos++;
      digits();
      float = true;
    }
    const e = text.charCodeAt(this.pos);
    if (e === 0x65 || e === 0x45) {
      this.pos++;
      const sign = text.charCodeAt(this.pos);
      if (sign === 0x2b || sign === 0x2d) this.pos++;
      digits();
      float = true;
    }
    const lexeme = text.slice(start, this.pos);
    if (float || lexeme === '-0') return new JsonFloat(lexeme);
    // Up to 15 digits is always a safe integer; beyond, go through BigInt.
    // More than 20 digits cannot be a 64-bit integer (and would make BigInt slow).
    const length = lexeme.length - (lexeme.charCodeAt(0) === 0x2d ? 1 : 0);
    if (length <= 15) return Number(lexeme);
    if (length > 20) return new JsonFloat(lexeme);
    const big = BigInt(lexeme);
    // serde_json reads integers outside i64/u64 as f64.
    return big > U64_MAX || big < I64_MIN ? new JsonFloat(lexeme) : normalizeU64(big);
  }

  string(): string {
    const text = this.text;
    let pos = this.pos + 1;
    let out = '';
    let runStart = pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        this.pos = pos + 1;
        return out + text.slice(runStart, pos);
      }
      if (c === 0x5c) {
        out += text.slice(runStart, pos);
        pos++;
        const e = text[pos];
        if (e === 'u') {
          const unit = this.hex4(pos + 1);
          pos += 5;
          if (unit >= 0xdc00 && unit <= 0xdfff) {
            this.fail(`lone surrogate \\u${unit.toString(16)} in string escape`, pos - 1);
          }
          if (unit >= 0xd800 && unit <= 0xdbff) {
            // A high surrogate must be followed by an escaped low surrogate.
            const low = text.startsWith('\\u', pos) ? this.hex4(pos + 2) : -1;
            if (low < 0xdc00 || low > 0xdfff) {
              this.fail(`lone surrogate \\u${unit.toString(16)} in string escape`, pos);
            }
            out += String.fromCharCode(unit, low);
            pos += 6;
          } else {
            out += String.fromCharCode(unit);
          }
        } else {
          const decoded = e === undefined ? undefined : ESCAPES[e];
          if (decoded === undefined) {
            this.fail(e === undefined ? 'EOF while parsing a string' : 'invalid escape', pos);
          }
          out += decoded;
          pos++;
        }
        runStart = pos;
      } else if (c < 0x20) {
        this.fail('control character (\\u0000-\\u001F) found while parsing a string', pos);
      } else if (Number.isNaN(c)) {
        this.fail('EOF while parsing a string', text.length);
      } else {
        pos++;
      }
    }
  }

  hex4(at: number): number {
    let unit = 0;
    for (let i = at; i < at + 4; i++) {
      const digit = Number.parseInt(this.text[i] ?? '', 16);
      if (Number.isNaN(digit)) {
        this.fail(i >= this.text.length ? 'EOF while parsing a string' : 'invalid escape', i);
      }
      unit = unit * 16 + digit;
    }
    return unit;
  }
}

/** Parses one JSON value (whitespace around it allowed), throwing CodecError on anything else. */
export function parseJsonStrict(text: string): JsonValue {
  const parser = new StrictParser(text);
  const value = parser.value();
  parser.skipWhitespace();
  if (parser.pos < text.length) parser.fail('trailing characters', parser.pos);
  return value;
}

/**
 * Returns how many object keys a JSON text holds, or -1 when `JSON.parse`'s
 * result for it cannot be trusted as is: a number that is a float for serde
 * (`.`/`e`/`E`, `-0`) or long enough (≥ 16 digits) to exceed 2^53, an escaped
 * UTF-16 surrogate (maybe unpaired), or nesting deeper than serde's limit
 * (declined before JSON.parse would build a hostile tree). The key count lets
 * the caller detect duplicate keys, which `JSON.parse` silently merges: the
 * parsed tree then holds fewer.
 *
 * One pass: string bodies are skipped with `indexOf` (backslashes looked up
 * the same way, only where one falls inside the string), everything between
 * strings is looked at per character. On text that is not JSON the count is
 * meaningless (JSON.parse then refuses the text) but the scan still ends.
 */
export function scanJson(text: string): number {
  const n = text.length;
  let keys = 0;
  let depth = 0;
  let backslash = text.indexOf('\\');
  if (backslash === -1) backslash = n;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let end = text.indexOf('"', i + 1);
      while (backslash < end) {
        const escaped = text.charCodeAt(backslash + 1);
        if (escaped === 0x75) {
          // \uD800–\uDFFF: let the strict parser pair them (or refuse them).
          const first = text.charCodeAt(backslash + 2) | 0x20; // | 0x20 lowercases A–F
          const second = text.charCodeAt(backslash + 3) | 0x20;
          if (first === 0x64 && (second === 0x38 || second === 0x39 || second >= 0x61)) return -1;
        } else if (backslash + 1 === end) {
          end = text.indexOf('"', end + 1); // that quote was escaped
        }
        backslash = text.indexOf('\\', backslash + 2);
        if (backslash === -1) backslash = n;
      }
      if (end === -1) return -1; // unterminated string: not JSON
      i = end;
      // Most keys are followed directly by their colon: count it here.
      if (text.charCodeAt(i + 1) === 0x3a) {
        keys++;
        i++;
      }
    } else if (c === 0x3a) {
      keys++;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_DEPTH) return -1;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      if (c === 0x2d && text.charCodeAt(i + 1) === 0x30) return -1; // -0, -0.x
      let d = text.charCodeAt(i + 1);
      while (d >= 0x30 && d <= 0x39) d = text.charCodeAt(++i + 1);
      if (d === 0x2e || d === 0x65 || d === 0x45) return -1;
      if (i - start >= 15 + (c === 0x2d ? 1 : 0)) return -1;
    }
  }
  return keys;
}
