/**
 * Compiles the valibot schemas into the codec's validators and writers.
 *
 * The schemas stay the single source of truth (types are inferred from them,
 * and `v.safeParse` agrees with what is compiled here — a test checks it), but
 * running valibot itself over a 50 000-peer status costs more than the
 * JSON.parse it follows. So the schema tree is walked once and turned into
 * plain closures:
 *
 * - a validator returns the decoded value or throws `Failure`; it returns its
 *   input object untouched when nothing changes (no unknown keys, nulls,
 *   defaults or re-spelled IPs), so a typical decode allocates nothing more
 *   than JSON.parse did. It also adds the object keys it sees to the count it
 *   is handed, which the fast path compares with the scanner's count to
 *   detect duplicate keys.
 * - a writer turns a validated value into serde_json's exact bytes: tag
 *   first, fields in declaration order, absent options omitted.
 *
 * Only the schema kinds the wire contract uses are supported; anything else
 * throws at compile time.
 */
import type * as v from 'valibot';
import { describe } from './describe.js';
import { isObject, isWellFormed } from './guards.js';

/** The object keys one validation has walked; each run has its own, handed down the walk. */
export interface KeyCount {
  keys: number;
}

/** A compiled validator; it counts into `count` when given one (the fast path's check). */
export type Validator = (value: unknown, count?: KeyCount) => unknown;

/** What a validator compiles to inside: every step takes the run's count. */
type Walk = (value: unknown, count: KeyCount) => unknown;

/** A pipe's actions after its schema: they see only its output, and walk no keys. */
type Step = (value: unknown) => unknown;

/** The introspectable parts of the valibot schemas and pipe actions used here. */
interface Node {
  kind: string;
  type: string;
  message?: unknown;
  entries?: Record<string, Node>;
  options?: Node[] | string[];
  key?: string;
  literal?: unknown;
  wrapped?: Node;
  default?: unknown;
  item?: Node;
  check?: (value: unknown) => boolean;
  requirement?: (value: unknown) => boolean;
  operation?: (value: unknown) => unknown;
  pipe?: Node[];
}

/** A validation failure; `path` is collected innermost-first while unwinding. */
export class Failure {
  readonly path: (string | number)[] = [];
  constructor(private readonly render: (where: string) => string) {}

  /** The message, given the printed path (or the type name for the root). */
  format(where: string): string {
    return this.render(where);
  }
}

const invalid = (expected: string, value: unknown) =>
  new Failure((where) => `invalid value for ${where}: ${expected}, got ${describe(value)}`);

const list = (tags: readonly unknown[]) => tags.map((t) => `\`${String(t)}\``).join(', ');

function unknownVariant(value: string, tags: readonly string[]): Failure {
  return new Failure(
    (where) => `unknown variant \`${value}\` for ${where}, expected one of ${list(tags)}`,
  );
}

function missing(key: string, expected: string): Failure {
  const failure = new Failure((where) => `missing field ${where}: expected ${expected}`);
  failure.path.push(key);
  return failure;
}

/** Absent keys (`undefined`) are allowed for these schema types. */
const isOptional = (node: Node) => node.type === 'optional' || node.type === 'nullish';

function defaultOf(node: Node): unknown {
  return typeof node.default === 'function' ? (node.default as () => unknown)() : node.default;
}

// ---------------------------------------------------------------------------
// Key counting (fast-path duplicate detection)

/** Runs a validator, returning its output and how many object keys it walked. */
export function validateCounting(validate: Validator, value: unknown): [unknown, number] {
  const count: KeyCount = { keys: 0 };
  const out = validate(value, count);
  return [out, count.keys];
}

/** Counts the keys of a subtree no schema walks (an unknown field's value). */
function countKeys(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) n += countKeys(item);
    return n;
  }
  for (const key in value) n += 1 + countKeys((value as Record<string, unknown>)[key]);
  return n;
}

// ---------------------------------------------------------------------------
// Validators

const validators = new WeakMap<object, Walk>();

export function compileValidator(schema: v.GenericSchema): Validator {
  const walk = validatorOf(schema as unknown as Node);
  // A caller that does not count gets a count of its own, read by nobody.
  return (value, count = { keys: 0 }) => walk(value, count);
}

function validatorOf(node: Node): Walk {
  let fn = validators.get(node);
  if (fn === undefined) {
    fn = node.pipe ? compilePipe(node.pipe) : compileBase(node);
    validators.set(node, fn);
  }
  return fn;
}

