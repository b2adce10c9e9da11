/**
 * The JSON codec: one frame body (UTF-8 JSON, no length prefix) ⇄ values.
 *
 * Decoding has two paths with one outcome:
 *
 * - fast: `scanJson` over the text (floats, long integers, surrogate
 *   escapes, nesting depth, key count), then native `JSON.parse`, then the
 *   compiled validator, which also counts the keys it meets. If the scan
 *   flagged nothing, JSON.parse accepted the text and the key counts agree
 *   (no duplicate was merged), the result is exactly what the strict path
 *   would give.
 * - strict: `parseJsonStrict` (exact integers, float markers, duplicate keys,
 *   positions) and the same validator. Taken whenever the fast path declines
 *   or fails, so every error message comes from one place.
 */
import type * as v from 'valibot';
import { CodecError, type ErrorContext } from '../errors.js';
import {
  compileValidator,
  compileWriter,
  Failure,
  type Validator,
  validateCounting,
} from './compile.js';
import { OverlaydEventSchema } from './events.js';
import type { OverlaydFrame, OverlaydFrameInput } from './frames.js';
import {
  EventFrameSchema,
  OverlaydFrameSchema,
  RequestFrameSchema,
  ResponseFrameSchema,
} from './frames.js';
import { isObject, isWellFormed } from './guards.js';
import { isU64 } from './integers.js';
import { IpAddrSchema } from './ip.js';
import { formatPath, parseJsonStrict, scanJson } from './json.js';
import {
  AttachHandleSchema,
  AttachResultSchema,
  DedicatedServiceStatusSchema,
  GuestOverlayConfigSchema,
  OverlayConfigSchema,
  OverlayModeSchema,
  PeerScopeSchema,
  PeerSpecSchema,
  PeerStatusSchema,
  ServiceOverlayInfoSchema,
  StatusSnapshotSchema,
} from './nested.js';
import { OPS, OverlaydRequestSchema } from './requests.js';
import { OverlaydResponseSchema } from './responses.js';

export const PROTOCOL_VERSION = 1;
/** Largest frame body either side may send or accept (defined with the framing). */
export { MAX_FRAME_BYTES } from './limits.js';

/** Every named wire type (the `type` column of the reference vectors). */
export const WIRE_TYPES = {
  OverlaydFrame: OverlaydFrameSchema,
  RequestFrame: RequestFrameSchema,
  ResponseFrame: ResponseFrameSchema,
  EventFrame: EventFrameSchema,
  OverlaydRequest: OverlaydRequestSchema,
  OverlaydResponse: OverlaydResponseSchema,
  OverlaydEvent: OverlaydEventSchema,
  AttachHandle: AttachHandleSchema,
  PeerScope: PeerScopeSchema,
  PeerSpec: PeerSpecSchema,
  OverlayMode: OverlayModeSchema,
  OverlayConfig: OverlayConfigSchema,
  AttachResult: AttachResultSchema,
  GuestOverlayConfig: GuestOverlayConfigSchema,
  StatusSnapshot: StatusSnapshotSchema,
  PeerStatus: PeerStatusSchema,
  DedicatedServiceStatus: DedicatedServiceStatusSchema,
  ServiceOverlayInfo: ServiceOverlayInfoSchema,
  IpAddr: IpAddrSchema,
} as const;

export type WireTypeName = keyof typeof WIRE_TYPES;
export type WireType<N extends WireTypeName> = v.InferOutput<(typeof WIRE_TYPES)[N]>;
export type WireInput<N extends WireTypeName> = v.InferInput<(typeof WIRE_TYPES)[N]>;

interface Codec {
  name: WireTypeName;
  validate: Validator;
  write: (value: unknown) => string;
}

const codecs = new Map<WireTypeName, Codec>();

function codecOf(name: WireTypeName): Codec {
  let codec = codecs.get(name);
  if (codec === undefined) {
    const schema = WIRE_TYPES[name] as v.GenericSchema;
    codec = { name, validate: compileValidator(schema), write: compileWriter(schema) };
    codecs.set(name, codec);
  }
  return codec;
}

