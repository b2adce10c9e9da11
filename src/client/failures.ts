/**
 * Turns the machine's account of a failed request into the error the caller
 * gets: the right class, `delivery`, and the op, id and endpoint in its message.
 */
import type { ConnectionEmitted } from '../../machines/connection.types.js';
import {
  AbortedError,
  ClosedError,
  CodecError,
  ConnectError,
  type ErrorContext,
  type OverlaydError,
  ProtocolError,
  QueueFullError,
  TimeoutError,
} from '../errors.js';

export type RequestFailure = Extract<ConnectionEmitted, { type: 'request.failed' }>;

export interface FailureSubject {
  op: string;
  id: number | bigint;
  endpoint: string;
  timeoutMs: number;
  queueLimit: number;
  /** The abort reason of the caller's signal, when it has one. */
  abortReason?: unknown;
}

export function errorForFailure(failure: RequestFailure, subject: FailureSubject): OverlaydError {
  const ctx: ErrorContext = {
    op: subject.op,
    id: subject.id,
    endpoint: subject.endpoint,
    delivery: failure.delivery,
  };
  if (failure.cause !== undefined) ctx.cause = failure.cause;
  switch (failure.kind) {
    case 'timeout':
      return new TimeoutError(subject.timeoutMs, ctx);
    case 'aborted':
      if (subject.abortReason !== undefined) ctx.cause = subject.abortReason;
      return new AbortedError('request aborted', ctx);
    case 'closed':
      return new ClosedError(
        failure.delivery === 'sent'
          ? `connection to overlayd ended before the response arrived${failure.cause ? `: ${failure.cause.message}` : ''}`
          : failure.cause === undefined
            ? 'client closed'
            : 'connection to overlayd ended and auto-reconnect is off',
        ctx,
      );
    case 'connect':
      return new ConnectError(failure.attempts ?? 1, ctx);
    case 'queueFull':
      return new QueueFullError(subject.queueLimit, ctx);
    case 'undecodable':
      return new CodecError(
        `response could not be decoded${failure.cause ? `: ${failure.cause.message}` : ''}`,
        ctx,
      );
    case 'unreadable':
      return new CodecError(
        `overlayd sent a frame that could not be read while the request waited: ${failure.cause?.message ?? 'unknown reason'}`,
        ctx,
      );
    case 'protocol':
      return new ProtocolError(
        failure.cause?.message ?? 'overlayd broke the protocol while the request waited',
        ctx,
      );
    case 'notConnected':
      return new ClosedError('not connected to overlayd and auto-reconnect is off', ctx);
  }
}
