/**
 * The overlayd connection statechart.
 *
 * ```
 * idle ──connect──▶ session.connecting
 * session (invokes the socket actor; connecting/connected/awaitingResponse share it)
 *   connecting ──socket.connected──▶ connected | awaitingResponse (queue not empty)
 *   connected ──request.enqueue──▶ awaitingResponse (written at once)
 *   awaitingResponse ──response for the in-flight id──▶ connected | awaitingResponse (next written)
 *                    ──request.cancel of the in-flight one──▶ connected | awaitingResponse
 *                    ──request.cancel of the in-flight one while stuck──▶ backoff | failed
 *   connecting ──socket.closed──▶ backoff [hasAttemptsLeft] | failed (no sleep after the final attempt)
 * session ──socket.closed (a live connection dropped)──▶ backoff [canAutoReconnect] | failed
 * backoff ──after backoffDelay──▶ session.connecting
 * failed ──connect, or a request with auto-reconnect on──▶ session.connecting
 * any ──close──▶ closed (final)
 * ```
 *
 * The machine knows nothing of `net`: the socket actor is provided by the
 * host (`machine.provide({ actors: { socket } })`), and outcomes leave the
 * machine as emitted events (`actor.on('request.answered', …)`), so the host
 * settles its promises without the machine holding any.
 *
 * Request deadlines are not `after` transitions: the host runs one timer per
 * request covering queue wait and response, and sends `request.cancel`. An
 * `after` in awaitingResponse would only cover the response, and would arm and
 * clear a scheduler entry on every request on top of the host's timer.
 */
import { and, assign, emit, enqueueActions, fromCallback, setup } from 'xstate';
import { type BackoffOptions, backoffDelay, clampAttempts, DEFAULT_BACKOFF } from './backoff.js';
import type {
  ConnectionContext,
  ConnectionEmitted,
  ConnectionEvent,
  ConnectionInput,
  ErrorSummary,
  RequestRef,
  SocketCommand,
  SocketEvent,
} from './connection.types.js';

/** What the socket actor is given: where to connect. */
export interface SocketActorInput {
  endpoint: string;
}

/** Why a stuck connection is dropped when its in-flight request is given up. */
const STALL_MESSAGE = 'overlayd stopped inside a frame or stopped reading';

/** How many given-up ids are remembered, to tell late responses from unknown ones. */
export const LATE_IDS_REMEMBERED = 64;
export const DEFAULT_QUEUE_LIMIT = 1024;
export const DEFAULT_RECONNECT_ATTEMPTS = 20;

/** Placeholder socket actor: the host must provide a real one. */
const unprovidedSocket = fromCallback<SocketCommand, SocketActorInput, SocketEvent>(
  ({ sendBack }) => {
    sendBack({
      type: 'socket.closed',
      error: new Error('no socket actor provided to the connection machine'),
    });
  },
);

function summarize(error: unknown): ErrorSummary {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : error.name, message: error.message };
  }
  return { code: 'UNKNOWN', message: String(error) };
}

function remember(lateIds: string[], id: string): string[] {
  const kept = lateIds.length >= LATE_IDS_REMEMBERED ? lateIds.slice(1) : lateIds.slice();
  kept.push(id);
  return kept;
}

