/**
 * The overlayd connection statechart.
 *
 * ```
 * idle ──connect──▶ session.connecting
 * session (invokes the socket actor; connecting/connected/awaitingResponse share it)
 *   connecting ──socket.connected──▶ connected | awaitingResponse (queue not empty: the window is written)
 *   connected ──request.enqueue (a batch)──▶ awaitingResponse (as many as the window takes, written at once)
 *   awaitingResponse ──request.enqueue──▶ awaitingResponse (written while the window has room, else queued)
 *                    ──socket.responses answering every request in flight, none queued──▶ connected
 *                    ──socket.responses (otherwise)──▶ awaitingResponse (the window refilled)
 *                    ──request.cancel / undecodable / unreadable / request frame──▶ connected | awaitingResponse
 *                    ──request.cancel of one in flight while stuck──▶ backoff | failed
 *   connecting ──socket.closed──▶ backoff [hasAttemptsLeft] | failed (no sleep after the final attempt)
 * session ──socket.closed (a live connection dropped)──▶ backoff [canAutoReconnect] | failed
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
 * requests one step writes go out in one write.
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
import {
  admit,
  answersAll,
  answersHead,
  fill,
  headAnswers,
  inOrder,
  refill,
  remember,
  settle,
  without,
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
export const DEFAULT_RECONNECT_ATTEMPTS = 20;
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

/** `writeTo` as an action, for `enqueueActions`. */
const writeRequests =
  (requests: readonly RequestRef[]) =>
  ({ self }: { self: AnyActorRef }): void =>
    writeTo(self, requests);

type Event<T extends ConnectionEvent['type']> = Extract<ConnectionEvent, { type: T }>;
type Failed = Extract<ConnectionEmitted, { type: 'request.failed' }>;

/** One `request.failed` event for each of these requests, all failed alike. */
function failuresOf(
  requests: readonly RequestRef[],
  failure: Omit<Failed, 'type' | 'token'>,
): Failed[] {
  return requests.map((request) => ({ type: 'request.failed', token: request.token, ...failure }));
}

