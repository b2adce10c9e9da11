/**
 * Model-based tests: paths generated from the connection machine itself with
 * `xstate/graph`, replayed on a running actor (scripted socket, simulated
 * clock — this is about the machine's behaviour in isolation) while checking
 * invariants the chart does not state on its own: what is written, what is
 * armed, and that every request settles exactly once.
 *
 * The last block lists every transition of the definition with the number of
 * generated steps that took it; a transition no path reaches fails the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AnyActorRef,
  type AnyTransitionDefinition,
  createActor,
  type SnapshotFrom,
} from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { backoffDelay } from '../../machines/backoff.js';
import { connectionMachine } from '../../machines/connection.machine.js';
import type { ConnectionEmitted, ConnectionEvent } from '../../machines/connection.types.js';
import { stateName } from '../../src/client/state.js';
import {
  allTransitions,
  countTransitionsTaken,
  transitionLabel,
} from '../support/chart-transitions.js';
import { CountingClock } from '../support/counting-clock.js';
import { createFakeSocket } from '../support/fake-socket.js';

const harness = createFakeSocket();
const machine = connectionMachine.provide({ actors: { socket: harness.logic } });
type Snapshot = SnapshotFrom<typeof machine>;
/**
 * Reconnect on (a budget of 2) and off: each reaches transitions the other
 * cannot. A window of 2 (so a request can be in flight beside another, and
 * one can wait), and the Rust client's one at a time.
 */
const inputs = [
  { endpoint: '/run/model.sock', queueLimit: 2, reconnectAttempts: 2, maxInFlight: 2 },
  { endpoint: '/run/model.sock', queueLimit: 2, reconnectAttempts: 0, maxInFlight: 2 },
  { endpoint: '/run/model.sock', queueLimit: 1, reconnectAttempts: 2, maxInFlight: 1 },
];
const AFTER_BACKOFF = 'xstate.after.backoffDelay.overlaydConnection.backoff';
const ok = { result: 'ok' } as const;

/** The abstract state the traversal distinguishes (the rest of the context is counters). */
function abstractState(snapshot: Snapshot): string {
  const c = snapshot.context;
  return JSON.stringify([
    snapshot.value,
    c.queue.length,
    c.inFlight.length,
    c.lateIds.length > 0,
    c.attempt < c.maxAttempts,
    c.stuck,
  ]);
}

/** A model event, labelled with the role it plays so a replay can rebuild it from live state. */
type ModelEvent = ConnectionEvent & { kind: string };

/**
 * The events worth trying in a state, made to fit its context (the id in
 * flight, a queued token, a remembered late id). `kind` names each one's role.
 */
