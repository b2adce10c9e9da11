/**
 * The overlayd connection statechart.
 *
 * ```
 * idle ──connect──▶ session.connecting
 * session (invokes the socket actor; connecting/connected/awaitingResponse share it)
 *   connecting ──socket.connected──▶ connected
 *              ──socket.closed──▶ backoff [hasAttemptsLeft] | failed (no sleep after the final attempt)
 *   connected ──(requests wait)──▶ awaitingResponse (the window writes them)
 *             ──request.enqueue──▶ awaitingResponse (the window writes what it takes)
 *   awaitingResponse: each event is one step of the request window (arrivals,
 *     responses, a request given up, a frame that fails the oldest); the step
 *     answers, skips, refuses and writes
 *                    ──(nothing in flight)──▶ connected
 *                    ──request.cancel of one in flight while stuck──▶ dropped
 * session ──socket.closed (a live connection dropped)──▶ dropped
 * dropped ──▶ backoff [canAutoReconnect] | failed
 * backoff ──after backoffDelay──▶ session.connecting
 * failed ──connect, or a request with auto-reconnect on──▶ session.connecting
 * any ──close──▶ closed (final)
 * ```
 *
 * `connected` means nothing written is unanswered; `awaitingResponse` means
 * at least one written request is (`context.inFlight`, oldest first, at most
 * `maxInFlight`). Requests wait in `queue` until the window has room, and go
 * out in FIFO order. Events carry batches where work arrives together: the
 * requests made in one tick, the responses decoded from one socket read; the
 * requests one step writes go out in one write. What a step does to the
 * window is decided in one place, `request-window.ts`; the chart says when.
 *
 * The machine knows nothing of `net`: the socket actor is provided by the
 * host (`machine.provide({ actors: { socket } })`), and outcomes leave the
 * machine as emitted events (`actor.on('requests.answered', …)`), so the host
 * settles its promises without the machine holding any.
 *
 * Request deadlines are not `after` transitions: the host runs one timer per
 * request covering queue wait and response, and sends `request.cancel`. An
 * `after` in awaitingResponse would only cover the response, and would arm and
 * clear a scheduler entry on every request on top of the host's timer.
 */
import { type AnyActorRef, and, assign, emit, enqueueActions, fromCallback, setup } from 'xstate';
import { errorCode } from '../src/diagnostics/error-code.js';
import {
  type BackoffOptions,
  backoffDelay,
  clampAttempts,
  DEFAULT_BACKOFF,
  reconnectAttempts,
} from './backoff.js';
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
import {
  arrive,
  giveUp,
  receive,
  refill,
  respond,
  type WindowStep,
  wait,
} from './request-window.js';

export { LATE_IDS_REMEMBERED } from './request-window.js';

/** What the socket actor is given: where to connect. */
export interface SocketActorInput {
  endpoint: string;
  /** Which attempt of the connect cycle this socket is (1 for the first). */
  attempt: number;
  /** The cycle's attempt budget. */
  maxAttempts: number;
}

/** Why a stuck connection is dropped when a request in flight is given up. */
const STALL_MESSAGE = 'overlayd stopped inside a frame or stopped reading';

export const DEFAULT_QUEUE_LIMIT = 1024;
export const DEFAULT_MAX_IN_FLIGHT = 16;

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
    return { code: errorCode(error) ?? error.name, message: error.message };
  }
  return { code: 'UNKNOWN', message: String(error) };
}

/**
 * Tell the socket actor to write these requests, in one write. It sends at
 * once from within the step, not deferred like `sendTo` (which relays after
 * the macrostep): the bytes leave before the rest of the step is computed,
 * and the step skips sendTo's resolve and defer. The socket actor is a child
 * of `session`, which every state that writes is inside.
 */
