/**
 * The overlayd wire contract (protocol version 1): valibot schemas, the types
 * inferred from them, and the exact JSON codec (see PROTOCOL.md).
 */
export {
  decodeFrame,
  decodeWire,
  encodeFrame,
  encodeFrameToString,
  encodeWire,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  WIRE_TYPES,
  type WireInput,
  type WireType,
  type WireTypeName,
} from './codec.js';
export {
  type EventKind,
  natEndpointChangedEntries,
  type OverlaydEvent,
  type OverlaydEventInput,
  OverlaydEventSchema,
  peerHealthChangedEntries,
} from './events.js';
export {
  type EventFrame,
  type EventFrameInput,
  EventFrameSchema,
  type OverlaydFrame,
  type OverlaydFrameInput,
  OverlaydFrameSchema,
  type RequestFrame,
  type RequestFrameInput,
  RequestFrameSchema,
  type ResponseFrame,
  type ResponseFrameInput,
  ResponseFrameSchema,
} from './frames.js';
export {
  type I64,
  I64_MAX,
  I64_MIN,
  I64Schema,
  isI64,
  isU8,
  isU16,
  isU32,
  isU64,
  normalizeI64,
  normalizeU64,
  U8Schema,
  U16Schema,
  U32Schema,
  type U64,
  U64_MAX,
  U64Schema,
} from './integers.js';
export { canonicalIp, formatIp, IpAddrSchema, isIpAddr, type ParsedIp, parseIp } from './ip.js';
export { JsonFloat, type JsonValue, parseJsonStrict } from './json.js';
export * from './nested.js';
export {
  OPS,
  type Op,
  type OverlaydRequest,
  type OverlaydRequestInput,
  OverlaydRequestSchema,
  type RequestInputOf,
  type RequestOf,
} from './requests.js';
export {
  type OverlaydResponse,
  type OverlaydResponseInput,
  OverlaydResponseSchema,
  type ResponseOf,
  type ResultFor,
  type ResultKind,
  SUCCESS_RESULTS,
} from './responses.js';
