/**
 * Types of the connection statechart: its context, the events it takes, the
 * events it emits to whoever hosts it, and its input.
 *
 * The context is plain, JSON-serializable data (no sockets, functions,
 * promises or bigints) so that the Stately inspector and our visualizer can
 * show it. Request ids appear as decimal strings because a u64 id may not fit
 * in a JS number. Request payloads and promise handles live with the host,
 * keyed by `token`.
 */
import type { OverlaydEvent } from '../src/protocol/index.js';
import type { BackoffOptions, ReconnectOption } from './backoff.js';
import type { Answer, ResponseRef } from './request-window.js';

export type { Answer, ResponseRef } from './request-window.js';

/** A request known to the machine: the host's token, its wire id and its op. */
export interface RequestRef {
  token: number;
  id: string;
  op: string;
}

/** A serializable summary of the last failure. */
export interface ErrorSummary {
  code: string;
  message: string;
}

export interface ConnectionStats {
  /** Requests written to a socket. */
  sent: number;
  /** Responses matched to a request in flight. */
  answered: number;
  /** Responses for a request we had given up on (timed out or aborted in flight). */
  late: number;
  /** Responses whose id was never ours, or no longer remembered. */
  unknown: number;
  /** Event frames received. */
  events: number;
  /** Frames that could not be decoded, events of a kind this client does not know, and frames a server must never send. */
  dropped: number;
  /** Connections established, the first one included. */
  connections: number;
}

export interface ConnectionContext {
  endpoint: string;
  /** Attempts made in the current connect cycle (reset when a connection is made). */
  attempt: number;
  /** Attempt budget of the current cycle; 0 after connecting when reconnect is off. */
  maxAttempts: number;
  /** Attempt budget of a reconnect cycle after a drop; 0 turns auto-reconnect off. */
  reconnectAttempts: number;
  /** How many requests may wait in `queue`. */
  queueLimit: number;
  /** How many written requests may be unanswered at once (1: the Rust client's one at a time). */
  maxInFlight: number;
  backoff: BackoffOptions;
  /** How long the current backoff sleeps before the next attempt; null outside `backoff`. */
  retryDelayMs: number | null;
  /** Requests not yet written, oldest first. */
  queue: RequestRef[];
  /** Requests written and not yet answered, oldest first (overlayd answers in this order). */
  inFlight: RequestRef[];
  /** Ids of in-flight requests we gave up on, newest last; their responses are late. */
  lateIds: string[];
  lastError: ErrorSummary | null;
  /** The connection is stuck: inside a received frame, or with written bytes the peer has not taken. */
  stuck: boolean;
  stats: ConnectionStats;
}

export interface ConnectionInput {
  endpoint: string;
  /** Attempt budget of a reconnect cycle after a drop (20 by default); 0 or `false` turns it off. */
  reconnectAttempts?: ReconnectOption;
  queueLimit?: number;
  /** Default 16; clamped to at least 1. */
  maxInFlight?: number;
  backoff?: Partial<BackoffOptions>;
}

/** Why the host gave up on a request. */
export type CancelReason = 'timeout' | 'aborted';

/** Events from the host (the client facade). */
export type HostEvent =
  | { type: 'connect'; maxAttempts?: number }
  | { type: 'close' }
  /** Requests made in the same tick, oldest first (never empty). */
  | { type: 'request.enqueue'; requests: RequestRef[] }
  | { type: 'request.cancel'; token: number; reason: CancelReason };

/** Events sent back by the socket actor. */
export type SocketEvent =
  | { type: 'socket.connected' }
  /** The responses decoded from one socket read, in order. */
  | { type: 'socket.responses'; responses: ResponseRef[] }
  | { type: 'socket.event'; event: OverlaydEvent }
  /** The server sent a request frame: a protocol violation. */
  | { type: 'socket.request'; id: string }
  /** A response frame naming `id` arrived whole, but its body could not be decoded. */
  | { type: 'socket.undecodable'; error: Error; id: string }
  /** A frame that cannot be tied to any id: not JSON, empty, no or unknown `frame` tag. */
  | { type: 'socket.unreadable'; error: Error }
  /** An event frame this client cannot decode (a kind it does not know: a newer overlayd). */
  | { type: 'socket.unknownEvent'; error: Error }
  /**
   * The connection ended. `unsent` lists requests handed to the socket whose
   * bytes provably never left (the write was refused whole): they may be sent again.
   */
  | { type: 'socket.closed'; error: Error; unsent?: number[] }
  /** The connection got stuck (inside a received frame, or writes not taken by the peer), or got going again. */
  | { type: 'socket.stuck'; stuck: boolean };

export type ConnectionEvent = HostEvent | SocketEvent;

/** What the socket actor accepts from the machine. */
export type SocketCommand = { type: 'write'; requests: readonly RequestRef[] };

/** How a request ended without a response. */
export type FailureKind =
  /** Its deadline passed. */
  | 'timeout'
  /** The caller's signal aborted it. */
  | 'aborted'
  /** The connection ended while it was in flight, or it was queued when the client closed. */
  | 'closed'
  /** Every connection attempt failed while it waited. */
  | 'connect'
  /** The queue was full when it arrived. */
  | 'queueFull'
  /** Its response could not be decoded. */
  | 'undecodable'
  /** A frame that could not be read at all arrived while it was the oldest in flight. */
  | 'unreadable'
  /** The server broke the protocol while it was in flight. */
  | 'protocol'
  /** The connection is down and auto-reconnect is off. */
  | 'notConnected';

/** Events the machine emits for its host: outcomes to deliver, facts to log. */
export type ConnectionEmitted =
  /** The requests one batch of responses answered, oldest first. */
  | { type: 'requests.answered'; answers: Answer[] }
  | {
      type: 'request.failed';
      token: number;
      kind: FailureKind;
      delivery: 'sent' | 'not-sent';
      cause?: Error | undefined;
      attempts?: number;
    }
  | { type: 'connected'; reconnect: boolean }
  | { type: 'connect.failed'; attempts: number; cause: Error | undefined }
  | { type: 'overlayd.event'; event: OverlaydEvent }
  | {
      type: 'frame.skipped';
      reason: 'late' | 'unknown' | 'undecodable' | 'unreadable' | 'event' | 'request';
      id?: string;
      expected?: string;
      error?: Error;
    };
