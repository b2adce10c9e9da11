/**
 * Traces a manager resync on `overlayd-client:resync`. The manager's resync
 * resolves with its outcome as a value (`resync.done` or `resync.failed`),
 * never rejecting, so the lifecycle is published by hand: a failed resync
 * becomes the trace's error, a ResyncError naming the step that failed.
 */
import type { ResyncEvent, ResyncFailure } from '../../machines/manager.types.js';
import { ResyncError } from '../errors.js';
import { type ResyncTraceContext, resyncChannel } from './channels.js';
import { beginTrace, isTraced, settleTrace } from './lifecycle.js';

/** Run `resync` (the manager's), traced when anyone listens; resolves with its outcome unchanged. */
export function traceResync(
  endpoint: string,
  resync: () => Promise<ResyncEvent>,
): Promise<ResyncEvent> {
  if (!isTraced(resyncChannel)) return resync();
  const context: ResyncTraceContext = { endpoint, restarted: undefined };
  const outcome = beginTrace(resyncChannel, context, resync);
  return outcome.then(
    (event) => {
      if (event.type === 'resync.done') {
        context.restarted = event.report.overlayd === 'restarted';
        context.result = event.report;
        settleTrace(resyncChannel, context);
      } else {
        settleTrace(resyncChannel, context, resyncErrorOf(event.failure, endpoint));
      }
      return event;
    },
    (error: unknown) => {
      // The manager's resync catches its failures; this is for one that did not.
      settleTrace(
        resyncChannel,
        context,
        new ResyncError('resync', String(error), { endpoint, cause: error }),
      );
      throw error;
    },
  );
}

function resyncErrorOf(failure: ResyncFailure, endpoint: string): ResyncError {
  const reason =
    failure.answer !== undefined ? `overlayd answered err: ${failure.answer}` : failure.message;
  return new ResyncError(failure.step, reason, { endpoint });
}
