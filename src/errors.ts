/**
 * Every failure the client, the framing or the reference server can report.
 *
 * One class per failure, each with a stable `code` (match on `code`, never on
 * the message), the underlying `cause` kept, and — for failures of a request —
 * `delivery`: whether the request's bytes could have reached overlayd.
 * `'not-sent'` means overlayd never saw it (safe to retry); `'sent'` means it
 * was written and its outcome is unknown (it may have run).
 */

/** Whether a failed request could have run on overlayd. */
export type Delivery = 'not-sent' | 'sent';

/** Where a failure happened; every field is optional and shown in the message when present. */
export interface ErrorContext {
  cause?: unknown;
  delivery?: Delivery;
  op?: string;
  id?: number | bigint | string;
  endpoint?: string;
}

function describeContext(ctx: ErrorContext): string {
  const parts: string[] = [];
  if (ctx.op !== undefined) parts.push(`op ${ctx.op}`);
  if (ctx.id !== undefined) parts.push(`id ${String(ctx.id)}`);
  if (ctx.endpoint !== undefined) parts.push(`endpoint ${ctx.endpoint}`);
  if (ctx.delivery === 'sent') parts.push('request was sent; outcome unknown');
  if (ctx.delivery === 'not-sent') parts.push('request was not sent');
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

/** Base of every error this package throws. */
export abstract class OverlaydError extends Error {
  abstract readonly code: string;
  readonly delivery: Delivery | undefined;
  readonly op: string | undefined;
  readonly id: number | bigint | string | undefined;
  readonly endpoint: string | undefined;

  constructor(message: string, ctx: ErrorContext = {}) {
    super(
      `${message}${describeContext(ctx)}`,
      ctx.cause === undefined ? undefined : { cause: ctx.cause },
    );
    this.name = new.target.name;
    this.delivery = ctx.delivery;
    this.op = ctx.op;
    this.id = ctx.id;
    this.endpoint = ctx.endpoint;
  }
}

/** The operating system reported an I/O failure, or a stream ended inside a frame body. */
export class IoError extends OverlaydError {
  readonly code = 'OVERLAYD_IO';
}

/** A frame body is not valid JSON, or not a valid value of the wire contract. */
export class CodecError extends OverlaydError {
  readonly code = 'OVERLAYD_CODEC';
  /** Path of the offending field, e.g. `request.scope.scope`, when known. */
  readonly path: string | undefined;
  constructor(message: string, ctx: ErrorContext & { path?: string } = {}) {
    super(message, ctx);
    this.path = ctx.path;
  }
}

/** A frame body is larger than the protocol's 8 MiB cap (sent or advertised). */
export class FrameTooLargeError extends OverlaydError {
  readonly code = 'OVERLAYD_FRAME_TOO_LARGE';
  readonly size: number;
  readonly max: number;
  constructor(size: number, max: number, ctx: ErrorContext = {}) {
    super(`frame too large: ${size} bytes (max ${max})`, ctx);
    this.size = size;
    this.max = max;
  }
}

/** The peer closed the connection at a frame boundary, or the client was closed. */
export class ClosedError extends OverlaydError {
  readonly code = 'OVERLAYD_CLOSED';
}

/** overlayd answered the request with `{"result":"err"}`. */
export class OverlayError extends OverlaydError {
  readonly code = 'OVERLAYD_OVERLAY';
  /** overlayd's own reason, verbatim. */
  readonly reason: string;
  constructor(reason: string, ctx: ErrorContext = {}) {
    super(`overlayd error: ${reason}`, ctx);
    this.reason = reason;
  }
}

/** Anything else (kept for parity with the Rust client's `Other`). */
export class OtherError extends OverlaydError {
  readonly code = 'OVERLAYD_OTHER';
}

/** The request's deadline passed before its response arrived. */
export class TimeoutError extends OverlaydError {
  readonly code = 'OVERLAYD_TIMEOUT';
  readonly timeoutMs: number;
  constructor(timeoutMs: number, ctx: ErrorContext = {}) {
    super(`request timed out after ${timeoutMs} ms`, ctx);
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's AbortSignal fired before the response arrived. */
export class AbortedError extends OverlaydError {
  readonly code = 'OVERLAYD_ABORTED';
}

/** The client's request queue is full; the request was refused at once. */
export class QueueFullError extends OverlaydError {
  readonly code = 'OVERLAYD_QUEUE_FULL';
  readonly limit: number;
  constructor(limit: number, ctx: ErrorContext = {}) {
    super(`request queue is full (${limit} waiting)`, ctx);
    this.limit = limit;
  }
}

/** The peer broke the conversation: a request frame sent to the client, a result that does not fit the op. */
export class ProtocolError extends OverlaydError {
  readonly code = 'OVERLAYD_PROTOCOL';
}

/** Every connection attempt failed; `cause` is the last attempt's error. */
export class ConnectError extends OverlaydError {
  readonly code = 'OVERLAYD_CONNECT';
  readonly attempts: number;
  constructor(attempts: number, ctx: ErrorContext = {}) {
    const last = ctx.cause instanceof Error ? `: ${ctx.cause.message}` : '';
    super(
      `could not connect to overlayd after ${attempts} attempt${attempts === 1 ? '' : 's'}${last}`,
      ctx,
    );
    this.attempts = attempts;
  }
}

/**
 * An OverlayManager call that could not be sent because the manager could not
 * bring a reconnected overlayd back to the declared state (a re-apply was
 * refused or failed). Always `delivery: 'not-sent'`: overlayd never saw it.
 */
export class ResyncError extends OverlaydError {
  readonly code = 'OVERLAYD_RESYNC';
  /** The re-apply step that failed, e.g. `attach_container linux_pid 42`. */
  readonly step: string;
  constructor(step: string, reason: string, ctx: ErrorContext = {}) {
    super(`resync could not complete: ${step} failed: ${reason}`, {
      ...ctx,
      delivery: 'not-sent',
    });
    this.step = step;
  }
}

/** Every error code this package can produce. */
export type OverlaydErrorCode =
  | IoError['code']
  | CodecError['code']
  | FrameTooLargeError['code']
  | ClosedError['code']
  | OverlayError['code']
  | OtherError['code']
  | TimeoutError['code']
  | AbortedError['code']
  | QueueFullError['code']
  | ProtocolError['code']
  | ConnectError['code']
  | ResyncError['code'];
