/**
 * Model-based tests of the overlay manager's chart, as for the connection's:
 * paths generated from the machine itself with `xstate/graph`, replayed on a
 * running actor (a scripted resync actor and a simulated clock — this is
 * about the chart in isolation), checking after every step what the chart
 * does not state on its own: a resync runs exactly while `reconciling`, a
 * retry is armed exactly while `degraded` with the delay of the backoff
 * schedule, a background reconnect exactly while `offline` with the delay of
 * the reconnect schedule, the host is told to dial exactly when the chart
 * leaves `idle` or `offline` for a connect cycle (with the budget asked
 * for), and each completed or failed resync is announced once.
 *
 * The last block lists every transition of the definition with the number
 * of generated steps that took it; a transition no path reaches fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AnyActorRef,
  type AnyTransitionDefinition,
  createActor,
  type EventObject,
  fromCallback,
  type SnapshotFrom,
} from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { backoffDelay } from '../../machines/backoff.js';
import { managerMachine, NOTHING_DECLARED } from '../../machines/manager.machine.js';
import type {
  ManagerEmitted,
  ManagerMachineEvent,
  ResyncEvent,
} from '../../machines/manager.types.js';
import {
  allTransitions,
  countTransitionsTaken,
  transitionLabel,
} from '../support/chart-transitions.js';
import { CountingClock } from '../support/counting-clock.js';

/** The resync actors started, each with the `sendBack` a test step reports through. */
const resyncs: Array<{ sendBack: (event: ResyncEvent) => void; stopped: boolean }> = [];
const scriptedResync = fromCallback<EventObject, unknown, ResyncEvent>(({ sendBack }) => {
  const entry = { sendBack, stopped: false };
  resyncs.push(entry);
  return () => {
    entry.stopped = true;
  };
});
const machine = managerMachine.provide({ actors: { resync: scriptedResync as never } });
type Snapshot = SnapshotFrom<typeof machine>;
const input = { endpoint: '/run/model.sock', connectAttempts: 4 };
const AFTER_RETRY = 'xstate.after.retryDelay.overlayManager.degraded';
const AFTER_RECONNECT = 'xstate.after.reconnectDelay.overlayManager.offline';
const SOME_DECLARED = { ...NOTHING_DECLARED, globalOverlay: 1 };

function abstractState(snapshot: Snapshot): string {
  const c = snapshot.context;
  const declared = Object.values(c.declared).some((n) => n > 0);
  return JSON.stringify([
    snapshot.value,
    declared,
    Math.min(c.failures, 2),
    Math.min(c.reconnectTries, 2),
  ]);
}

type ModelEvent = ManagerMachineEvent & { kind: string };

function eventsFor(snapshot: Snapshot): ModelEvent[] {
  if (snapshot.status === 'done') return [];
  const events: ModelEvent[] = [
    { kind: 'up', type: 'connection.up' },
    { kind: 'down', type: 'connection.down' },
    { kind: 'lost', type: 'connection.lost' },
    { kind: 'connect', type: 'connect' },
    { kind: 'connect 2', type: 'connect', maxAttempts: 2 },
    { kind: 'close', type: 'close' },
    { kind: 'declare', type: 'record.changed', declared: SOME_DECLARED },
    { kind: 'forget', type: 'record.changed', declared: { ...NOTHING_DECLARED } },
  ];
  if (snapshot.value === 'reconciling') {
    events.push(
      {
        kind: 'resync.done',
        type: 'resync.done',
        report: { overlayd: 'restarted', reapplied: [], durationMs: 1 },
      },
      {
        kind: 'resync.failed',
        type: 'resync.failed',
        failure: { step: 'register_dns a', answer: 'no', code: 'OVERLAYD_OVERLAY', message: 'no' },
      },
    );
  }
  if (snapshot.value === 'degraded') {
    events.push({ kind: 'after', type: AFTER_RETRY } as unknown as ModelEvent);
  }
  if (snapshot.value === 'offline') {
    events.push({ kind: 'after reconnect', type: AFTER_RECONNECT } as unknown as ModelEvent);
  }
  return events;
}