/** Which request in flight an event fails, and how (the `failOneInFlight` action). */
function oneToFail(
  context: ConnectionContext,
  event: ConnectionEvent,
): { request: RequestRef; failure: Pick<Failed, 'kind' | 'cause'> } {
  const oldest = context.inFlight[0] as RequestRef;
  switch (event.type) {
    case 'request.cancel':
      return {
        request: context.inFlight.find((r) => r.token === event.token) as RequestRef,
        failure: { kind: event.reason },
      };
    case 'socket.undecodable':
      return {
        request: context.inFlight.find((r) => r.id === event.id) as RequestRef,
        failure: { kind: 'undecodable', cause: event.error },
      };
    case 'socket.request':
      return {
        request: oldest,
        failure: {
          kind: 'protocol',
          cause: new Error(`overlayd sent a request frame (id ${event.id}) to a client`),
        },
      };
    default:
      return {
        request: oldest,
        failure: { kind: 'unreadable', cause: (event as Event<'socket.unreadable'>).error },
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
    /** The sleep before the next attempt, from the attempts made so far in this cycle. */
    backoffDelay: ({ context }) => backoffDelay(context.attempt, context.backoff),
  },
  guards: {
    hasAttemptsLeft: ({ context }) => context.attempt < context.maxAttempts,
    hasQueued: ({ context }) => context.queue.length > 0,
    canAutoReconnect: ({ context }) => context.reconnectAttempts > 0,
    /** The arriving requests all fit in the window, and none waits before them. */
    fitsWindow: ({ context, event }) =>
      context.queue.length === 0 &&
      (event as Event<'request.enqueue'>).requests.length <=
        context.maxInFlight - context.inFlight.length,
    /** The batch answers the window exactly, in order, and nothing waits (the usual case). */
    answersWindowInOrder: ({ context, event }) =>
      context.queue.length === 0 &&
      inOrder(context.inFlight, (event as Event<'socket.responses'>).responses),
    /** The batch answers the oldest requests in flight, in order (the usual case under load). */
    answersHeadInOrder: ({ context, event }) =>
      answersHead(context.inFlight, (event as Event<'socket.responses'>).responses),
    /** The window is full and the arriving requests all fit in the queue (the usual case under load). */
    waitsForWindow: ({ context, event }) =>
      context.inFlight.length >= context.maxInFlight &&
      (event as Event<'request.enqueue'>).requests.length <=
        context.queueLimit - context.queue.length,
    /** The batch answers every request in flight and nothing waits: the connection goes quiet. */
    answersEverything: ({ context, event }) =>
      context.queue.length === 0 &&
      answersAll(context.inFlight, (event as Event<'socket.responses'>).responses),
    /** The one request outstanding is the last: once it leaves, nothing is in flight or queued. */
    isLastOutstanding: ({ context }) => context.inFlight.length === 1 && context.queue.length === 0,
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
    countAttempt: assign({ attempt: ({ context }) => context.attempt + 1, stuck: false }),
    trackStuck: assign({ stuck: ({ event }) => (event as Event<'socket.stuck'>).stuck }),
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
    /** No connection to write to: the arriving requests wait in the queue, while it has room. */
    enqueueRequests: enqueueActions(({ context, event, enqueue }) => {
      const { requests } = event as Event<'request.enqueue'>;
      const { queue, refused } = admit(
        context.queue,
        requests,
        context.queueLimit - context.queue.length,
      );
      for (const failed of failuresOf(refused, { kind: 'queueFull', delivery: 'not-sent' })) {
        enqueue.emit(failed);
      }
      enqueue.assign({ queue });
    }),
    refuseRequests: enqueueActions(({ event, enqueue }, params: { kind: Failed['kind'] }) => {
      const { requests } = event as Event<'request.enqueue'>;
      for (const failed of failuresOf(requests, { kind: params.kind, delivery: 'not-sent' })) {
        enqueue.emit(failed);
      }
    }),
    /**
     * Connected: the arriving requests join the queue (which may hold
     * `queueLimit` beyond what the window takes at once), and the window
     * takes the oldest, written in one write.
     */
    takeRequests: enqueueActions(({ context, event, enqueue }) => {
      const { requests } = event as Event<'request.enqueue'>;
      const windowRoom = context.maxInFlight - context.inFlight.length;
      const admitted = admit(
        context.queue,
        requests,
        context.queueLimit + windowRoom - context.queue.length,
      );
      for (const failed of failuresOf(admitted.refused, {
        kind: 'queueFull',
        delivery: 'not-sent',
      })) {
        enqueue.emit(failed);
      }
      const window = fill(admitted.queue, context.inFlight, context.maxInFlight);
      if (window.taken.length === 0) {
        enqueue.assign({ queue: admitted.queue });
        return;
      }
      enqueue.assign({
        queue: window.queue,
        inFlight: window.inFlight,
        stats: { ...context.stats, sent: context.stats.sent + window.taken.length },
      });
      enqueue(writeRequests(window.taken));
    }),
    /** The arriving requests all go into the window (they fit: `fitsWindow`). */
    dispatchArrivals: assign(({ context, event }) => {
      const { requests } = event as Event<'request.enqueue'>;
      return {
        inFlight: context.inFlight.length === 0 ? requests : context.inFlight.concat(requests),
        stats: { ...context.stats, sent: context.stats.sent + requests.length },
      };
    }),
    /** Write the arriving requests, in one write (see `writeRequests`). */
    writeArrivals: ({ event, self }) => writeTo(self, (event as Event<'request.enqueue'>).requests),
    /** The window is full: the arriving requests wait in the queue (they fit: `waitsForWindow`). */
    queueArrivals: assign(({ context, event }) => {
      const { requests } = event as Event<'request.enqueue'>;
      return { queue: context.queue.length === 0 ? requests : context.queue.concat(requests) };
    }),
    /** The batch answered the oldest in flight, in order (`answersHeadInOrder`): one event for it. */
    answerHead: emit(({ context, event }) => ({
      type: 'requests.answered' as const,
      answers: headAnswers(context.inFlight, (event as Event<'socket.responses'>).responses),
    })),
    /**
     * Write what the window takes from the queue once the answered head has
     * left (`advanceWindow` computes the same window from the same context:
     * it runs after this action, so the context is the one before the step).
     */
    writeRefill: ({ context, event, self }) => {
      const answered = (event as Event<'socket.responses'>).responses.length;
      const { taken } = refill(context.queue, context.inFlight, answered, context.maxInFlight);
      if (taken.length > 0) writeTo(self, taken);
    },
    /** The answered head leaves the window, and the window takes the oldest queued requests. */
    advanceWindow: assign(({ context, event }) => {
      const answered = (event as Event<'socket.responses'>).responses.length;
      const window = refill(context.queue, context.inFlight, answered, context.maxInFlight);
      return {
        queue: window.queue,
        inFlight: window.inFlight,
        stats: {
          ...context.stats,
          answered: context.stats.answered + answered,
          sent: context.stats.sent + window.taken.length,
        },
      };
    }),
    /** Nothing is in flight any more. */
    emptyWindow: assign(({ context }) => ({
      inFlight: [],
      stats: { ...context.stats, answered: context.stats.answered + context.inFlight.length },
    })),
    /** The window has room: it takes the oldest queued requests, written in one write. */
    fillWindow: enqueueActions(({ context, enqueue }) => {
      const window = fill(context.queue, context.inFlight, context.maxInFlight);
      if (window.taken.length === 0) return;
      enqueue.assign({
        queue: window.queue,
        inFlight: window.inFlight,
        stats: { ...context.stats, sent: context.stats.sent + window.taken.length },
      });
      enqueue(writeRequests(window.taken));
    }),
    /**
     * One socket read's responses: answer the requests they name (one
     * emitted event for the batch), and skip and count the rest.
     */
    settleResponses: enqueueActions(({ context, event, enqueue }) => {
      const { responses } = event as Event<'socket.responses'>;
      const settled = settle(context.inFlight, context.lateIds, responses);
      const expected = context.inFlight[0]?.id;
      let { late, unknown } = context.stats;
      for (const stray of settled.strays) {
        if (stray.reason === 'late') late++;
        else unknown++;
        enqueue.emit(
          expected === undefined
            ? { type: 'frame.skipped', reason: stray.reason, id: stray.id }
            : { type: 'frame.skipped', reason: stray.reason, id: stray.id, expected },
        );
      }
      if (settled.answers.length > 0) {
        enqueue.emit({ type: 'requests.answered', answers: settled.answers });
      }
      enqueue.assign({
        inFlight: settled.inFlight,
        lateIds: settled.lateIds,
        stats: {
          ...context.stats,
          answered: context.stats.answered + settled.answers.length,
          late,
          unknown,
        },
      });
    }),
    /**
     * One request in flight fails as sent, and leaves the window: given up by
     * the host, its response undecodable, or the oldest when a frame naming no
     * id arrives (as the Rust client fails the request that was waiting). Its
     * real answer, if it comes, is late.
     */
    failOneInFlight: enqueueActions(({ context, event, enqueue }) => {
      const { request, failure } = oneToFail(context, event);
      enqueue.emit({ type: 'request.failed', token: request.token, delivery: 'sent', ...failure });
      enqueue.assign({
        inFlight: without(context.inFlight, request.token),
        lateIds: remember(context.lateIds, [request.id]),
      });
    }),
    /**
     * A stuck connection is dropped: the rest of the window fails as sent
     * (it was written; it may run), and nothing is in flight on the next one.
     */
    recordStall: enqueueActions(({ context, enqueue }) => {
      const cause = new Error(`connection dropped: ${STALL_MESSAGE}`);
      for (const failed of failuresOf(context.inFlight, {
        kind: 'closed',
        delivery: 'sent',
        cause,
      })) {
        enqueue.emit(failed);
      }
      enqueue.assign({
        inFlight: [],
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
    deliverEvent: emit(({ event }) => ({
      type: 'overlayd.event' as const,
      event: (event as Event<'socket.event'>).event,
    })),
    countEvent: assign({
      stats: ({ context }) => ({ ...context.stats, events: context.stats.events + 1 }),
    }),
    reportDropped: emit(({ event }) => {
      switch (event.type) {
        case 'socket.request':
          return { type: 'frame.skipped' as const, reason: 'request' as const, id: event.id };
        case 'socket.undecodable':
          return {
            type: 'frame.skipped' as const,
            reason: 'undecodable' as const,
            error: event.error,
            id: event.id,
          };
        case 'socket.unknownEvent':
          return { type: 'frame.skipped' as const, reason: 'event' as const, error: event.error };
        default:
          return {
            type: 'frame.skipped' as const,
            reason: 'unreadable' as const,
            error: (event as Event<'socket.unreadable'>).error,
          };
      }
    }),
    countDropped: assign({
      stats: ({ context }) => ({ ...context.stats, dropped: context.stats.dropped + 1 }),
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
    reconnectAttempts: Math.max(
      0,
      Math.floor(input.reconnectAttempts ?? DEFAULT_RECONNECT_ATTEMPTS),
    ),
    queueLimit: Math.max(0, Math.floor(input.queueLimit ?? DEFAULT_QUEUE_LIMIT)),
    maxInFlight: Math.max(1, Math.floor(input.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT)),
    backoff: { ...DEFAULT_BACKOFF, ...input.backoff } satisfies BackoffOptions,
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
        // A connection that was up dropped: the requests in flight fail as
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
        // Nothing in flight: every response is a stray (late or unknown).
        'socket.responses': { actions: 'settleResponses' },
        'socket.event': { actions: ['deliverEvent', 'countEvent'] },
        'socket.undecodable': { actions: ['reportDropped', 'countDropped'] },
        'socket.unreadable': { actions: ['reportDropped', 'countDropped'] },
        // A newer overlayd's event: skipped, never failing a request (the Rust client would).
        'socket.unknownEvent': { actions: ['reportDropped', 'countDropped'] },
        'socket.request': { actions: ['reportDropped', 'countDropped'] },
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
            'socket.connected': [
              {
                guard: 'hasQueued',
                target: 'awaitingResponse',
                actions: ['markConnected', 'announceConnected', 'fillWindow'],
              },
              { target: 'connected', actions: ['markConnected', 'announceConnected'] },
            ],
          },
        },
        connected: {
          on: {
            // The usual case first: the requests of this tick all fit in the window.
            'request.enqueue': [
              {
                guard: 'fitsWindow',
                target: 'awaitingResponse',
                actions: ['dispatchArrivals', 'writeArrivals'],
              },
              { target: 'awaitingResponse', actions: 'takeRequests' },
            ],
          },
        },
        awaitingResponse: {
          on: {
            'request.enqueue': [
              { guard: 'fitsWindow', actions: ['dispatchArrivals', 'writeArrivals'] },
              { guard: 'waitsForWindow', actions: 'queueArrivals' },
              { actions: 'takeRequests' },
            ],
            'socket.responses': [
              // The usual cases first: one read answers the window, in order;
              // under load, one read answers its oldest, in order, and the
              // window refills from the queue.
              {
                guard: 'answersWindowInOrder',
                target: 'connected',
                actions: ['answerHead', 'emptyWindow'],
              },
              {
                guard: 'answersHeadInOrder',
                actions: ['answerHead', 'writeRefill', 'advanceWindow'],
              },
              { guard: 'answersEverything', target: 'connected', actions: 'settleResponses' },
              { actions: ['settleResponses', 'fillWindow'] },
            ],
            'request.cancel': [
              // Given up while the connection is stuck (inside a frame, or the peer
              // not reading): nothing written to it now could be answered.
              {
                guard: and(['isInFlightToken', 'isStuck', 'canAutoReconnect']),
                target: '#overlaydConnection.backoff',
                actions: ['failOneInFlight', 'recordStall', 'startReconnectCycle'],
              },
              {
                guard: and(['isInFlightToken', 'isStuck']),
                target: '#overlaydConnection.failed',
                actions: [
                  'failOneInFlight',
                  'recordStall',
                  { type: 'failQueued', params: { kind: 'closed' } },
                ],
              },
              {
                guard: and(['isInFlightToken', 'isLastOutstanding']),
                target: 'connected',
                actions: 'failOneInFlight',
              },
              { guard: 'isInFlightToken', actions: ['failOneInFlight', 'fillWindow'] },
            ],
            'socket.undecodable': [
              {
                guard: and(['isInFlightUndecodable', 'isLastOutstanding']),
                target: 'connected',
                actions: 'failOneInFlight',
              },
              { guard: 'isInFlightUndecodable', actions: ['failOneInFlight', 'fillWindow'] },
            ],
            // The Rust client fails the waiting request on a frame it cannot
            // read, and on a request frame from the server.
            'socket.unreadable': [
              {
                guard: 'isLastOutstanding',
                target: 'connected',
                actions: ['reportDropped', 'countDropped', 'failOneInFlight'],
              },
              { actions: ['reportDropped', 'countDropped', 'failOneInFlight', 'fillWindow'] },
            ],
            'socket.request': [
              {
                guard: 'isLastOutstanding',
                target: 'connected',
                actions: ['reportDropped', 'countDropped', 'failOneInFlight'],
              },
              { actions: ['reportDropped', 'countDropped', 'failOneInFlight', 'fillWindow'] },
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
