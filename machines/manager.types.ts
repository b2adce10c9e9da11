/**
 * Types of the overlay manager's statechart: its context, the events it
 * takes from its host (the OverlayManager facade) and from the resync actor,
 * and the events it emits.
 *
 * Like the connection machine's, the context is plain JSON so that the
 * inspector and the visualizer can show it. What the daemon declared (the
 * record) stays with the facade; the context holds its counts.
 */
import type { BackoffOptions } from './backoff.js';

/** How many things of each kind the daemon has declared and overlayd accepted. */
export interface DeclaredCounts {
  identity: number;
  globalOverlay: number;
  serviceOverlays: number;
  peers: number;
  allowedIps: number;
  dns: number;
  attachments: number;
}

/** One request the resync sent to bring overlayd back to the declared state. */
export interface ReappliedStep {
  /** The dependency layer: identity, globalOverlay, serviceOverlays, peers, dns, attachments. */
  layer: keyof DeclaredCounts;
  /** What it did, e.g. `add_peer service web <key>`. */
  step: string;
}

/** The outcome of a completed resync. */
export interface ResyncReport {
  /** Whether `status` showed a new overlayd (empty) or the one we knew. */
  overlayd: 'restarted' | 'same';
  reapplied: ReappliedStep[];
  durationMs: number;
}

/** Why a resync stopped: the step and overlayd's answer (or the error). */
export interface ResyncFailure {
  step: string;
  /** overlayd's `err` message, when it refused. */
  answer?: string;
  /** The error's code (`OVERLAYD_OVERLAY`, `OVERLAYD_TIMEOUT`, …) and message. */
  code: string;
  message: string;
}

export interface ManagerContext {
  endpoint: string;
  /** Attempts of each connect cycle the manager starts (the connect budget of a call). */
  connectAttempts: number;
  /** Whether the manager keeps reconnecting in the background while overlayd is unreachable. */
  heals: boolean;
  /** Background connect cycles that failed since the last connection (the retry's place on the schedule). */
  reconnectTries: number;
  /** The schedule of those background retries (the connection's backoff). */
  reconnectBackoff: BackoffOptions;
  declared: DeclaredCounts;
  /** Failed resyncs in a row (the retry's place on the backoff schedule). */
  failures: number;
  /** Resyncs completed. */
  resyncs: number;
  lastResync: ResyncReport | null;
  lastFailure: ResyncFailure | null;
  backoff: BackoffOptions;
}

export interface ManagerInput {
  endpoint: string;
  /** Attempts of each connect cycle the manager starts (default 6, as upstream). */
  connectAttempts?: number;
  /** Keep reconnecting in the background while overlayd is unreachable (default true). */
  heals?: boolean;
  /** The schedule of background reconnects (default: the connection's default backoff). */
  reconnectBackoff?: Partial<BackoffOptions>;
  /** The schedule of retries after a refused re-apply (default: the connection's backoff). */
  backoff?: Partial<BackoffOptions>;
}

/** Events from the host: what its client's connection did, what the daemon declared. */
export type ManagerHostEvent =
  /** The client is connected (first time, or again after a drop). */
  | { type: 'connection.up' }
  /** The connection dropped; the client is trying again. */
  | { type: 'connection.down' }
  /** The client's connect cycle failed: overlayd is unreachable. */
  | { type: 'connection.lost' }
  /**
   * Something needs overlayd (a call, or `open`): start a connect cycle if
   * none is running. `maxAttempts` overrides the connect budget.
   */
  | { type: 'connect'; maxAttempts?: number }
  | { type: 'record.changed'; declared: DeclaredCounts }
  | { type: 'close' };

/** Events from the resync actor. */
export type ResyncEvent =
  | { type: 'resync.done'; report: ResyncReport }
  | { type: 'resync.failed'; failure: ResyncFailure };

export type ManagerMachineEvent = ManagerHostEvent | ResyncEvent;

/** Emitted for the host. */
export type ManagerEmitted =
  /** The host is to start a connect cycle of `maxAttempts` attempts (the chart decides when). */
  | { type: 'connect'; maxAttempts: number }
  | { type: 'resynced'; report: ResyncReport }
  | { type: 'resyncFailed'; failure: ResyncFailure; retryInMs: number };