// ignoreBOM keeps a BOM in the text, so the parser refuses it like serde_json.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

function bodyText(body: Uint8Array | string): string {
  if (typeof body === 'string') {
    if (!isWellFormed(body)) {
      throw new CodecError('frame body holds a lone UTF-16 surrogate, which UTF-8 cannot carry');
    }
    return body;
  }
  try {
    return utf8Decoder.decode(body);
  } catch (cause) {
    throw new CodecError('frame body is not valid UTF-8', { cause });
  }
}

/** The op and frame id of a (possibly invalid) value, when they can be told. */
function contextOf(name: WireTypeName, root: unknown): ErrorContext {
  const ctx: ErrorContext = {};
  if (!isObject(root)) return ctx;
  let request: unknown = root;
  if (name === 'OverlaydFrame' || name === 'RequestFrame' || name === 'ResponseFrame') {
    if (isU64(root.id)) ctx.id = root.id;
    request = root.frame === 'request' ? root.request : undefined;
  } else if (name !== 'OverlaydRequest') {
    return ctx;
  }
  if (isObject(request) && OPS.includes(request.op as never)) ctx.op = request.op as string;
  return ctx;
}

function validate(codec: Codec, value: unknown): unknown {
  try {
    return codec.validate(value);
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    const path = formatPath([...error.path].reverse());
    throw new CodecError(error.format(path === '' ? codec.name : path), {
      ...contextOf(codec.name, value),
      ...(path === '' ? {} : { path }),
    });
  }
}

function decodeStrict(codec: Codec, text: string): unknown {
  return validate(codec, parseJsonStrict(text));
}

/** The fast path alone: the decoded value, or undefined when it declines. */
function decodeFast(codec: Codec, text: string): { value: unknown } | undefined {
  // Scan first: a hostile body nested a million deep is declined here,
  // before JSON.parse would build its tree (the strict parser stops at 128).
  const keys = scanJson(text);
  if (keys < 0) return undefined;
  let tree: unknown;
  try {
    tree = JSON.parse(text);
  } catch {
    return undefined;
  }
  try {
    const [value, seen] = validateCounting(codec.validate, tree);
    return seen === keys ? { value } : undefined;
  } catch {
    return undefined; // the strict path reports it
  }
}

/** Decodes one body as the named wire type; throws CodecError naming what is wrong and where. */
export function decodeWire<N extends WireTypeName>(
  name: N,
  body: Uint8Array | string,
): WireType<N> {
  const codec = codecOf(name);
  const text = bodyText(body);
  const fast = decodeFast(codec, text);
  return (fast === undefined ? decodeStrict(codec, text) : fast.value) as WireType<N>;
}

/** Validates a value of the named wire type and writes it as serde_json would. */
export function encodeWire<N extends WireTypeName>(name: N, value: WireInput<N>): string {
  const codec = codecOf(name);
  return codec.write(validate(codec, value));
}

/** Decodes one frame body (UTF-8 JSON bytes, or its text). */
export function decodeFrame(body: Uint8Array | string): OverlaydFrame {
  return decodeWire('OverlaydFrame', body);
}

/** The JSON text of a frame body; throws CodecError (naming field, op and id) if the frame is invalid. */
export function encodeFrameToString(frame: OverlaydFrameInput): string {
  return encodeWire('OverlaydFrame', frame);
}

/** The UTF-8 body of a frame (no length prefix). */
export function encodeFrame(frame: OverlaydFrameInput): Uint8Array {
  return utf8Encoder.encode(encodeFrameToString(frame));
}

/** Test hooks: each decode path on its own. */
export const decodePaths = {
  strict<N extends WireTypeName>(name: N, body: Uint8Array | string): WireType<N> {
    return decodeStrict(codecOf(name), bodyText(body)) as WireType<N>;
  },
  /** `undefined` when the fast path declines (the strict path would then decide). */
  fast<N extends WireTypeName>(name: N, body: Uint8Array | string): WireType<N> | undefined {
    return decodeFast(codecOf(name), bodyText(body))?.value as WireType<N> | undefined;
  },
};