type Event<T extends ConnectionEvent['type']> = Extract<ConnectionEvent, { type: T }>;

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    emitted: {} as ConnectionEmitted,
    input: {} as ConnectionInput,
    children: {} as { socket: 'socket' },
  },
  actors: {
    socket: unprovidedSocket,
  },
  delays: {
    /** The sleep before the next attempt, from the attempts made so far in this cycle. */
    backoffDelay: ({ context }) => backoffDelay(context.attempt, context.backoff),
  },
  guards: {
    hasAttemptsLeft: ({ context }) => context.attempt < context.maxAttempts,
    hasQueued: ({ context }) => context.queue.length > 0,
    isQueueFull: ({ context }) => context.queue.length >= context.queueLimit,
    canAutoReconnect: ({ context }) => context.reconnectAttempts > 0,
    isInFlightResponse: ({ context, event }) =>
      (event as Event<'socket.response'>).id === context.inFlight?.id,
    isInFlightUndecodable: ({ context, event }) =>
      (event as Event<'socket.undecodable'>).id === context.inFlight?.id,
    isLateResponse: ({ context, event }) =>
      context.lateIds.includes((event as Event<'socket.response'>).id),
    isInFlightToken: ({ context, event }) =>
      (event as Event<'request.cancel'>).token === context.inFlight?.token,
    isStuck: ({ context }) => context.stuck,
    isQueuedToken: ({ context, event }) => {
      const token = (event as Event<'request.cancel'>).token;
      return context.queue.some((queued) => queued.token === token);
    },
  },
  actions: {
    /** Begin a connect cycle with the attempt budget the host asked for. */
    startCycle: assign(({ context, event }) => ({
      attempt: 0,
      maxAttempts:
        event.type === 'connect' && event.maxAttempts !== undefined
          ? clampAttempts(event.maxAttempts)
          : clampAttempts(context.reconnectAttempts),
    })),
    /** A reconnect cycle after a drop: its budget is the reconnect budget. */
    startReconnectCycle: assign(({ context }) => ({
      attempt: 0,
      maxAttempts: context.reconnectAttempts,
    })),
    countAttempt: assign({ attempt: ({ context }) => context.attempt + 1, stuck: false }),
    trackStuck: assign({ stuck: ({ event }) => (event as Event<'socket.stuck'>).stuck }),
    /** The connection is being dropped: nothing is in flight on the next one. */
    recordStall: assign({
      inFlight: null,
      lastError: {
        code: 'OVERLAYD_IO',
        message: `connection dropped: ${STALL_MESSAGE}`,
      },
    }),
    markConnected: assign(({ context }) => ({
      attempt: 0,
      lastError: null,
      // Responses from an earlier connection cannot arrive on this one.
      lateIds: [],
      stats: { ...context.stats, connections: context.stats.connections + 1 },
    })),
    announceConnected: emit(({ context }) => ({
      type: 'connected' as const,
      reconnect: context.stats.connections > 1,
    })),
    recordError: assign({
      lastError: ({ event }) => summarize((event as Event<'socket.closed'>).error),
    }),
    enqueueRequest: assign({
      queue: ({ context, event }) => [
        ...context.queue,
        (event as Event<'request.enqueue'>).request,
      ],
    }),
    refuseRequest: emit(({ event }, params: { kind: 'queueFull' | 'notConnected' }) => ({
      type: 'request.failed' as const,
      token: (event as Event<'request.enqueue'>).request.token,
      kind: params.kind,
      delivery: 'not-sent' as const,
    })),
    /** Connected with nothing queued: the arriving request goes straight out. */
    dispatchArriving: assign(({ context, event }) => ({
      inFlight: (event as Event<'request.enqueue'>).request,
      stats: { ...context.stats, sent: context.stats.sent + 1 },
    })),
    /** Take the oldest queued request as the one in flight. */
    dispatchNext: assign(({ context }) => ({
      inFlight: context.queue[0] ?? null,
      queue: context.queue.slice(1),
      stats: { ...context.stats, sent: context.stats.sent + 1 },
    })),
    /**
     * Tell the socket actor to write the request in flight. Sent at once from
     * within the transition, not deferred like `sendTo` (which relays after the
     * macrostep): the bytes leave before the rest of the step is computed, and
     * the step skips sendTo's resolve and defer. The socket actor is a child
     * of `session`, which every state that writes is inside.
     */
    writeInFlight: ({ context, self }) => {
      const socket = self.getSnapshot().children.socket;
      // Like sendTo, fail the step (the actor errors) if there is no socket to write to.
      if (socket === undefined) throw new Error('writeInFlight: no socket actor');
      socket.send({ type: 'write', token: (context.inFlight as RequestRef).token });
    },
    answerInFlight: emit(({ context, event }) => ({
      type: 'request.answered' as const,
      token: (context.inFlight as RequestRef).token,
      response: (event as Event<'socket.response'>).response,
    })),
    completeInFlight: assign(({ context }) => ({
      inFlight: null,
      stats: { ...context.stats, answered: context.stats.answered + 1 },
    })),
    /** The host gave up on the request in flight: fail it, and expect its response late. */
    abandonInFlight: emit(({ context, event }) => ({
      type: 'request.failed' as const,
      token: (context.inFlight as RequestRef).token,
      kind: (event as Event<'request.cancel'>).reason,
      delivery: 'sent' as const,
    })),
    forgetInFlightAsLate: assign(({ context }) => ({
      inFlight: null,
      lateIds: remember(context.lateIds, (context.inFlight as RequestRef).id),
    })),
    failInFlightUndecodable: emit(({ context, event }) => ({
      type: 'request.failed' as const,
      token: (context.inFlight as RequestRef).token,
      kind: 'undecodable' as const,
      delivery: 'sent' as const,
      cause: (event as Event<'socket.undecodable'>).error,
    })),
    failInFlightProtocol: emit(({ context, event }) => ({
      type: 'request.failed' as const,
      token: (context.inFlight as RequestRef).token,
      kind: 'protocol' as const,
      delivery: 'sent' as const,
      cause: new Error(
        `overlayd sent a request frame (id ${(event as Event<'socket.request'>).id}) to a client`,
      ),
    })),
    /** The connection ended with a request written: it may have run; it is never re-sent. */
    failInFlight: enqueueActions(({ context, event, enqueue }) => {
      if (context.inFlight === null) return;
      enqueue.emit({
        type: 'request.failed',
        token: context.inFlight.token,
        kind: 'closed',
        delivery: 'sent',
        cause: (event as Event<'socket.closed'>).error,
      });
      enqueue.assign({ inFlight: null });
    }),
    /** The host gave up on a queued request: it leaves the queue unsent. */
    dropQueued: enqueueActions(({ context, event, enqueue }) => {
      const cancel = event as Event<'request.cancel'>;
      enqueue.emit({
        type: 'request.failed',
        token: cancel.token,
        kind: cancel.reason,
        delivery: 'not-sent',
      });
      enqueue.assign({ queue: context.queue.filter((queued) => queued.token !== cancel.token) });
    }),
    /** No connection is coming: every queued request fails, none was written. */
    failQueued: enqueueActions(
      ({ context, event, enqueue }, params: { kind: 'connect' | 'closed' }) => {
        const cause =
          event.type === 'socket.closed'
            ? event.error
            : new Error(`connection dropped: ${STALL_MESSAGE}, and auto-reconnect is off`);
        for (const queued of context.queue) {
          enqueue.emit({
            type: 'request.failed',
            token: queued.token,
            kind: params.kind,
            delivery: 'not-sent',
            cause,
            attempts: context.attempt,
          });
        }
        enqueue.assign({ queue: [] });
      },
    ),
    announceConnectFailed: emit(({ context, event }) => ({
      type: 'connect.failed' as const,
      attempts: context.attempt,
      cause: (event as Event<'socket.closed'>).error,
    })),
    deliverEvent: emit(({ event }) => ({
      type: 'overlayd.event' as const,
      event: (event as Event<'socket.event'>).event,
    })),
    countEvent: assign({
      stats: ({ context }) => ({ ...context.stats, events: context.stats.events + 1 }),
    }),
    reportStrayResponse: emit(({ context, event }) => {
      const id = (event as Event<'socket.response'>).id;
      const reason = context.lateIds.includes(id) ? ('late' as const) : ('unknown' as const);
      return context.inFlight === null
        ? { type: 'frame.skipped' as const, reason, id }
        : { type: 'frame.skipped' as const, reason, id, expected: context.inFlight.id };
    }),
    countStrayResponse: assign(({ context, event }) => {
      const id = (event as Event<'socket.response'>).id;
      if (!context.lateIds.includes(id)) {
        return { stats: { ...context.stats, unknown: context.stats.unknown + 1 } };
      }
      return {
        lateIds: context.lateIds.filter((late) => late !== id),
        stats: { ...context.stats, late: context.stats.late + 1 },
      };
    }),
    reportDropped: emit(({ event }) => {
      if (event.type === 'socket.request') {
        return { type: 'frame.skipped' as const, reason: 'request' as const, id: event.id };
      }
      const undecodable = event as Event<'socket.undecodable'>;
      return undecodable.id === undefined
        ? {
            type: 'frame.skipped' as const,
            reason: 'undecodable' as const,
            error: undecodable.error,
          }
        : {
            type: 'frame.skipped' as const,
            reason: 'undecodable' as const,
            error: undecodable.error,
            id: undecodable.id,
          };
    }),
    countDropped: assign({
      stats: ({ context }) => ({ ...context.stats, dropped: context.stats.dropped + 1 }),
    }),
    /** On close: every request still held fails; the one in flight may have run. */
    failEverything: enqueueActions(({ context, enqueue }) => {
      if (context.inFlight !== null) {
        enqueue.emit({
          type: 'request.failed',
          token: context.inFlight.token,
          kind: 'closed',
          delivery: 'sent',
        });
      }
      for (const queued of context.queue) {
        enqueue.emit({
          type: 'request.failed',
          token: queued.token,
          kind: 'closed',
          delivery: 'not-sent',
        });
      }
      enqueue.assign({ inFlight: null, queue: [] });
    }),
  },
}).createMachine({
  id: 'overlaydConnection',
  context: ({ input }) => ({
    endpoint: input.endpoint,
    attempt: 0,
    maxAttempts: 0,
    reconnectAttempts: Math.max(
      0,
      Math.floor(input.reconnectAttempts ?? DEFAULT_RECONNECT_ATTEMPTS),
    ),
    queueLimit: Math.max(0, Math.floor(input.queueLimit ?? DEFAULT_QUEUE_LIMIT)),
    backoff: { ...DEFAULT_BACKOFF, ...input.backoff } satisfies BackoffOptions,
    queue: [],
    inFlight: null,
    lateIds: [],
    lastError: null,
    stuck: false,
    stats: { sent: 0, answered: 0, late: 0, unknown: 0, events: 0, dropped: 0, connections: 0 },
  }),
  initial: 'idle',
  on: {
    close: { target: '.closed' },
    'request.enqueue': [
      { guard: 'isQueueFull', actions: { type: 'refuseRequest', params: { kind: 'queueFull' } } },
      { actions: 'enqueueRequest' },
    ],
    'request.cancel': { guard: 'isQueuedToken', actions: 'dropQueued' },
  },
  states: {
    idle: {
      on: {
        connect: { target: 'session', actions: 'startCycle' },
      },
    },
    session: {
      initial: 'connecting',
      invoke: {
        id: 'socket',
        src: 'socket',
        input: ({ context }) => ({ endpoint: context.endpoint }),
      },
      on: {
        // A connection that was up dropped: the request in flight fails as
        // sent; queued ones wait for the reconnect, or fail when it is off.
        'socket.closed': [
          {
            guard: 'canAutoReconnect',
            target: 'backoff',
            actions: ['failInFlight', 'recordError', 'startReconnectCycle'],
          },
          {
            target: 'failed',
            actions: [
              'failInFlight',
              'recordError',
              { type: 'failQueued', params: { kind: 'closed' } },
            ],
          },
        ],
        'socket.response': { actions: ['reportStrayResponse', 'countStrayResponse'] },
        'socket.event': { actions: ['deliverEvent', 'countEvent'] },
        'socket.undecodable': { actions: ['reportDropped', 'countDropped'] },
        'socket.request': { actions: ['reportDropped', 'countDropped'] },
        'socket.stuck': { actions: 'trackStuck' },
      },
      states: {
        connecting: {
          entry: 'countAttempt',
          on: {
            // An attempt failed: sleep and retry while the budget lasts, never after the last one.
            'socket.closed': [
              {
                guard: 'hasAttemptsLeft',
                target: '#overlaydConnection.backoff',
                actions: 'recordError',
              },
              {
                target: '#overlaydConnection.failed',
                actions: [
                  'recordError',
                  'announceConnectFailed',
                  { type: 'failQueued', params: { kind: 'connect' } },
                ],
              },
            ],
            'socket.connected': [
              {
                guard: 'hasQueued',
                target: 'awaitingResponse',
                actions: ['markConnected', 'announceConnected', 'dispatchNext', 'writeInFlight'],
              },
              { target: 'connected', actions: ['markConnected', 'announceConnected'] },
            ],
          },
        },
        connected: {
          on: {
            'request.enqueue': {
              target: 'awaitingResponse',
              actions: ['dispatchArriving', 'writeInFlight'],
            },
          },
        },
        awaitingResponse: {
          on: {
            'socket.response': [
              {
                guard: and(['isInFlightResponse', 'hasQueued']),
                actions: ['answerInFlight', 'completeInFlight', 'dispatchNext', 'writeInFlight'],
              },
              {
                guard: 'isInFlightResponse',
                target: 'connected',
                actions: ['answerInFlight', 'completeInFlight'],
              },
            ],
            'request.cancel': [
              // Given up while the connection is stuck (inside a frame, or the peer
              // not reading): nothing written to it now could be answered.
              {
                guard: and(['isInFlightToken', 'isStuck', 'canAutoReconnect']),
                target: '#overlaydConnection.backoff',
                actions: ['abandonInFlight', 'recordStall', 'startReconnectCycle'],
              },
              {
                guard: and(['isInFlightToken', 'isStuck']),
                target: '#overlaydConnection.failed',
                actions: [
                  'abandonInFlight',
                  'recordStall',
                  { type: 'failQueued', params: { kind: 'closed' } },
                ],
              },
              {
                guard: and(['isInFlightToken', 'hasQueued']),
                actions: [
                  'abandonInFlight',
                  'forgetInFlightAsLate',
                  'dispatchNext',
                  'writeInFlight',
                ],
              },
              {
                guard: 'isInFlightToken',
                target: 'connected',
                actions: ['abandonInFlight', 'forgetInFlightAsLate'],
              },
            ],
            'socket.undecodable': [
              {
                guard: and(['isInFlightUndecodable', 'hasQueued']),
                actions: [
                  'failInFlightUndecodable',
                  'forgetInFlightAsLate',
                  'dispatchNext',
                  'writeInFlight',
                ],
              },
              {
                guard: 'isInFlightUndecodable',
                target: 'connected',
                actions: ['failInFlightUndecodable', 'forgetInFlightAsLate'],
              },
            ],
            // The Rust client fails the waiting request when the server sends a
            // request frame; its real response, if it comes, is then late.
            'socket.request': [
              {
                guard: 'hasQueued',
                actions: [
                  'reportDropped',
                  'countDropped',
                  'failInFlightProtocol',
                  'forgetInFlightAsLate',
                  'dispatchNext',
                  'writeInFlight',
                ],
              },
              {
                target: 'connected',
                actions: [
                  'reportDropped',
                  'countDropped',
                  'failInFlightProtocol',
                  'forgetInFlightAsLate',
                ],
              },
            ],
          },
        },
      },
    },
    backoff: {
      after: {
        backoffDelay: { target: 'session' },
      },
    },
    failed: {
      on: {
        connect: { target: 'session', actions: 'startCycle' },
        'request.enqueue': [
          {
            guard: 'canAutoReconnect',
            target: 'session',
            actions: ['startReconnectCycle', 'enqueueRequest'],
          },
          { actions: { type: 'refuseRequest', params: { kind: 'notConnected' } } },
        ],
      },
    },
    closed: {
      type: 'final',
      entry: 'failEverything',
    },
  },
});