function eventsFor(snapshot: Snapshot): ModelEvent[] {
  // A machine in its final state is done: a live actor takes no more events.
  if (snapshot.status === 'done') return [];
  const c = snapshot.context;
  const next = c.stats.sent + c.queue.length + 1;
  const ref = (token: number) => ({ token, id: String(token), op: 'status' });
  const events: ModelEvent[] = [
    { kind: 'connect', type: 'connect', maxAttempts: 2 },
    { kind: 'close', type: 'close' },
    { kind: 'enqueue', type: 'request.enqueue', requests: [ref(next)] },
    { kind: 'enqueue.pair', type: 'request.enqueue', requests: [ref(next), ref(next + 1)] },
    { kind: 'connected', type: 'socket.connected' },
    { kind: 'closed', type: 'socket.closed', error: new Error('hang-up') },
    {
      kind: 'event',
      type: 'socket.event',
      event: { event: 'peer_health_changed', pubkey: 'k', healthy: true },
    },
    { kind: 'request', type: 'socket.request', id: '900' },
    {
      kind: 'undecodable.other',
      type: 'socket.undecodable',
      error: new Error('garbage'),
      id: '901',
    },
    { kind: 'unreadable', type: 'socket.unreadable', error: new Error('empty body') },
    { kind: 'unknownEvent', type: 'socket.unknownEvent', error: new Error('unknown variant') },
    {
      kind: 'response.unknown',
      type: 'socket.responses',
      responses: [{ id: '902', response: ok }],
    },
    { kind: 'after', type: AFTER_BACKOFF } as unknown as ModelEvent,
    { kind: 'stuck', type: 'socket.stuck', stuck: !c.stuck },
  ];
  const [oldest] = c.inFlight;
  const newest = c.inFlight.at(-1);
  if (oldest !== undefined && newest !== undefined) {
    events.push(
      {
        kind: 'response.oldest',
        type: 'socket.responses',
        responses: [{ id: oldest.id, response: ok }],
      },
      {
        kind: 'response.all',
        type: 'socket.responses',
        responses: c.inFlight.map((r) => ({ id: r.id, response: ok })),
      },
      {
        // Every one answered, but newest first, with a stranger among them.
        kind: 'response.allReordered',
        type: 'socket.responses',
        responses: [
          ...[...c.inFlight].reverse().map((r) => ({ id: r.id, response: ok })),
          { id: '903', response: ok },
        ],
      },
      {
        kind: 'undecodable.inFlight',
        type: 'socket.undecodable',
        error: new Error('bad body'),
        id: oldest.id,
      },
      {
        kind: 'cancel.inFlight',
        type: 'request.cancel',
        token: newest.token,
        reason: 'timeout',
      },
      {
        kind: 'closed.unsent',
        type: 'socket.closed',
        error: new Error('write EPIPE'),
        unsent: [newest.token],
      },
    );
  }
  const late = c.lateIds[0];
  if (late !== undefined)
    events.push({
      kind: 'response.late',
      type: 'socket.responses',
      responses: [{ id: late, response: ok }],
    });
  const queued = c.queue[0];
  if (queued !== undefined) {
    events.push({
      kind: 'cancel.queued',
      type: 'request.cancel',
      token: queued.token,
      reason: 'aborted',
    });
  }
  return events;
}

const transitions = allTransitions(machine.root);
const taken = new Map<AnyTransitionDefinition, number>(transitions.map((t) => [t, 0]));
// createTestModel refuses machines that invoke actors, so the path generator is used directly.
// Shortest paths reach every abstract state; each is then extended by every
// event that state is offered, so every transition out of it gets exercised.
const statePaths = inputs.flatMap((input) =>
  getShortestPaths(machine, {
    events: eventsFor,
    serializeState: (snapshot) => abstractState(snapshot as Snapshot),
    serializeEvent: (event) => (event as ModelEvent).kind,
    input,
  }).map((path) => ({ input, path })),
);
type Step = { event: { type: string; kind?: string } };

/** Replays one generated path on a live actor, checking invariants after every step. */
function replay(input: (typeof inputs)[number], steps: Step[]) {
  harness.opened.length = 0;
  harness.autoConnect = undefined;
  const clock = new CountingClock();
  const settled = new Map<number, number>();
  const enqueued = new Set<number>();
  /** Tokens whose write the socket reported as refused whole (so they may be written again). */
  const unsent = new Set<number>();
  const actor = createActor(machine, {
    input,
    clock,
    inspect: countTransitionsTaken(taken, (): AnyActorRef => actor),
  });
  const count = (token: number) => settled.set(token, (settled.get(token) ?? 0) + 1);
  actor.on('requests.answered', (e: ConnectionEmitted) => {
    if (e.type === 'requests.answered') for (const a of e.answers) count(a.token);
  });
  actor.on('request.failed', (e) => count(e.token));
  actor.start();
  // Each step is rebuilt from the live snapshot by its role, so ids and
  // tokens are the live ones; every enqueue gets a token never used before.
  let nextToken = 0;

  for (const step of steps) {
    if ((step.event.type as string) === 'xstate.init') continue;
    const offered = eventsFor(actor.getSnapshot()).find((e) => e.kind === step.event.kind);
    if (offered === undefined) throw new Error(`live state does not offer ${step.event.kind}`);
    let event: ModelEvent = offered;
    if (event.type === 'request.enqueue') {
      const requests = event.requests.map(() => {
        nextToken++;
        return { token: nextToken, id: String(nextToken), op: 'status' };
      });
      event = { ...event, requests };
    }
    if (event.type === 'socket.closed') for (const token of event.unsent ?? []) unsent.add(token);
    if ((event.type as string) === AFTER_BACKOFF) {
      clock.increment(backoffDelay(actor.getSnapshot().context.attempt));
    } else if (event.type.startsWith('socket.')) {
      if (harness.opened.length > 0) harness.current.send(event as never);
    } else {
      if (event.type === 'request.enqueue') for (const r of event.requests) enqueued.add(r.token);
      actor.send(event);
    }
    checkInvariants(actor.getSnapshot(), clock, settled, enqueued, unsent);
  }
  actor.stop();
}