function compilePipe(pipe: Node[]): Walk {
  const schema = validatorOf(pipe[0]!);
  const steps: Step[] = [];
  for (const action of pipe.slice(1)) {
    if (action.type === 'check') {
      const requirement = action.requirement!;
      const expected = String(action.message);
      steps.push((value) => {
        if (!requirement(value)) throw invalid(expected, value);
        return value;
      });
    } else if (action.type === 'transform') {
      steps.push(action.operation!);
    } else if (action.kind !== 'metadata') {
      throw new Error(`protocol compiler: unsupported pipe action ${action.type}`);
    }
  }
  // Composed into nested calls: (x) => transform(check(schema(x))); only the schema takes the count.
  return steps.reduce<Walk>((first, next) => (value, count) => next(first(value, count)), schema);
}

function compileBase(node: Node): Walk {
  switch (node.type) {
    case 'string':
      return (value) => {
        if (typeof value !== 'string') throw invalid('expected a string', value);
        if (!isWellFormed(value)) {
          throw new Failure(
            (where) => `invalid value for ${where}: string holds a lone UTF-16 surrogate`,
          );
        }
        return value;
      };
    case 'boolean':
      return (value) => {
        if (typeof value !== 'boolean') throw invalid('expected a boolean', value);
        return value;
      };
    case 'literal': {
      const literal = node.literal;
      return (value) => {
        if (value !== literal) throw invalid(`expected \`${String(literal)}\``, value);
        return value;
      };
    }
    case 'picklist': {
      const options = node.options as string[];
      return (value) => {
        if (options.includes(value as string)) return value;
        if (typeof value === 'string') throw unknownVariant(value, options);
        throw invalid(`expected one of ${list(options)}`, value);
      };
    }
    case 'custom': {
      const check = node.check!;
      const expected = String(node.message);
      return (value) => {
        if (!check(value)) throw invalid(expected, value);
        return value;
      };
    }
    case 'optional':
    case 'nullish': {
      const wrapped = validatorOf(node.wrapped!);
      const hasDefault = node.default !== undefined;
      const nullIsAbsent = node.type === 'nullish';
      return (value, count) => {
        if (value === undefined || (nullIsAbsent && value === null)) {
          return hasDefault ? defaultOf(node) : value;
        }
        return wrapped(value, count);
      };
    }
    case 'array':
      return compileArray(validatorOf(node.item!));
    case 'object':
      return compileObject(node.entries!);
    case 'variant':
      return compileVariant(node);
    default:
      throw new Error(`protocol compiler: unsupported schema type ${node.type}`);
  }
}

function compileArray(item: Walk): Walk {
  return (input, count) => {
    if (!Array.isArray(input)) throw invalid('expected an array', input);
    let out = input; // copied on the first item that changes
    for (let i = 0; i < input.length; i++) {
      const raw: unknown = input[i];
      let value: unknown;
      try {
        value = item(raw, count);
      } catch (error) {
        if (error instanceof Failure) error.path.push(i);
        throw error;
      }
      if (value !== raw && out === input) out = input.slice(0, i);
      if (out !== input) out.push(value);
    }
    return out;
  };
}

function compileObject(entries: Record<string, Node>): Walk {
  const keys = Object.keys(entries);
  const known = new Set(keys);
  const checks = keys.map((key) => validatorOf(entries[key]!));
  const required = keys.map((key) => !isOptional(entries[key]!));
  const expects = keys.map((key) => expectedOf(entries[key]!));
  const n = keys.length;

  /** A fresh object with the first `upTo` known fields of `input`. */
  const copyKnown = (input: Record<string, unknown>, upTo: number) => {
    const out: Record<string, unknown> = {};
    for (let j = 0; j < upTo; j++) {
      const value = input[keys[j]!];
      if (value !== undefined) out[keys[j]!] = value;
    }
    return out;
  };

  return (input, count) => {
    if (!isObject(input)) throw invalid('expected an object', input);
    let out = input;
    let present = 0;
    for (let i = 0; i < n; i++) {
      const key = keys[i]!;
      const raw = input[key];
      if (raw === undefined) {
        if (required[i]) throw missing(key, expects[i]!);
      } else {
        present++;
      }
      let value: unknown;
      try {
        value = checks[i]!(raw, count);
      } catch (error) {
        if (error instanceof Failure) error.path.push(key);
        throw error;
      }
      if (value !== raw && out === input) out = copyKnown(input, i);
      if (out !== input && value !== undefined) out[key] = value;
    }
    let total = 0;
    for (const _ in input) total++;
    count.keys += total;
    if (total !== present) {
      // Unknown fields: dropped from the output, but their keys still count.
      if (out === input) out = copyKnown(input, n);
      for (const key in input) if (!known.has(key)) count.keys += countKeys(input[key]);
    }
    return out;
  };
}

