/**
 * The overlay manager's statechart: the life of the daemon's view of overlayd.
 *
 * ```
 * idle ──connect (the first call, or open)──▶ connecting   (emits connect: the host dials)
 * connecting | reconnecting | offline ──connection.up [hasNothingDeclared]──▶ synced
 *                                      ──connection.up──▶ reconciling
 * reconciling (invokes resync: observe status, re-apply what is missing)
 *            ──resync.done──▶ synced
 *            ──resync.failed──▶ degraded
 * degraded ──after retryDelay──▶ reconciling
 * reconciling | synced | degraded ──connection.down──▶ reconnecting
 * connecting | reconnecting | reconciling | synced | degraded
 *            ──connection.lost (a connect cycle failed)──▶ offline
 * offline ──connect (a call)──▶ reconnecting               (emits connect)
 *         ──after reconnectDelay [heals]──▶ reconnecting   (emits connect: healing in the background)
 * any ──close──▶ closed (final)
 * ```
 *
 * The machine decides when the manager dials (`connect` is emitted only
 * where no connect cycle runs), when the declared state is re-applied, and
 * when calls may go out (only in `synced`). The host (`OverlayManager`)
 * holds the record, dials when told, runs the calls and provides the
 * `resync` actor, which reports back with `resync.done` or `resync.failed`.
 * Leaving `reconciling` stops the resync actor, which aborts the requests
 * it has not sent. While `offline` the manager keeps dialling on the backoff
 * schedule, capped at its maximum, for as long as it is open, so an overlayd
 * that comes back after any outage is brought back to the declared state
 * without a call.
 */
import { assign, type EventObject, emit, fromCallback, setup } from 'xstate';
import { type BackoffOptions, backoffDelay, clampAttempts, DEFAULT_BACKOFF } from './backoff.js';
import type {
  DeclaredCounts,
  ManagerContext,
  ManagerEmitted,
  ManagerInput,
  ManagerMachineEvent,
  ResyncEvent,
} from './manager.types.js';

/** The upstream manager's connect budget: 6 attempts, about 2.5 s against a dead socket. */
export const MANAGER_CONNECT_ATTEMPTS = 6;

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

/** Where a new connection leads: straight to synced when there is nothing to re-apply. */
const CONNECTED = [
  { guard: 'hasNothingDeclared', target: 'synced' },
  { target: 'reconciling', actions: 'resetFailures' },
] as const;

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
    /** The wait before the next background connect cycle, on the backoff schedule. */
    reconnectDelay: ({ context }) =>
      backoffDelay(context.reconnectTries + 1, context.reconnectBackoff),
  },
  guards: {
    hasNothingDeclared: ({ context }) => total(context.declared) === 0,
    heals: ({ context }) => context.heals,
  },
  actions: {
    updateDeclared: assign({
      declared: ({ event }) => (event as Event<'record.changed'>).declared,
    }),
    recordResynced: assign(({ context, event }) => ({
      resyncs: context.resyncs + 1,
      lastResync: (event as Event<'resync.done'>).report,
    })),
    /** Synced: nothing is failing any more, and the next failure starts the schedules over. */
    clearFailure: assign({ failures: 0, lastFailure: null, reconnectTries: 0 }),
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
    /** A new connection: both retry schedules start over. */
    resetFailures: assign({ failures: 0, reconnectTries: 0 }),
    /** Tell the host to dial: a cycle of the connect budget, or of the attempts asked for. */
    requestConnect: emit(({ context, event }) => ({
      type: 'connect' as const,
      maxAttempts:
        event.type === 'connect' && event.maxAttempts !== undefined
          ? clampAttempts(event.maxAttempts)
          : context.connectAttempts,
    })),
    countReconnectTry: assign({ reconnectTries: ({ context }) => context.reconnectTries + 1 }),
  },
}).createMachine({
  id: 'overlayManager',
  context: ({ input }) => ({
    endpoint: input.endpoint,
    connectAttempts: clampAttempts(input.connectAttempts ?? MANAGER_CONNECT_ATTEMPTS),
    heals: input.heals ?? true,
    reconnectTries: 0,
    reconnectBackoff: { ...DEFAULT_BACKOFF, ...input.reconnectBackoff } satisfies BackoffOptions,
    declared: { ...NOTHING_DECLARED },
    failures: 0,
    resyncs: 0,
    lastResync: null,
    lastFailure: null,
    backoff: { ...DEFAULT_BACKOFF, ...input.backoff } satisfies BackoffOptions,
  }),
  initial: 'idle',
  on: {
    close: { target: '.closed' },
    'record.changed': { actions: 'updateDeclared' },
  },
  states: {
    idle: {
      on: {
        connect: { target: 'connecting', actions: 'requestConnect' },
      },
    },
    connecting: {
      on: {
        'connection.up': CONNECTED,
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
        'connection.up': CONNECTED,
        'connection.lost': { target: 'offline' },
      },
    },
    offline: {
      after: {
        reconnectDelay: {
          guard: 'heals',
          target: 'reconnecting',
          actions: ['countReconnectTry', 'requestConnect'],
        },
      },
      on: {
        connect: { target: 'reconnecting', actions: 'requestConnect' },
        // The client may come back on its own (a request of someone else's).
        'connection.up': CONNECTED,
      },
    },
    closed: {
      type: 'final',
    },
  },
});

/** The manager's state as one word. */
export type ManagerState =
  | 'idle'
  | 'connecting'
  | 'reconciling'
  | 'synced'
  | 'degraded'
  | 'reconnecting'
  | 'offline'
  | 'closed';