function checkInvariants(
  snapshot: Snapshot,
  clock: CountingClock,
  settled: Map<number, number>,
  enqueued: Set<number>,
  unsent: Set<number>,
) {
  const c = snapshot.context;
  const state = stateName(snapshot.value);
  for (const times of settled.values()) expect(times).toBe(1);
  for (const token of settled.keys()) expect(enqueued.has(token)).toBe(true);
  const held = [...c.queue.map((r) => r.token), ...c.inFlight.map((r) => r.token)];
  for (const token of held) expect(settled.has(token)).toBe(false);
  expect(new Set(held).size).toBe(held.length);
  // The window plus queueLimit waiting, at most (requests put back after a refused write included).
  expect(c.queue.length).toBeLessThanOrEqual(c.queueLimit + c.maxInFlight);
  expect(c.inFlight.length).toBeLessThanOrEqual(c.maxInFlight);
  // At most once: no request is written twice, unless its earlier write was refused whole.
  const written = harness.opened.flatMap((socket) => socket.writes);
  for (const token of new Set(written)) {
    if (!unsent.has(token)) expect(written.filter((w) => w === token)).toHaveLength(1);
  }
  // Every request in flight was written on this connection, FIFO.
  if (c.inFlight.length > 0) {
    const writes = harness.current.writes;
    const at = c.inFlight.map((r) => writes.lastIndexOf(r.token));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  }
  switch (state) {
    case 'connected':
      expect(c.inFlight).toEqual([]);
      expect(c.queue).toEqual([]);
      expect(clock.armed.size).toBe(0);
      break;
    case 'awaitingResponse':
      expect(c.inFlight.length).toBeGreaterThan(0);
      // The window is full, or nothing waits: a request never waits beside room.
      if (c.queue.length > 0) expect(c.inFlight.length).toBe(c.maxInFlight);
      break;
    case 'backoff':
      expect(c.inFlight).toEqual([]);
      expect(clock.armed.size).toBe(1);
      expect(clock.delays.at(-1)).toBe(backoffDelay(c.attempt, c.backoff));
      break;
    case 'failed':
    case 'closed':
      expect(c.inFlight).toEqual([]);
      expect(c.queue).toEqual([]);
      expect(clock.armed.size).toBe(0);
      for (const token of enqueued) expect(settled.get(token)).toBe(1);
      break;
    default:
      expect(clock.armed.size).toBe(0);
  }
  if (state === 'closed') expect(harness.opened.every((s) => s.stopped)).toBe(true);
}

describe('connection machine: generated paths', () => {
  beforeAll(() => {
    expect(statePaths.length).toBeGreaterThan(15);
  });

  for (const { input, path } of statePaths) {
    const route = path.steps
      .map((s) => s.event.type)
      .filter((t) => (t as string) !== 'xstate.init');
    const mode = `${input.reconnectAttempts > 0 ? 'reconnect on' : 'reconnect off'}, window ${input.maxInFlight}`;
    it(`${mode}: reaches ${abstractState(path.state)} via ${route.join(' → ') || '(start)'}, then takes every event offered there`, () => {
      replay(input, path.steps);
      for (const event of eventsFor(path.state)) replay(input, [...path.steps, { event }]);
    });
  }
});

describe('connection machine: transitions covered by the generated paths', () => {
  afterAll(() => {
    const lines = transitions.map(
      (t) => `${String(taken.get(t)).padStart(4)}  ${transitionLabel(t)}`,
    );
    console.log(`transitions covered (${transitions.length}):\n${lines.join('\n')}`);
  });

  for (const t of transitions) {
    it(`takes ${transitionLabel(t)}`, () => {
      expect(taken.get(t)).toBeGreaterThan(0);
    });
  }
});
