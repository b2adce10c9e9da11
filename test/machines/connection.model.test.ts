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
  type AnyTransitionDefinition,
  createActor,
  type InspectionEvent,
  type SnapshotFrom,
} from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { backoffDelay } from '../../machines/backoff.js';
import { connectionMachine } from '../../machines/connection.machine.js';
import type { ConnectionEmitted, ConnectionEvent } from '../../machines/connection.types.js';
import { stateName } from '../../src/client/state.js';
import { allTransitions, transitionLabel } from '../support/chart-transitions.js';
import { CountingClock } from '../support/counting-clock.js';
import { createFakeSocket } from '../support/fake-socket.js';

const harness = createFakeSocket();
const machine = connectionMachine.provide({ actors: { socket: harness.logic } });
type Snapshot = SnapshotFrom<typeof machine>;
/** Reconnect on (a budget of 2) and off: each reaches transitions the other cannot. */
const inputs = [
  { endpoint: '/run/model.sock', queueLimit: 2, reconnectAttempts: 2 },
  { endpoint: '/run/model.sock', queueLimit: 2, reconnectAttempts: 0 },
];
const AFTER_BACKOFF = 'xstate.after.backoffDelay.overlaydConnection.backoff';
const ok = { result: 'ok' } as const;

/** The abstract state the traversal distinguishes (the rest of the context is counters). */
function abstractState(snapshot: Snapshot): string {
  const c = snapshot.context;
  return JSON.stringify([
    snapshot.value,
    c.queue.length,
    c.inFlight !== null,
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
  const events: ModelEvent[] = [
    { kind: 'connect', type: 'connect', maxAttempts: 2 },
    { kind: 'close', type: 'close' },
    {
      kind: 'enqueue',
      type: 'request.enqueue',
      request: { token: next, id: String(next), op: 'status' },
    },
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
    { kind: 'response.unknown', type: 'socket.response', id: '902', response: ok },
    { kind: 'after', type: AFTER_BACKOFF } as unknown as ModelEvent,
    { kind: 'stuck', type: 'socket.stuck', stuck: !c.stuck },
  ];
  if (c.inFlight !== null) {
    events.push(
      { kind: 'response.inFlight', type: 'socket.response', id: c.inFlight.id, response: ok },
      {
        kind: 'undecodable.inFlight',
        type: 'socket.undecodable',
        error: new Error('bad body'),
        id: c.inFlight.id,
      },
      {
        kind: 'cancel.inFlight',
        type: 'request.cancel',
        token: c.inFlight.token,
        reason: 'timeout',
      },
    );
  }
  const late = c.lateIds[0];
  if (late !== undefined)
    events.push({ kind: 'response.late', type: 'socket.response', id: late, response: ok });
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
  const actor = createActor(machine, {
    input,
    clock,
    inspect: (event: InspectionEvent) => {
      if (event.type !== '@xstate.microstep' || event.actorRef !== actor) return;
      for (const t of event._transitions) {
        if (taken.has(t)) taken.set(t, (taken.get(t) ?? 0) + 1);
      }
    },
  });
  const count = (e: ConnectionEmitted) => {
    if (e.type === 'request.answered' || e.type === 'request.failed') {
      settled.set(e.token, (settled.get(e.token) ?? 0) + 1);
    }
  };
  actor.on('request.answered', count);
  actor.on('request.failed', count);
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
      nextToken++;
      event = { ...event, request: { token: nextToken, id: String(nextToken), op: 'status' } };
    }
    if ((event.type as string) === AFTER_BACKOFF) {
      clock.increment(backoffDelay(actor.getSnapshot().context.attempt));
    } else if (event.type.startsWith('socket.')) {
      if (harness.opened.length > 0) harness.current.send(event as never);
    } else {
      if (event.type === 'request.enqueue') enqueued.add(event.request.token);
      actor.send(event);
    }
    checkInvariants(actor.getSnapshot(), clock, settled, enqueued);
  }
  actor.stop();
}

function checkInvariants(
  snapshot: Snapshot,
  clock: CountingClock,
  settled: Map<number, number>,
  enqueued: Set<number>,
) {
  const c = snapshot.context;
  const state = stateName(snapshot.value);
  for (const times of settled.values()) expect(times).toBe(1);
  for (const token of settled.keys()) expect(enqueued.has(token)).toBe(true);
  const held = [...c.queue.map((r) => r.token), ...(c.inFlight ? [c.inFlight.token] : [])];
  for (const token of held) expect(settled.has(token)).toBe(false);
  expect(c.queue.length).toBeLessThanOrEqual(c.queueLimit);
  switch (state) {
    case 'connected':
      expect(c.inFlight).toBeNull();
      expect(c.queue).toEqual([]);
      expect(clock.armed.size).toBe(0);
      break;
    case 'awaitingResponse':
      expect(c.inFlight).not.toBeNull();
      expect(harness.current.writes.at(-1)).toBe(c.inFlight?.token);
      break;
    case 'backoff':
      expect(c.inFlight).toBeNull();
      expect(clock.armed.size).toBe(1);
      expect(clock.delays.at(-1)).toBe(backoffDelay(c.attempt, c.backoff));
      break;
    case 'failed':
    case 'closed':
      expect(c.inFlight).toBeNull();
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
    const mode = input.reconnectAttempts > 0 ? 'reconnect on' : 'reconnect off';
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