const transitions = allTransitions(machine.root);
const taken = new Map<AnyTransitionDefinition, number>(transitions.map((t) => [t, 0]));
const statePaths = getShortestPaths(machine, {
  events: eventsFor,
  serializeState: (snapshot) => abstractState(snapshot as Snapshot),
  serializeEvent: (event) => (event as ModelEvent).kind,
  input,
});
type Step = { event: { type: string; kind?: string } };

function replay(steps: Step[]) {
  resyncs.length = 0;
  const clock = new CountingClock();
  const emitted: ManagerEmitted[] = [];
  const dials: number[] = [];
  const actor = createActor(machine, {
    input,
    clock,
    inspect: countTransitionsTaken(taken, (): AnyActorRef => actor),
  });
  actor.on('resynced', (e) => emitted.push(e));
  actor.on('resyncFailed', (e) => emitted.push(e));
  actor.on('connect', (e) => dials.push(e.maxAttempts));
  actor.start();
  let reports = 0;
  for (const step of steps) {
    if ((step.event.type as string) === 'xstate.init') continue;
    const event = eventsFor(actor.getSnapshot()).find((e) => e.kind === step.event.kind);
    if (event === undefined) throw new Error(`live state does not offer ${step.event.kind}`);
    const before = actor.getSnapshot();
    const dialled = dials.length;
    if ((event.type as string) === AFTER_RETRY) {
      clock.increment(backoffDelay(before.context.failures, before.context.backoff));
    } else if ((event.type as string) === AFTER_RECONNECT) {
      const { reconnectTries, reconnectBackoff } = before.context;
      clock.increment(backoffDelay(reconnectTries + 1, reconnectBackoff));
    } else if (event.type === 'resync.done' || event.type === 'resync.failed') {
      resyncs.at(-1)?.sendBack(event);
      reports++;
    } else {
      actor.send(event);
    }
    const after = actor.getSnapshot();
    // The host is told to dial exactly when a connect cycle starts from idle or offline.
    const startsCycle =
      (before.value === 'idle' || before.value === 'offline') &&
      (after.value === 'connecting' || after.value === 'reconnecting');
    expect(dials.length - dialled).toBe(startsCycle ? 1 : 0);
    if (startsCycle) {
      const asked = event.type === 'connect' ? event.maxAttempts : undefined;
      expect(dials.at(-1)).toBe(asked ?? before.context.connectAttempts);
    }
    checkInvariants(after, clock, emitted, reports);
  }
  actor.stop();
}

function checkInvariants(
  snapshot: Snapshot,
  clock: CountingClock,
  emitted: ManagerEmitted[],
  reports: number,
) {
  const c = snapshot.context;
  const running = resyncs.filter((r) => !r.stopped).length;
  // A resync runs exactly while reconciling; one that is left is stopped (its requests aborted).
  expect(running).toBe(snapshot.value === 'reconciling' ? 1 : 0);
  // Each resync's outcome is announced once, in the order they came.
  expect(emitted.length).toBe(reports);
  expect(c.resyncs).toBe(emitted.filter((e) => e.type === 'resynced').length);
  switch (snapshot.value) {
    case 'degraded': {
      expect(clock.armed.size).toBe(1);
      expect(c.failures).toBeGreaterThan(0);
      const delay = backoffDelay(c.failures, c.backoff);
      expect(clock.delays.at(-1)).toBe(delay);
      expect(emitted.at(-1)).toEqual({
        type: 'resyncFailed',
        failure: c.lastFailure,
        retryInMs: delay,
      });
      break;
    }
    case 'offline':
      // Healing in the background: the next connect cycle is armed on the reconnect schedule.
      expect(clock.armed.size).toBe(1);
      expect(clock.delays.at(-1)).toBe(backoffDelay(c.reconnectTries + 1, c.reconnectBackoff));
      break;
    case 'synced':
      expect(clock.armed.size).toBe(0);
      expect(c.failures).toBe(0);
      expect(c.reconnectTries).toBe(0);
      expect(c.lastFailure).toBeNull();
      break;
    default:
      expect(clock.armed.size).toBe(0);
  }
}

