/**
 * The overlay manager's statechart: the life of the daemon's view of overlayd.
 *
 * ```
 * connecting ──connection.up [hasNothingDeclared]──▶ synced
 *            ──connection.up──▶ reconciling
 * reconciling (invokes resync: observe status, re-apply what is missing)
 *            ──resync.done──▶ synced
 *            ──resync.failed──▶ degraded
 * degraded ──after retryDelay──▶ reconciling
 * reconciling | synced | degraded ──connection.down──▶ reconnecting
 * reconnecting ──connection.up──▶ reconciling | synced [hasNothingDeclared]
 * any but offline and closed ──connection.lost (the client gave up)──▶ offline
 * offline ──reconnect──▶ reconnecting
 * any ──close──▶ closed (final)
 * ```
 *
 * The machine decides when the declared state is re-applied and when calls
 * may go out (only in `synced`); the host (`OverlayManager`) holds the
 * record, runs the calls and provides the `resync` actor, which reports back
 * with `resync.done` or `resync.failed`. Leaving `reconciling` stops the
 * resync actor, which aborts the requests it has not sent.
 */
import { assign, type EventObject, emit, fromCallback, setup } from 'xstate';
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import type {
  DeclaredCounts,
  ManagerContext,
  ManagerEmitted,
  ManagerInput,
  ManagerMachineEvent,
  ResyncEvent,
} from './manager.types.js';

export const NOTHING_DECLARED: Readonly<DeclaredCounts> = Object.freeze({
  identity: 0,
  globalOverlay: 0,
  serviceOverlays: 0,
  peers: 0,
  allowedIps: 0,
  dns: 0,
  attachments: 0,
});

/** What the resync actor is given. */
export interface ResyncInput {
  /** Which resync of this manager's life this is (1 for the first). */
  attempt: number;
}

/** Placeholder resync actor: the host must provide a real one. */
const unprovidedResync = fromCallback<EventObject, ResyncInput, ResyncEvent>(({ sendBack }) => {
  sendBack({
    type: 'resync.failed',
    failure: {
      step: 'resync',
      code: 'OVERLAYD_OTHER',
      message: 'no resync actor provided to the manager machine',
    },
  });
});

type Event<T extends ManagerMachineEvent['type']> = Extract<ManagerMachineEvent, { type: T }>;

function total(declared: DeclaredCounts): number {
  let sum = 0;
  for (const count of Object.values(declared)) sum += count;
  return sum;
}

export const managerMachine = setup({
  types: {
    context: {} as ManagerContext,
    events: {} as ManagerMachineEvent,
    emitted: {} as ManagerEmitted,
    input: {} as ManagerInput,
    children: {} as { resync: 'resync' },
  },
  actors: {
    resync: unprovidedResync,
  },
  delays: {
    /** The wait before re-trying a refused resync, on the backoff schedule. */
    retryDelay: ({ context }) => backoffDelay(context.failures, context.backoff),
  },
  guards: {
    hasNothingDeclared: ({ context }) => total(context.declared) === 0,
  },
  actions: {
    updateDeclared: assign({
      declared: ({ event }) => (event as Event<'record.changed'>).declared,
    }),
    recordResynced: assign(({ context, event }) => ({
      resyncs: context.resyncs + 1,
      lastResync: (event as Event<'resync.done'>).report,
    })),
    /** Synced: nothing is failing any more, and the next failure starts the schedule over. */
    clearFailure: assign({ failures: 0, lastFailure: null }),
    announceResynced: emit(({ event }) => ({
      type: 'resynced' as const,
      report: (event as Event<'resync.done'>).report,
    })),
    recordFailure: assign(({ context, event }) => ({
      failures: context.failures + 1,
      lastFailure: (event as Event<'resync.failed'>).failure,
    })),
    /** Runs after recordFailure, so the delay announced is the one the retry waits. */
    announceResyncFailed: emit(({ context }) => ({
      type: 'resyncFailed' as const,
      failure: context.lastFailure!,
      retryInMs: backoffDelay(context.failures, context.backoff),
    })),
    /** A new connection: the retry schedule starts over. */
    resetFailures: assign({ failures: 0 }),
  },
}).createMachine({
  id: 'overlayManager',
  context: ({ input }) => ({
    endpoint: input.endpoint,
    declared: { ...NOTHING_DECLARED },
    failures: 0,
    resyncs: 0,
    lastResync: null,
    lastFailure: null,
    backoff: { ...DEFAULT_BACKOFF, ...input.backoff } satisfies BackoffOptions,
  }),
  initial: 'connecting',
  on: {
    close: { target: '.closed' },
    'record.changed': { actions: 'updateDeclared' },
  },
  states: {
    connecting: {
      on: {
        'connection.up': [
          { guard: 'hasNothingDeclared', target: 'synced' },
          { target: 'reconciling' },
        ],
        'connection.lost': { target: 'offline' },
      },
    },
    reconciling: {
      invoke: {
        id: 'resync',
        src: 'resync',
        input: ({ context }) => ({ attempt: context.resyncs + context.failures + 1 }),
      },
      on: {
        'resync.done': { target: 'synced', actions: ['recordResynced', 'announceResynced'] },
        'resync.failed': {
          target: 'degraded',
          actions: ['recordFailure', 'announceResyncFailed'],
        },
        'connection.down': { target: 'reconnecting' },
        'connection.lost': { target: 'offline' },
      },
    },
    synced: {
      entry: 'clearFailure',
      on: {
        'connection.down': { target: 'reconnecting' },
        // With reconnect off, a drop goes straight to the client giving up.
        'connection.lost': { target: 'offline' },
      },
    },
    degraded: {
      after: {
        retryDelay: { target: 'reconciling' },
      },
      on: {
        'connection.down': { target: 'reconnecting' },
        'connection.lost': { target: 'offline' },
      },
    },
    reconnecting: {
      on: {
        'connection.up': [
          { guard: 'hasNothingDeclared', target: 'synced' },
          { target: 'reconciling', actions: 'resetFailures' },
        ],
        'connection.lost': { target: 'offline' },
      },
    },
    offline: {
      on: {
        reconnect: { target: 'reconnecting' },
        // The client may come back on its own (a request of someone else's).
        'connection.up': [
          { guard: 'hasNothingDeclared', target: 'synced' },
          { target: 'reconciling', actions: 'resetFailures' },
        ],
      },
    },
    closed: {
      type: 'final',
    },
  },
});

/** The manager's state as one word. */
export type ManagerState =
  | 'connecting'
  | 'reconciling'
  | 'synced'
  | 'degraded'
  | 'reconnecting'
  | 'offline'
  | 'closed';
