/**
 * The TracingChannel lifecycle published by hand, for the traces that do not
 * fit `tracePromise`: a connect attempt (its outcome is a socket event, not a
 * promise) and a resync (its promise resolves with the failure as a value).
 * The order is the one `tracePromise` publishes, so a subscriber written for
 * one handles the other: `start`, `end`, then `error` (on failure),
 * `asyncStart` and `asyncEnd`.
 */
import type { TracingChannel } from 'node:diagnostics_channel';

/**
 * Whether anyone listens on any of the trace's channels. TracingChannel's own
 * `hasSubscribers` arrived in Node 20.13; this is the same test, on every
 * Node line this package supports.
 */
export function isTraced(trace: TracingChannel<unknown, object>): boolean {
  return (
    trace.start.hasSubscribers ||
    trace.end.hasSubscribers ||
    trace.asyncStart.hasSubscribers ||
    trace.asyncEnd.hasSubscribers ||
    trace.error.hasSubscribers
  );
}

/**
 * Publish `start`, run `begin` with the trace's stores bound (the context a
 * subscriber's `bindStore` derives), publish `end`, and return what `begin` returned.
 */
export function beginTrace<C extends object, R>(
  trace: TracingChannel<unknown, C>,
  context: C,
  begin: () => R,
): R {
  try {
    return trace.start.runStores(context, begin);
  } finally {
    trace.end.publish(context);
  }
}

/** Publish the settlement: `error` first when there is one, then `asyncStart` and `asyncEnd`. */
export function settleTrace<C extends { error?: unknown }>(
  trace: TracingChannel<unknown, C>,
  context: C,
  error?: NonNullable<C['error']>,
): void {
  if (error !== undefined) {
    context.error = error;
    trace.error.publish(context);
  }
  trace.asyncStart.publish(context);
  trace.asyncEnd.publish(context);
}