describe('manager machine: generated paths', () => {
  beforeAll(() => {
    expect(statePaths.length).toBeGreaterThan(10);
  });

  for (const path of statePaths) {
    const route = path.steps
      .map((s) => (s.event as ModelEvent).kind ?? s.event.type)
      .filter((t) => t !== 'xstate.init');
    it(`reaches ${abstractState(path.state)} via ${route.join(' → ') || '(start)'}, then takes every event offered there`, () => {
      replay(path.steps);
      for (const event of eventsFor(path.state)) replay([...path.steps, { event }]);
    });
  }
});

describe('manager machine: transitions covered by the generated paths', () => {
  afterAll(() => {
    const lines = transitions.map(
      (t) => `${String(taken.get(t)).padStart(4)}  ${transitionLabel(t)}`,
    );
    console.log(`manager transitions covered (${transitions.length}):\n${lines.join('\n')}`);
  });

  for (const t of transitions) {
    it(`takes ${transitionLabel(t)}`, () => {
      expect(taken.get(t)).toBeGreaterThan(0);
    });
  }
});

describe('manager machine without a provided resync actor', () => {
  it('fails the resync, naming what is missing, and retries on the schedule', () => {
    const clock = new CountingClock();
    const actor = createActor(managerMachine, { input, clock });
    const failures: ManagerEmitted[] = [];
    actor.on('resyncFailed', (e) => failures.push(e));
    actor.start();
    actor.send({ type: 'record.changed', declared: SOME_DECLARED });
    actor.send({ type: 'connect' });
    actor.send({ type: 'connection.up' });
    expect(actor.getSnapshot().value).toBe('degraded');
    expect(failures).toEqual([
      {
        type: 'resyncFailed',
        failure: expect.objectContaining({
          message: 'no resync actor provided to the manager machine',
        }),
        retryInMs: 100,
      },
    ]);
    clock.increment(100);
    expect(actor.getSnapshot().context.failures).toBe(2);
    expect(clock.delays.at(-1)).toBe(200);
    actor.stop();
  });
});

describe('manager machine with background healing off', () => {
  it('stays offline until something asks it to connect', () => {
    const clock = new CountingClock();
    const actor = createActor(machine, { input: { ...input, heals: false }, clock });
    const dials: number[] = [];
    actor.on('connect', (e) => dials.push(e.maxAttempts));
    actor.start();
    actor.send({ type: 'connect' });
    actor.send({ type: 'connection.lost' });
    expect(actor.getSnapshot().value).toBe('offline');
    clock.advance(60_000);
    expect(actor.getSnapshot().value).toBe('offline');
    expect(dials).toEqual([4]);
    actor.send({ type: 'connect' });
    expect(actor.getSnapshot().value).toBe('reconnecting');
    expect(dials).toEqual([4, 4]);
    actor.stop();
  });

  it('heals on the backoff schedule, capped at its maximum, and starts over once connected', () => {
    const clock = new CountingClock();
    const actor = createActor(machine, { input, clock });
    const dials: number[] = [];
    actor.on('connect', (e) => dials.push(e.maxAttempts));
    actor.start();
    actor.send({ type: 'connect' });
    const waits: number[] = [];
    for (let cycle = 0; cycle < 7; cycle++) {
      actor.send({ type: 'connection.lost' });
      waits.push(clock.delays.at(-1) as number);
      clock.advance(waits.at(-1) as number);
      expect(actor.getSnapshot().value).toBe('reconnecting');
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(dials).toHaveLength(8);
    actor.send({ type: 'connection.up' });
    actor.send({ type: 'connection.down' });
    actor.send({ type: 'connection.lost' });
    expect(clock.delays.at(-1)).toBe(100);
    actor.stop();
  });
});
