/**
 * What one socket tells the diagnostics channels: its connect attempt on the
 * `overlayd-client:connect` trace (started when the socket actor starts,
 * settled at the socket's `connect` or at its end, whichever comes first)
 * and its end on `overlayd-client:connection:closed`.
 */
import type { SocketActorInput } from '../../machines/connection.machine.js';
import {
  type ConnectionClosedMessage,
  type ConnectTraceContext,
  connectChannel,
  connectionClosedChannel,
} from '../diagnostics/channels.js';
import { beginTrace, isTraced, settleTrace } from '../diagnostics/lifecycle.js';
import type { OverlaydError } from '../errors.js';

export interface AttemptTrace {
  /** The socket connected: the attempt succeeded. */
  connected(): void;
  /** The socket ended; `byClient` when the client closed it (no error to report). */
  ended(reason: OverlaydError, byClient: boolean): void;
}

const nothingToRun = () => undefined;

/** Start tracing one socket's attempt (a no-op trace when nobody listens). */
export function traceAttempt(input: SocketActorInput): AttemptTrace {
  const { endpoint } = input;
  let pending: ConnectTraceContext | undefined;
  if (isTraced(connectChannel)) {
    pending = { endpoint, attempt: input.attempt, maxAttempts: input.maxAttempts };
    beginTrace(connectChannel, pending, nothingToRun);
  }
  let wasConnected = false;
  return {
    connected() {
      wasConnected = true;
      if (pending === undefined) return;
      settleTrace(connectChannel, pending);
      pending = undefined;
    },
    ended(reason, byClient) {
      if (pending !== undefined) {
        // Ended before it connected: the attempt failed (or was given up when the client closed).
        settleTrace(connectChannel, pending, reason);
        pending = undefined;
      }
      if (!connectionClosedChannel.hasSubscribers) return;
      const message: ConnectionClosedMessage = byClient
        ? { endpoint, wasConnected }
        : { endpoint, error: reason, wasConnected };
      connectionClosedChannel.publish(message);
    },
  };
}