function writeTo(self: AnyActorRef, requests: readonly RequestRef[]): void {
  const socket = self.getSnapshot().children.socket as AnyActorRef | undefined;
  // Like sendTo, fail the step (the actor errors) if there is no socket to write to.
  if (socket === undefined) throw new Error('writeRequests: no socket actor');
  socket.send({ type: 'write', requests } satisfies SocketCommand);
}

type Event<T extends ConnectionEvent['type']> = Extract<ConnectionEvent, { type: T }>;
type Failed = Extract<ConnectionEmitted, { type: 'request.failed' }>;
type Emitted = ConnectionEmitted;

/** One `request.failed` event for each of these requests, all failed alike. */
function failuresOf(
  requests: readonly RequestRef[],
  failure: Omit<Failed, 'type' | 'token'>,
): Failed[] {
  return requests.map((request) => ({ type: 'request.failed', token: request.token, ...failure }));
}

/** What an action given `enqueueActions`' enqueue may do: change the context, emit, run. */
interface Enqueue {
  assign(changes: Partial<ConnectionContext>): void;
  emit(event: Emitted): void;
  (action: (args: { self: AnyActorRef }) => void): void;
}

/**
 * Carry out one step of the request window: skipped responses are told
 * (naming the request that was expected), refused requests fail unsent, the
 * answers go out in one event, the context takes the new window and counts,
 * and what the window took is written, in one write.
 */
function apply(context: ConnectionContext, step: WindowStep, enqueue: Enqueue): void {
  let { late, unknown } = context.stats;
  if (step.strays.length > 0) {
    const expected = context.inFlight[0]?.id;
    for (const stray of step.strays) {
      if (stray.reason === 'late') late++;
      else unknown++;
      enqueue.emit(
        expected === undefined
          ? { type: 'frame.skipped', reason: stray.reason, id: stray.id }
          : { type: 'frame.skipped', reason: stray.reason, id: stray.id, expected },
      );
    }
  }
  for (const failed of failuresOf(step.refused, { kind: 'queueFull', delivery: 'not-sent' })) {
    enqueue.emit(failed);
  }
  if (step.answers.length > 0) enqueue.emit({ type: 'requests.answered', answers: step.answers });
  enqueue.assign({
    queue: step.queue,
    inFlight: step.inFlight,
    lateIds: step.lateIds,
    stats: {
      ...context.stats,
      sent: context.stats.sent + step.write.length,
      answered: context.stats.answered + step.answers.length,
      late,
      unknown,
    },
  });
  const { write } = step;
  if (write.length > 0) enqueue(({ self }) => writeTo(self, write));
}

/** The request in flight an event gives up on, and how it fails (it was sent). */
function givenUp(context: ConnectionContext, event: ConnectionEvent): Failed {
  const oldest = context.inFlight[0] as RequestRef;
  const failed = (request: RequestRef, failure: Pick<Failed, 'kind' | 'cause'>): Failed => ({
    type: 'request.failed',
    token: request.token,
    delivery: 'sent',
    ...failure,
  });
  switch (event.type) {
    case 'request.cancel':
      return failed(context.inFlight.find((r) => r.token === event.token) as RequestRef, {
        kind: event.reason,
      });
    case 'socket.undecodable':
      return failed(context.inFlight.find((r) => r.id === event.id) as RequestRef, {
        kind: 'undecodable',
        cause: event.error,
      });
    case 'socket.request':
      return failed(oldest, {
        kind: 'protocol',
        cause: new Error(`overlayd sent a request frame (id ${event.id}) to a client`),
      });
    default:
      return failed(oldest, {
        kind: 'unreadable',
        cause: (event as Event<'socket.unreadable'>).error,
      });
  }
}

