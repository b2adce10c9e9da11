/**
 * The `node:diagnostics_channel` channels this package publishes on: their
 * names, the shape of what each carries, and the channel objects, created
 * once when this module loads (a channel looked up per request would cost a
 * map lookup on the hot path).
 *
 * Tracing channels follow Node's TracingChannel lifecycle: `start` (in the
 * caller's async context), `end` (the synchronous part returned), then on
 * settlement `error` (failure only), `asyncStart` and `asyncEnd`. Subscribers
 * end their span on `asyncEnd`, or on `error`/`end` when `asyncEnd` never
 * comes (a call that threw synchronously).
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';
import type { ManagerState } from '../../machines/manager.machine.js';
import type { ResyncReport } from '../../machines/manager.types.js';
import type { ClientState } from '../client/state.js';
import type { OverlaydError, ResyncError } from '../errors.js';
import type { OverlaydRequestInput, OverlaydResponse } from '../protocol/index.js';

/** Prefix of the tracing channel `overlayd-client:request` (Node appends `:start`, `:end`, …). */
export const REQUEST_CHANNEL = 'overlayd-client:request';
export const CONNECT_CHANNEL = 'overlayd-client:connect';
export const RESYNC_CHANNEL = 'overlayd-client:resync';
export const CONNECTION_READY_CHANNEL = 'overlayd-client:connection:ready';
export const CONNECTION_CLOSED_CHANNEL = 'overlayd-client:connection:closed';
export const FRAME_SKIPPED_CHANNEL = 'overlayd-client:frame:skipped';
export const REQUEST_WRITTEN_CHANNEL = 'overlayd-client:request:written';
export const REQUEST_REQUEUED_CHANNEL = 'overlayd-client:request:requeued';
export const QUEUE_FULL_CHANNEL = 'overlayd-client:queue:full';
export const CONNECTION_STATE_CHANNEL = 'overlayd-client:connection:state';
export const MANAGER_STATE_CHANNEL = 'overlayd-client:manager:state';

/** One request, from the call to its settlement. */
export interface RequestTraceContext {
  op: string;
  /** The request id, as a decimal string (ids reach 2^64 − 1). */
  id: string;
  endpoint: string;
  /** The request as the caller passed it. */
  request: OverlaydRequestInput;
  /** overlayd's answer (set by Node on success; `request()` resolves `err` answers too). */
  result?: OverlaydResponse;
  /** The failure (set by Node): an OverlaydError with `code` and `delivery`. */
  error?: OverlaydError;
}

/** One connection attempt, from its start to the socket's `connect` or its failure. */
export interface ConnectTraceContext {
  endpoint: string;
  /** 1 for the first attempt of a connect cycle. */
  attempt: number;
  maxAttempts: number;
  error?: OverlaydError;
}

/** One manager resync after a (re)connect, from its start to its report. */
export interface ResyncTraceContext {
  endpoint: string;
  /**
   * Whether `status` showed a new, empty overlayd; known once `status` is
   * answered, so undefined at `start` and when the resync failed before it.
   */
  restarted: boolean | undefined;
  /** The report: the re-applied steps and the duration. */
  result?: ResyncReport;
  /** Why the resync stopped; its `step` is the step that failed. */
  error?: ResyncError;
}

export interface ConnectionReadyMessage {
  endpoint: string;
  /** False for the first connection of a connect cycle the host asked for. */
  reconnect: boolean;
}

export interface ConnectionClosedMessage {
  endpoint: string;
  /** Why it ended; absent when the client closed it. */
  error?: OverlaydError;
  /** Whether the socket had connected (false: a failed attempt). */
  wasConnected: boolean;
}

/** A frame the client skipped: what the `logger` is told, with the endpoint. */
export interface FrameSkippedMessage {
  endpoint: string;
  reason: 'late' | 'unknown' | 'undecodable' | 'unreadable' | 'event' | 'request';
  message: string;
  /** The frame's id, for responses. */
  id?: string;
  expected?: string;
  error?: Error;
}

/**
 * The connection chart moved to another state (as `client.state` names it).
 * `connected` ⇄ `awaitingResponse` happens around every request.
 */
export interface ConnectionStateMessage {
  endpoint: string;
  state: ClientState;
  /** The state before; undefined for the first message after subscribing. */
  previous: ClientState | undefined;
}

/**
 * The manager's chart moved to another state (as `manager.state` names it):
 * connecting, synced, reconnecting, offline and so on, the daemon's view of
 * overlayd. Rare: a few per outage.
 */
export interface ManagerStateMessage {
  endpoint: string;
  state: ManagerState;
  previous: ManagerState;
}

/** A request refused because the queue was full. */
export interface QueueFullMessage {
  endpoint: string;
  op: string;
  limit: number;
}

export const requestChannel = tracingChannel<unknown, RequestTraceContext>(REQUEST_CHANNEL);
export const connectChannel = tracingChannel<unknown, ConnectTraceContext>(CONNECT_CHANNEL);
export const resyncChannel = tracingChannel<unknown, ResyncTraceContext>(RESYNC_CHANNEL);
export const connectionReadyChannel = channel(CONNECTION_READY_CHANNEL);
export const connectionClosedChannel = channel(CONNECTION_CLOSED_CHANNEL);
export const frameSkippedChannel = channel(FRAME_SKIPPED_CHANNEL);
/** Carries the request's RequestTraceContext when its bytes are handed to the socket. */
export const requestWrittenChannel = channel(REQUEST_WRITTEN_CHANNEL);
/** Carries the RequestTraceContext of a request whose write was refused whole: queued again. */
export const requestRequeuedChannel = channel(REQUEST_REQUEUED_CHANNEL);
export const queueFullChannel = channel(QUEUE_FULL_CHANNEL);
export const connectionStateChannel = channel(CONNECTION_STATE_CHANNEL);
export const managerStateChannel = channel(MANAGER_STATE_CHANNEL);
