/**
 * What every span and metric of the instrumentation shares: the scope name,
 * how a failure is put on a span, and the subscriptions it holds (each
 * handing back the call that removes it, for `disable()`).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Span, SpanStatusCode } from '@opentelemetry/api';
import { errorCode } from '../diagnostics/error-code.js';
import { DELIVERY, ERROR_TYPE } from './attributes.js';

/** The instrumentation scope (tracer and meter name). */
export const SCOPE = 'overlayd-client';

/** Removes what was subscribed. */
export type Disable = () => void;

/** Subscribe `handler` to the named channel; returns its removal. */
export function listen(name: string, handler: (message: unknown) => void): Disable {
  subscribe(name, handler);
  return () => {
    unsubscribe(name, handler);
  };
}

/** A failed operation, as a span and `error.type` see it. */
export interface Failure {
  /** The OverlaydError's `code` (OVERLAYD_TIMEOUT, …), or the error's name. */
  code: string;
  message: string;
  delivery?: string | undefined;
  /** The error itself, recorded as the span's exception event. */
  exception?: Error;
}

/** The failure an error describes: its `code` when it has one (every OverlaydError does). */
export function failureOfError(error: unknown): Failure {
  if (!(error instanceof Error)) return { code: 'Error', message: String(error) };
  const { delivery } = error as { delivery?: unknown };
  return {
    code: errorCode(error) ?? error.name,
    message: error.message,
    delivery: typeof delivery === 'string' ? delivery : undefined,
    exception: error,
  };
}

/** Mark the span failed: status ERROR, `error.type`, `overlayd.delivery` when known, the exception. */
export function markFailed(span: Span, failure: Failure): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
  span.setAttribute(ERROR_TYPE, failure.code);
  if (failure.delivery !== undefined) span.setAttribute(DELIVERY, failure.delivery);
  if (failure.exception !== undefined) span.recordException(failure.exception);
}

/** Seconds since `startedAt` (a `performance.now()` reading), for histograms in `s`. */
export function secondsSince(startedAt: number): number {
  return (performance.now() - startedAt) / 1000;
}
