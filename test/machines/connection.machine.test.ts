/**
 * The connection machine in isolation: a scripted socket actor and XState's
 * simulated clock (these tests are about decisions and timing, so fakes are
 * the right tool here; real sockets are exercised in test/client/).
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { backoffSchedule } from '../../machines/backoff.js';
import { connectionMachine } from '../../machines/connection.machine.js';
import type { ConnectionEmitted, ConnectionInput } from '../../machines/connection.types.js';
import { stateName } from '../../src/client/state.js';
import { CountingClock } from '../support/counting-clock.js';
import { createFakeSocket } from '../support/fake-socket.js';

const ok = { result: 'ok' } as const;

function start(input: Partial<ConnectionInput> = {}) {
  const sockets = createFakeSocket();
  const clock = new CountingClock();
  const actor = createActor(connectionMachine.provide({ actors: { socket: sockets.logic } }), {
    // One at a time unless a test asks for a window (the window's own tests do).
    input: { endpoint: '/run/test.sock', maxInFlight: 1, ...input },
    clock,
  });
  const emitted: ConnectionEmitted[] = [];
  actor.on('*', (event) => emitted.push(event));
  actor.start();
  const state = () => stateName(actor.getSnapshot().value);
  const context = () => actor.getSnapshot().context;
  const ref = (token: number, op = 'status') => ({ token, id: String(token), op });
  const enqueue = (token: number, op = 'status') =>
    actor.send({ type: 'request.enqueue', requests: [ref(token, op)] });
  const enqueueBatch = (...tokens: number[]) =>
    actor.send({ type: 'request.enqueue', requests: tokens.map((token) => ref(token)) });
  const respond = (...ids: string[]) =>
    sockets.current.send({
      type: 'socket.responses',
      responses: ids.map((id) => ({ id, response: ok })),
    });
  const failures = () =>
    emitted.filter(
      (e): e is Extract<ConnectionEmitted, { type: 'request.failed' }> =>
        e.type === 'request.failed',
    );
  return {
    actor,
    sockets,
    clock,
    emitted,
    state,
    context,
    enqueue,
    enqueueBatch,
    respond,
    failures,
  };
}

describe('connection machine: connect cycle', () => {
  it('sleeps 100, 200, 400, 800 then 1000 ms between 20 failing attempts, and never after the last', () => {
    const { actor, sockets, clock, state, context, emitted } = start();
    sockets.autoConnect = false;
    actor.send({ type: 'connect', maxAttempts: 20 });
    const attemptTimes = [clock.now()];
    while (state() === 'backoff') {
      const before = sockets.opened.length;
      // Advance to just before the armed delay: no new attempt yet.
      const delay = clock.delays.at(-1) ?? 0;
      clock.increment(delay - 1);
      expect(sockets.opened.length).toBe(before);
      clock.increment(1);
      expect(sockets.opened.length).toBe(before + 1);
      attemptTimes.push(clock.now());
    }
    const sleeps = attemptTimes.slice(1).map((t, i) => t - (attemptTimes[i] ?? 0));
    expect(sleeps).toEqual([100, 200, 400, 800, ...Array(15).fill(1000)]);
    expect(sleeps).toEqual(backoffSchedule(20));
    expect(sockets.opened).toHaveLength(20);
    expect(state()).toBe('failed');
    expect(context().attempt).toBe(20);
    expect(clock.armed.size).toBe(0);
    expect(emitted.filter((e) => e.type === 'connect.failed')).toEqual([
      { type: 'connect.failed', attempts: 20, cause: expect.any(Error) },
    ]);
  });

  it('makes exactly one attempt and arms no timer when maxAttempts is 0 or 1', () => {
    for (const maxAttempts of [0, 1]) {
      const { actor, sockets, clock, state } = start();
      sockets.autoConnect = false;
      actor.send({ type: 'connect', maxAttempts });
      expect(state()).toBe('failed');
      expect(sockets.opened).toHaveLength(1);
      expect(clock.delays).toEqual([]);
    }
  });

  it('connects on a later attempt and resets the attempt count', () => {
    const { actor, sockets, clock, state, context, emitted } = start();
    actor.send({ type: 'connect', maxAttempts: 5 });
    sockets.current.fail();
    expect(state()).toBe('backoff');
    clock.increment(100);
    expect(state()).toBe('connecting');
    sockets.current.connect();
    expect(state()).toBe('connected');
    expect(context().attempt).toBe(0);
    expect(context().lastError).toBeNull();
    expect(emitted).toContainEqual({ type: 'connected', reconnect: false });
  });

  it('applies jitter only when asked, never lengthening a sleep', () => {
    const { actor, sockets, clock } = start({ backoff: { jitter: 1 } });
    sockets.autoConnect = false;
    actor.send({ type: 'connect', maxAttempts: 4 });
    clock.advance(10_000);
    expect(clock.delays).toHaveLength(3);
    clock.delays.forEach((delay, i) => {
      expect(delay).toBeLessThanOrEqual([100, 200, 400][i] ?? 0);
      expect(delay).toBeGreaterThanOrEqual(0);
    });
  });
});

describe('connection machine: requests', () => {
  it('queues requests while connecting and flushes them in order once connected', () => {
    const { actor, sockets, state, context, enqueue, respond } = start();
    actor.send({ type: 'connect' });
    enqueue(1);
    enqueue(2);
    expect(context().queue.map((r) => r.token)).toEqual([1, 2]);
    sockets.current.connect();
    expect(state()).toBe('awaitingResponse');
    expect(sockets.current.writes).toEqual([1]);
    respond('1');
    expect(sockets.current.writes).toEqual([1, 2]);
    respond('2');
    expect(state()).toBe('connected');
    expect(context().stats).toMatchObject({ sent: 2, answered: 2 });
  });

  it('refuses a request at once when the queue is full', () => {
    const { actor, enqueue, failures, context } = start({ queueLimit: 2 });
    actor.send({ type: 'connect' });
    enqueue(1);
    enqueue(2);
    enqueue(3);
    expect(context().queue).toHaveLength(2);
    expect(failures()).toEqual([
      { type: 'request.failed', token: 3, kind: 'queueFull', delivery: 'not-sent' },
    ]);
  });

  it('drops a cancelled queued request without ever writing it', () => {
    const { actor, sockets, enqueue, failures } = start();
    actor.send({ type: 'connect' });
    enqueue(1);
    enqueue(2);
    actor.send({ type: 'request.cancel', token: 1, reason: 'aborted' });
    sockets.current.connect();
    expect(sockets.current.writes).toEqual([2]);
    expect(failures()).toEqual([
      { type: 'request.failed', token: 1, kind: 'aborted', delivery: 'not-sent' },
    ]);
  });

  it('fails a timed-out request in flight as sent, writes the next, and skips its late response', () => {
    const { actor, sockets, enqueue, failures, context, emitted, state, respond } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    enqueue(2);
    actor.send({ type: 'request.cancel', token: 1, reason: 'timeout' });
    expect(failures()).toEqual([
      { type: 'request.failed', token: 1, kind: 'timeout', delivery: 'sent' },
    ]);
    expect(sockets.current.writes).toEqual([1, 2]);
    expect(context().lateIds).toEqual(['1']);
    respond('1');
    expect(state()).toBe('awaitingResponse');
    expect(context().stats.late).toBe(1);
    expect(context().lateIds).toEqual([]);
    respond('99');
    expect(context().stats.unknown).toBe(1);
    expect(emitted.filter((e) => e.type === 'frame.skipped')).toEqual([
      { type: 'frame.skipped', reason: 'late', id: '1', expected: '2' },
      { type: 'frame.skipped', reason: 'unknown', id: '99', expected: '2' },
    ]);
    respond('2');
    expect(emitted).toContainEqual({
      type: 'requests.answered',
      answers: [{ token: 2, response: ok }],
    });
    expect(state()).toBe('connected');
  });

  it('ignores a cancel for a request that already settled', () => {
    const { actor, sockets, enqueue, failures, respond } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    respond('1');
    actor.send({ type: 'request.cancel', token: 1, reason: 'timeout' });
    expect(failures()).toEqual([]);
  });

  it('delivers events at any point of a session', () => {
    const { actor, sockets, enqueue, emitted, context } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    const event = { event: 'peer_health_changed', pubkey: 'k', healthy: true } as const;
    sockets.current.send({ type: 'socket.event', event });
    expect(emitted).toContainEqual({ type: 'overlayd.event', event });
    expect(context().stats.events).toBe(1);
  });

  it('fails the waiting request when the server sends a request frame, and keeps the connection', () => {
    const { actor, sockets, enqueue, failures, state } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    enqueue(2);
    sockets.current.send({ type: 'socket.request', id: '7' });
    expect(failures()).toEqual([
      expect.objectContaining({ token: 1, kind: 'protocol', delivery: 'sent' }),
    ]);
    expect(sockets.current.writes).toEqual([1, 2]);
    sockets.current.send({ type: 'socket.request', id: '8' });
    expect(state()).toBe('connected');
    sockets.current.send({ type: 'socket.request', id: '9' });
    expect(state()).toBe('connected');
    expect(actor.getSnapshot().context.stats.dropped).toBe(3);
  });

  it('fails the in-flight request when its response cannot be decoded, and skips other bad frames', () => {
    const { actor, sockets, enqueue, failures, state, context } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    enqueue(2);
    sockets.current.send({ type: 'socket.undecodable', error: new Error('bad'), id: '5' });
    expect(failures()).toEqual([]);
    expect(context().stats.dropped).toBe(1);
    sockets.current.send({ type: 'socket.undecodable', error: new Error('bad'), id: '1' });
    expect(failures()).toEqual([
      expect.objectContaining({ token: 1, kind: 'undecodable', delivery: 'sent' }),
    ]);
    sockets.current.send({ type: 'socket.undecodable', error: new Error('bad'), id: '2' });
    expect(state()).toBe('connected');
  });
});

describe('connection machine: drops and reconnects', () => {
  it('fails the in-flight request as sent, keeps queued ones, and writes them after reconnecting', () => {
    const { actor, sockets, clock, enqueue, failures, state, emitted } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    enqueue(2);
    sockets.current.fail('peer hung up');
    expect(state()).toBe('backoff');
    expect(failures()).toEqual([
      expect.objectContaining({ token: 1, kind: 'closed', delivery: 'sent' }),
    ]);
    clock.increment(100);
    sockets.current.connect();
    expect(sockets.opened).toHaveLength(2);
    expect(sockets.opened[0]?.writes).toEqual([1]);
    expect(sockets.current.writes).toEqual([2]);
    expect(emitted).toContainEqual({ type: 'connected', reconnect: true });
  });

  it('forgets late ids on reconnect: an old connection cannot answer on a new one', () => {
    const { actor, sockets, clock, enqueue, context, respond } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    actor.send({ type: 'request.cancel', token: 1, reason: 'timeout' });
    expect(context().lateIds).toEqual(['1']);
    sockets.current.fail();
    clock.increment(100);
    sockets.current.connect();
    expect(context().lateIds).toEqual([]);
    respond('1');
    expect(context().stats).toMatchObject({ late: 0, unknown: 1 });
  });

  it('drops a stuck connection when its in-flight request is given up, keeping queued ones for the next', () => {
    const { actor, sockets, clock, enqueue, failures, state, context } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    enqueue(2);
    sockets.current.send({ type: 'socket.stuck', stuck: true });
    actor.send({ type: 'request.cancel', token: 1, reason: 'timeout' });
    expect(state()).toBe('backoff');
    expect(sockets.opened[0]?.stopped).toBe(true);
    expect(failures()).toEqual([
      { type: 'request.failed', token: 1, kind: 'timeout', delivery: 'sent' },
    ]);
    expect(context().lastError?.message).toContain('stopped inside a frame');
    clock.increment(100);
    sockets.current.connect();
    expect(sockets.current.writes).toEqual([2]);
    expect(context().stuck).toBe(false);
  });

  it('with reconnect off, a stuck connection fails what is queued, saying why', () => {
    const { actor, sockets, enqueue, failures, state } = start({ reconnectAttempts: 0 });
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    enqueue(2);
    sockets.current.send({ type: 'socket.stuck', stuck: true });
    actor.send({ type: 'request.cancel', token: 1, reason: 'aborted' });
    expect(state()).toBe('failed');
    const queued = failures().find((f) => f.token === 2);
    expect(queued).toMatchObject({ kind: 'closed', delivery: 'not-sent' });
    expect(queued?.cause?.message).toMatch(/stopped inside a frame.*auto-reconnect is off/);
  });

  it('gives up after the reconnect budget and fails what is queued as not sent', () => {
    const { actor, sockets, clock, enqueue, failures, state } = start({ reconnectAttempts: 3 });
    actor.send({ type: 'connect' });
    sockets.current.connect();
    sockets.current.fail();
    enqueue(1);
    sockets.autoConnect = false;
    clock.advance(100 + 100 + 200);
    expect(sockets.opened).toHaveLength(4);
    expect(state()).toBe('failed');
    expect(failures()).toEqual([
      expect.objectContaining({ token: 1, kind: 'connect', delivery: 'not-sent', attempts: 3 }),
    ]);
    expect(clock.armed.size).toBe(0);
  });

  it('starts a new cycle when a request arrives after giving up', () => {
    const { actor, sockets, enqueue, state } = start({ reconnectAttempts: 1 });
    sockets.autoConnect = false;
    actor.send({ type: 'connect' });
    expect(state()).toBe('failed');
    sockets.autoConnect = true;
    enqueue(1);
    expect(state()).toBe('awaitingResponse');
    expect(sockets.current.writes).toEqual([1]);
  });

  it('stays down after a drop when reconnect is off, refusing requests', () => {
    const { actor, sockets, enqueue, failures, state } = start({ reconnectAttempts: 0 });
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    enqueue(2);
    sockets.current.fail();
    expect(state()).toBe('failed');
    enqueue(3);
    expect(failures().map((f) => [f.token, f.kind, f.delivery])).toEqual([
      [1, 'closed', 'sent'],
      [2, 'closed', 'not-sent'],
      [3, 'notConnected', 'not-sent'],
    ]);
    actor.send({ type: 'connect' });
    expect(state()).toBe('connecting');
  });

  it('fails everything on close and stops the socket actor', () => {
    const { actor, sockets, enqueue, failures, state } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    enqueue(2);
    actor.send({ type: 'close' });
    expect(state()).toBe('closed');
    expect(actor.getSnapshot().status).toBe('done');
    expect(sockets.current.stopped).toBe(true);
    expect(failures().map((f) => [f.token, f.kind, f.delivery])).toEqual([
      [1, 'closed', 'sent'],
      [2, 'closed', 'not-sent'],
    ]);
  });

  it('keeps its context JSON-serializable', () => {
    const { actor, sockets, enqueue } = start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    enqueue(1);
    const context = actor.getSnapshot().context;
    expect(JSON.parse(JSON.stringify(context))).toEqual(context);
  });
});

describe('connection machine: a window of requests in flight', () => {
  function connected(input: Partial<ConnectionInput> = {}) {
    const harness = start({ maxInFlight: 2, ...input });
    harness.actor.send({ type: 'connect' });
    harness.sockets.current.connect();
    return harness;
  }

  it('writes as many as the window takes in one write, and refills it as answers arrive', () => {
    const { sockets, enqueueBatch, respond, state, context, emitted } = connected();
    enqueueBatch(1, 2, 3);
    expect(sockets.current.commands).toEqual([[1, 2]]);
    expect(state()).toBe('awaitingResponse');
    expect(context().inFlight.map((r) => r.token)).toEqual([1, 2]);
    expect(context().queue.map((r) => r.token)).toEqual([3]);
    respond('1');
    expect(sockets.current.commands).toEqual([[1, 2], [3]]);
    expect(state()).toBe('awaitingResponse');
    respond('2', '3');
    expect(state()).toBe('connected');
    expect(context().inFlight).toEqual([]);
    expect(context().stats).toMatchObject({ sent: 3, answered: 3 });
    // One emitted event per batch of responses, oldest first.
    expect(emitted.filter((e) => e.type === 'requests.answered')).toEqual([
      { type: 'requests.answered', answers: [{ token: 1, response: ok }] },
      {
        type: 'requests.answered',
        answers: [
          { token: 2, response: ok },
          { token: 3, response: ok },
        ],
      },
    ]);
  });

  it('under load: arrivals wait while the window is full, and a read answering its oldest refills it in one write', () => {
    const { sockets, enqueueBatch, respond, state, context, emitted, failures } = connected({
      queueLimit: 4,
    });
    enqueueBatch(1, 2);
    enqueueBatch(3, 4, 5);
    // The window is full: nothing more is written, the arrivals wait in order.
    expect(sockets.current.commands).toEqual([[1, 2]]);
    expect(context().queue.map((r) => r.token)).toEqual([3, 4, 5]);
    // Beyond the queue's room the arrivals are refused, the rest still wait.
    enqueueBatch(6, 7);
    expect(context().queue.map((r) => r.token)).toEqual([3, 4, 5, 6]);
    expect(failures().map((f) => [f.token, f.kind, f.delivery])).toEqual([
      [7, 'queueFull', 'not-sent'],
    ]);
    respond('1', '2');
    expect(sockets.current.commands).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(context().inFlight.map((r) => r.token)).toEqual([3, 4]);
    expect(context().queue.map((r) => r.token)).toEqual([5, 6]);
    respond('3');
    expect(sockets.current.commands.at(-1)).toEqual([5]);
    respond('4', '5');
    expect(sockets.current.commands.at(-1)).toEqual([6]);
    expect(state()).toBe('awaitingResponse');
    respond('6');
    expect(state()).toBe('connected');
    expect(context().stats).toMatchObject({ sent: 6, answered: 6 });
    expect(
      emitted
        .filter((e) => e.type === 'requests.answered')
        .map((e) => e.answers.map((a) => a.token)),
    ).toEqual([[1, 2], [3], [4, 5], [6]]);
  });

  it('writes a request arriving while others are in flight, window permitting', () => {
    const { sockets, enqueue, respond, state } = connected();
    enqueue(1);
    enqueue(2);
    enqueue(3);
    expect(sockets.current.commands).toEqual([[1], [2]]);
    respond('2', '1');
    expect(sockets.current.commands).toEqual([[1], [2], [3]]);
    expect(state()).toBe('awaitingResponse');
  });

  it('matches responses by id, skipping strays in the same batch', () => {
    const { enqueueBatch, respond, context, emitted, state } = connected();
    enqueueBatch(1, 2);
    respond('99', '2');
    expect(context().inFlight.map((r) => r.token)).toEqual([1]);
    expect(context().stats.unknown).toBe(1);
    expect(emitted).toContainEqual({
      type: 'frame.skipped',
      reason: 'unknown',
      id: '99',
      expected: '1',
    });
    respond('1');
    expect(state()).toBe('connected');
  });

  it('on a drop fails every written, unanswered request as sent, re-sends none, and sends the queued ones after the reconnect', () => {
    const { sockets, clock, enqueueBatch, failures, state } = connected();
    enqueueBatch(1, 2, 3);
    sockets.current.fail('peer hung up');
    expect(state()).toBe('backoff');
    expect(failures().map((f) => [f.token, f.kind, f.delivery])).toEqual([
      [1, 'closed', 'sent'],
      [2, 'closed', 'sent'],
    ]);
    clock.increment(100);
    sockets.current.connect();
    expect(sockets.opened[0]?.writes).toEqual([1, 2]);
    expect(sockets.current.writes).toEqual([3]);
  });

  it('puts requests whose write provably never left back at the head of the queue, in order', () => {
    const { actor, sockets, clock, enqueueBatch, enqueue, failures, context } = connected();
    enqueueBatch(1, 2);
    enqueue(3);
    sockets.current.send({ type: 'socket.closed', error: new Error('write EPIPE'), unsent: [2] });
    expect(failures().map((f) => [f.token, f.delivery])).toEqual([[1, 'sent']]);
    expect(context().queue.map((r) => r.token)).toEqual([2, 3]);
    expect(context().stats.sent).toBe(1);
    enqueue(4);
    clock.increment(100);
    sockets.current.connect();
    expect(sockets.current.commands).toEqual([[2, 3]]);
    expect(actor.getSnapshot().context.queue.map((r) => r.token)).toEqual([4]);
  });

  it('with reconnect off, fails the provably unsent ones as not sent', () => {
    const { sockets, enqueueBatch, failures, state } = connected({ reconnectAttempts: 0 });
    enqueueBatch(1, 2);
    sockets.current.send({
      type: 'socket.closed',
      error: new Error('write EPIPE'),
      unsent: [1, 2],
    });
    expect(state()).toBe('failed');
    expect(failures().map((f) => [f.token, f.kind, f.delivery])).toEqual([
      [1, 'closed', 'not-sent'],
      [2, 'closed', 'not-sent'],
    ]);
  });

  it('a deadline or abort: a queued request is never written; one in flight fails at once and its late answer is skipped', () => {
    const { actor, sockets, enqueueBatch, respond, failures, context, state } = connected();
    enqueueBatch(1, 2, 3, 4);
    actor.send({ type: 'request.cancel', token: 4, reason: 'aborted' });
    actor.send({ type: 'request.cancel', token: 2, reason: 'timeout' });
    expect(failures().map((f) => [f.token, f.kind, f.delivery])).toEqual([
      [4, 'aborted', 'not-sent'],
      [2, 'timeout', 'sent'],
    ]);
    // The window had room again: the queued 3 went out.
    expect(sockets.current.commands).toEqual([[1, 2], [3]]);
    expect(context().lateIds).toEqual(['2']);
    respond('1', '2', '3');
    expect(context().stats).toMatchObject({ answered: 2, late: 1 });
    expect(state()).toBe('connected');
    expect(sockets.current.writes).not.toContain(4);
  });

  it('gives up one of the window on a stuck connection: drops it, failing the rest of the window as sent', () => {
    const { actor, sockets, clock, enqueueBatch, failures, state } = connected();
    enqueueBatch(1, 2, 3);
    sockets.current.send({ type: 'socket.stuck', stuck: true });
    actor.send({ type: 'request.cancel', token: 2, reason: 'timeout' });
    expect(state()).toBe('backoff');
    expect(failures().map((f) => [f.token, f.kind, f.delivery])).toEqual([
      [2, 'timeout', 'sent'],
      [1, 'closed', 'sent'],
    ]);
    expect(failures()[1]?.cause?.message).toMatch(/stopped inside a frame/);
    clock.increment(100);
    sockets.current.connect();
    expect(sockets.current.writes).toEqual([3]);
  });

  it('bounds what it holds: the window plus queueLimit waiting; the rest are refused at once', () => {
    const { enqueueBatch, failures, context, sockets } = connected({ queueLimit: 1 });
    enqueueBatch(1, 2, 3, 4);
    expect(sockets.current.writes).toEqual([1, 2]);
    expect(context().queue.map((r) => r.token)).toEqual([3]);
    expect(failures()).toEqual([
      { type: 'request.failed', token: 4, kind: 'queueFull', delivery: 'not-sent' },
    ]);
  });

  it('a frame that names no id fails the oldest in flight; an unknown event fails nothing', () => {
    const { sockets, enqueueBatch, respond, failures, context, state } = connected();
    enqueueBatch(1, 2);
    sockets.current.send({ type: 'socket.unknownEvent', error: new Error('unknown variant') });
    expect(failures()).toEqual([]);
    sockets.current.send({ type: 'socket.unreadable', error: new Error('empty body') });
    expect(failures()).toEqual([
      expect.objectContaining({ token: 1, kind: 'unreadable', delivery: 'sent' }),
    ]);
    expect(context().stats.dropped).toBe(2);
    respond('1', '2');
    expect(context().stats).toMatchObject({ answered: 1, late: 1 });
    expect(state()).toBe('connected');
  });

  it('with nothing in flight, skips every undecodable frame and counts it', () => {
    const { sockets, failures, context, state, emitted } = connected();
    sockets.current.send({ type: 'socket.unreadable', error: new Error('empty body') });
    sockets.current.send({ type: 'socket.unknownEvent', error: new Error('unknown variant') });
    expect(failures()).toEqual([]);
    expect(context().stats.dropped).toBe(2);
    expect(state()).toBe('connected');
    expect(emitted.filter((e) => e.type === 'frame.skipped').map((e) => e.reason)).toEqual([
      'unreadable',
      'event',
    ]);
  });

  it('on close fails the window as sent and the queue as not sent', () => {
    const { actor, enqueueBatch, failures } = connected();
    enqueueBatch(1, 2, 3);
    actor.send({ type: 'close' });
    expect(failures().map((f) => [f.token, f.delivery])).toEqual([
      [1, 'sent'],
      [2, 'sent'],
      [3, 'not-sent'],
    ]);
  });

  it('clamps the window to at least one', () => {
    const { context } = start({ maxInFlight: 0 });
    expect(context().maxInFlight).toBe(1);
  });
});