/** How a skipped frame is reported, by the event that brought it. */
function skipped(event: ConnectionEvent): Extract<Emitted, { type: 'frame.skipped' }> {
  switch (event.type) {
    case 'socket.request':
      return { type: 'frame.skipped', reason: 'request', id: event.id };
    case 'socket.undecodable':
      return { type: 'frame.skipped', reason: 'undecodable', error: event.error, id: event.id };
    case 'socket.unknownEvent':
      return { type: 'frame.skipped', reason: 'event', error: event.error };
    default:
      return {
        type: 'frame.skipped',
        reason: 'unreadable',
        error: (event as Event<'socket.unreadable'>).error,
      };
  }
}

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
    /** The sleep `backoff` planned on entry (see `planRetry`). */
    backoffDelay: ({ context }) => context.retryDelayMs ?? 0,
  },
  guards: {
    hasAttemptsLeft: ({ context }) => context.attempt < context.maxAttempts,
    hasQueued: ({ context }) => context.queue.length > 0,
    nothingInFlight: ({ context }) => context.inFlight.length === 0,
    canAutoReconnect: ({ context }) => context.reconnectAttempts > 0,
    isInFlightUndecodable: ({ context, event }) => {
      const id = (event as Event<'socket.undecodable'>).id;
      return context.inFlight.some((r) => r.id === id);
    },
    isInFlightToken: ({ context, event }) => {
      const token = (event as Event<'request.cancel'>).token;
      return context.inFlight.some((r) => r.token === token);
    },
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
    countAttempt: assign({
      attempt: ({ context }) => context.attempt + 1,
      stuck: false,
      retryDelayMs: null,
    }),
    /**
     * How long this backoff sleeps, decided once on entry (jitter included),
     * so the `after` timer and whoever watches the context read the same figure.
     */
    planRetry: assign({
      retryDelayMs: ({ context }) => backoffDelay(context.attempt, context.backoff),
    }),
    trackStuck: assign({ stuck: ({ event }) => (event as Event<'socket.stuck'>).stuck }),
    markConnected: enqueueActions(({ context, enqueue }) => {
      const connections = context.stats.connections + 1;
      enqueue.assign({
        attempt: 0,
        lastError: null,
        // Responses from an earlier connection cannot arrive on this one.
        lateIds: [],
        stats: { ...context.stats, connections },
      });
      enqueue.emit({ type: 'connected', reconnect: connections > 1 });
    }),
    recordError: assign({
      lastError: ({ event }) => summarize((event as Event<'socket.closed'>).error),
    }),
    /** No connection to write to: the arriving requests wait in the queue, while it has room. */
    enqueueRequests: enqueueActions(({ context, event, enqueue }) =>
      apply(context, wait(context, (event as Event<'request.enqueue'>).requests), enqueue),
    ),
    refuseRequests: enqueueActions(({ event, enqueue }, params: { kind: Failed['kind'] }) => {
      const { requests } = event as Event<'request.enqueue'>;
      for (const failed of failuresOf(requests, { kind: params.kind, delivery: 'not-sent' })) {
        enqueue.emit(failed);
      }
    }),
    /** Connected: the arriving requests join the queue, and the window takes what it can. */
    takeRequests: enqueueActions(({ context, event, enqueue }) =>
      apply(context, arrive(context, (event as Event<'request.enqueue'>).requests), enqueue),
    ),
    /** One socket read's responses answer what they name; the window refills. */
    settleResponses: enqueueActions(({ context, event, enqueue }) =>
      apply(context, respond(context, (event as Event<'socket.responses'>).responses), enqueue),
    ),
    /** Responses with nothing in flight: each is skipped, as late or unknown. */
    skipResponses: enqueueActions(({ context, event, enqueue }) =>
      apply(context, receive(context, (event as Event<'socket.responses'>).responses), enqueue),
    ),
    /** The window has room: it takes the oldest queued requests, written in one write. */
    fillWindow: enqueueActions(({ context, enqueue }) => apply(context, refill(context), enqueue)),
    /**
     * One request in flight fails as sent and leaves the window, which
     * refills: given up by the host, its response undecodable, or the oldest
     * when a frame naming no id arrives (as the Rust client fails the request
     * that was waiting). Its real answer, if it comes, is late.
     */
    failOneInFlight: enqueueActions(({ context, event, enqueue }) => {
      const failed = givenUp(context, event);
      enqueue.emit(failed);
      apply(context, giveUp(context, failed.token), enqueue);
    }),
    /**
     * A request in flight is given up while the connection is stuck: nothing
     * written to it now could be answered, so it is dropped. The given-up
     * request fails with its reason, the rest of the window as closed; all
     * were written, and may run.
     */
    dropStuckConnection: enqueueActions(({ context, event, enqueue }) => {
      const failed = givenUp(context, event);
      const cause = new Error(`connection dropped: ${STALL_MESSAGE}`);
      const step = giveUp(context, failed.token);
      enqueue.emit(failed);
      const rest = context.inFlight.filter((r) => r.token !== failed.token);
      for (const closed of failuresOf(rest, { kind: 'closed', delivery: 'sent', cause })) {
        enqueue.emit(closed);
      }
      enqueue.assign({
        inFlight: [],
        lateIds: step.lateIds,
        lastError: { code: 'OVERLAYD_IO', message: cause.message },
      });
    }),
    /**
     * The connection ended: every request written fails as sent (it may have
     * run; it is never sent again), except those whose write provably never
     * left, which go back to the head of the queue in their order.
     */
    failInFlight: enqueueActions(({ context, event, enqueue }) => {
      const closed = event as Event<'socket.closed'>;
      if (context.inFlight.length === 0) return;
      const unsent = closed.unsent ?? [];
      const back: RequestRef[] = [];
      for (const request of context.inFlight) {
        if (unsent.includes(request.token)) {
          back.push(request);
          continue;
        }
        enqueue.emit({
          type: 'request.failed',
          token: request.token,
          kind: 'closed',
          delivery: 'sent',
          cause: closed.error,
        });
      }
      enqueue.assign({
        inFlight: [],
        queue: back.length === 0 ? context.queue : back.concat(context.queue),
        stats: { ...context.stats, sent: context.stats.sent - back.length },
      });
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
        const failure: Omit<Failed, 'type' | 'token'> = {
          kind: params.kind,
          delivery: 'not-sent',
          cause,
          attempts: context.attempt,
        };
        for (const failed of failuresOf(context.queue, failure)) {
          enqueue.emit(failed);
        }
        enqueue.assign({ queue: [] });
      },
    ),
    announceConnectFailed: emit(({ context, event }) => ({
      type: 'connect.failed' as const,
      attempts: context.attempt,
      cause: (event as Event<'socket.closed'>).error,
    })),
    deliverEvent: enqueueActions(({ context, event, enqueue }) => {
      enqueue.emit({ type: 'overlayd.event', event: (event as Event<'socket.event'>).event });
      enqueue.assign({ stats: { ...context.stats, events: context.stats.events + 1 } });
    }),
    /** A frame that fails no request is reported and counted, and otherwise ignored. */
    skipFrame: enqueueActions(({ context, event, enqueue }) => {
      enqueue.emit(skipped(event));
      enqueue.assign({ stats: { ...context.stats, dropped: context.stats.dropped + 1 } });
    }),
    /** On close: every request still held fails; those in flight may have run. */
    failEverything: enqueueActions(({ context, enqueue }) => {
      for (const failed of [
        ...failuresOf(context.inFlight, { kind: 'closed', delivery: 'sent' }),
        ...failuresOf(context.queue, { kind: 'closed', delivery: 'not-sent' }),
      ]) {
        enqueue.emit(failed);
      }
      enqueue.assign({ inFlight: [], queue: [] });
    }),
  },
}).createMachine({
  id: 'overlaydConnection',
  context: ({ input }) => ({
    endpoint: input.endpoint,
    attempt: 0,
    maxAttempts: 0,
    reconnectAttempts: reconnectAttempts(input.reconnectAttempts),
    queueLimit: Math.max(0, Math.floor(input.queueLimit ?? DEFAULT_QUEUE_LIMIT)),
    maxInFlight: Math.max(1, Math.floor(input.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT)),
    backoff: { ...DEFAULT_BACKOFF, ...input.backoff } satisfies BackoffOptions,
    retryDelayMs: null,
    queue: [],
    inFlight: [],
    lateIds: [],
    lastError: null,
    stuck: false,
    stats: { sent: 0, answered: 0, late: 0, unknown: 0, events: 0, dropped: 0, connections: 0 },
  }),
  initial: 'idle',
  on: {
    close: { target: '.closed' },
    'request.enqueue': { actions: 'enqueueRequests' },
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
      // Every session is one connection attempt. Counted on entering the
      // session, not `connecting`, so the socket actor (started with the
      // session, before its child's entry) is told which attempt it is.
      entry: 'countAttempt',
      invoke: {
        id: 'socket',
        src: 'socket',
        input: ({ context }) => ({
          endpoint: context.endpoint,
          attempt: context.attempt,
          maxAttempts: context.maxAttempts,
        }),
      },
      on: {
        // A connection that was up dropped: the requests in flight fail as sent.
        'socket.closed': { target: 'dropped', actions: ['failInFlight', 'recordError'] },
        // Nothing in flight: every response is a stray (late or unknown).
        'socket.responses': { actions: 'skipResponses' },
        'socket.event': { actions: 'deliverEvent' },
        'socket.undecodable': { actions: 'skipFrame' },
        'socket.unreadable': { actions: 'skipFrame' },
        // A newer overlayd's event: skipped, never failing a request (the Rust client would).
        'socket.unknownEvent': { actions: 'skipFrame' },
        'socket.request': { actions: 'skipFrame' },
        'socket.stuck': { actions: 'trackStuck' },
      },
      states: {
        connecting: {
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
            'socket.connected': { target: 'connected', actions: 'markConnected' },
          },
        },
        connected: {
          // Requests that waited for this connection are written at once.
          always: { guard: 'hasQueued', target: 'awaitingResponse', actions: 'fillWindow' },
          on: {
            'request.enqueue': { target: 'awaitingResponse', actions: 'takeRequests' },
          },
        },
        awaitingResponse: {
          always: { guard: 'nothingInFlight', target: 'connected' },
          on: {
            'request.enqueue': { actions: 'takeRequests' },
            'socket.responses': { actions: 'settleResponses' },
            'request.cancel': [
              // Given up while the connection is stuck (inside a frame, or the peer
              // not reading): nothing written to it now could be answered.
              {
                guard: and(['isInFlightToken', 'isStuck']),
                target: '#overlaydConnection.dropped',
                actions: 'dropStuckConnection',
              },
              { guard: 'isInFlightToken', actions: 'failOneInFlight' },
            ],
            'socket.undecodable': { guard: 'isInFlightUndecodable', actions: 'failOneInFlight' },
            // The Rust client fails the waiting request on a frame it cannot
            // read, and on a request frame from the server.
            'socket.unreadable': { actions: ['skipFrame', 'failOneInFlight'] },
            'socket.request': { actions: ['skipFrame', 'failOneInFlight'] },
          },
        },
      },
    },
    // A live connection is gone: reconnect, or fail what waits for one.
    dropped: {
      always: [
        { guard: 'canAutoReconnect', target: 'backoff', actions: 'startReconnectCycle' },
        { target: 'failed', actions: { type: 'failQueued', params: { kind: 'closed' } } },
      ],
    },
    backoff: {
      entry: 'planRetry',
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
            actions: ['startReconnectCycle', 'enqueueRequests'],
          },
          { actions: { type: 'refuseRequests', params: { kind: 'notConnected' } } },
        ],
      },
    },
    closed: {
      type: 'final',
      entry: 'failEverything',
    },
  },
});