/** Tag value → option, flattening nested variants (the event frame). */
function variantOptions<T>(node: Node, each: (option: Node) => T): Map<string, T> {
  const map = new Map<string, T>();
  for (const option of node.options as Node[]) {
    const tag =
      option.type === 'variant'
        ? (option.options as Node[])[0]!.entries![node.key!]!.literal
        : option.entries![node.key!]!.literal;
    map.set(String(tag), each(option));
  }
  return map;
}

function compileVariant(node: Node): Walk {
  const key = node.key!;
  const options = variantOptions(node, validatorOf);
  const tags = [...options.keys()];
  return (input, count) => {
    if (!isObject(input)) throw invalid('expected an object', input);
    const tag = input[key];
    const option = typeof tag === 'string' ? options.get(tag) : undefined;
    if (option === undefined) {
      if (tag === undefined) throw missing(key, `one of ${list(tags)}`);
      const failure =
        typeof tag === 'string'
          ? unknownVariant(tag, tags)
          : invalid(`expected a string tag (one of ${list(tags)})`, tag);
      failure.path.push(key);
      throw failure;
    }
    return option(input, count);
  };
}

/** What a schema expects, in words, for "missing field" messages. */
function expectedOf(node: Node): string {
  const base = node.pipe ? node.pipe[0]! : node;
  switch (base.type) {
    case 'custom':
      return String(base.message).replace(/^expected /, '');
    case 'string':
      return 'a string';
    case 'boolean':
      return 'a boolean';
    case 'literal':
      return `\`${String(base.literal)}\``;
    case 'picklist':
      return `one of ${list(base.options as string[])}`;
    case 'array':
      return 'an array';
    default:
      return 'an object';
  }
}

// ---------------------------------------------------------------------------
// Writers (over validated values only)

type Writer = (value: unknown) => string;
const writers = new WeakMap<object, Writer>();

export function compileWriter(schema: v.GenericSchema): Writer {
  return writerOf(schema as unknown as Node);
}

function writerOf(node: Node): Writer {
  let fn = writers.get(node);
  if (fn === undefined) {
    fn = compileWrite(node.pipe ? node.pipe[0]! : node);
    writers.set(node, fn);
  }
  return fn;
}

function compileWrite(node: Node): Writer {
  switch (node.type) {
    case 'string':
    case 'literal':
    case 'picklist':
      // JSON.stringify escapes a well-formed string exactly like serde_json.
      return (value) => JSON.stringify(value);
    case 'boolean':
      return (value) => (value ? 'true' : 'false');
    case 'custom':
      // Integers (numbers and bigints print as bare digits) or IP address strings.
      return (value) => (typeof value === 'string' ? JSON.stringify(value) : String(value));
    case 'optional':
    case 'nullish':
      return writerOf(node.wrapped!);
    case 'array': {
      const item = writerOf(node.item!);
      return (value) => {
        const values = value as unknown[];
        let out = '[';
        for (let i = 0; i < values.length; i++) out += (i === 0 ? '' : ',') + item(values[i]);
        return `${out}]`;
      };
    }
    case 'object': {
      const entries = Object.entries(node.entries!).map(([key, entry]) => ({
        key,
        prefix: `${JSON.stringify(key)}:`,
        write: writerOf(entry),
        // #[serde(default, skip_serializing_if = "Vec::is_empty")]
        omitEmpty: entry.type === 'optional' && Array.isArray(defaultOf(entry)),
      }));
      return (value) => {
        const object = value as Record<string, unknown>;
        let out = '';
        for (const entry of entries) {
          const field = object[entry.key];
          if (field === undefined) continue;
          if (entry.omitEmpty && (field as unknown[]).length === 0) continue;
          out += `${out === '' ? '{' : ','}${entry.prefix}${entry.write(field)}`;
        }
        return out === '' ? '{}' : `${out}}`;
      };
    }
    case 'variant': {
      const key = node.key!;
      const options = variantOptions(node, writerOf);
      return (value) => options.get((value as Record<string, string>)[key]!)!(value);
    }
    default:
      throw new Error(`protocol compiler: cannot write schema type ${node.type}`);
  }
}
