/**
 * The relay turns inspection events of a real actor (with the scripted fake
 * socket and XState's simulated clock) into Stately-style messages and keeps
 * what a late page needs.
 */
import { describe, expect, it } from 'vitest';
import { createActor, type InspectionEvent } from 'xstate';
import { connectionMachine } from '../../machines/connection.machine.js';
import { InspectionRelay, type RelayMessage } from '../../visualizer/relay.js';
import { CountingClock } from '../support/counting-clock.js';
import { createFakeSocket } from '../support/fake-socket.js';

type Emitted = RelayMessage | { type: 'viz.transition'; transition: unknown };

function drive(transitionLimit?: number) {
  const messages: Emitted[] = [];
  const relay = new InspectionRelay({
    machineId: connectionMachine.id,
    emit: (message) => messages.push(message),
    ...(transitionLimit !== undefined ? { transitionLimit } : {}),
  });
  const sockets = createFakeSocket();
  const clock = new CountingClock();
  const actor = createActor(connectionMachine.provide({ actors: { socket: sockets.logic } }), {
    input: { endpoint: '/run/overlayd.sock' },
    inspect: relay.inspect,
    clock,
  });
  actor.start();
  return { relay, messages, sockets, clock, actor };
}

describe('InspectionRelay', () => {
  it('sends Stately-style messages with session ids, events and safe snapshots', () => {
    const { messages, actor, sockets } = drive();
    actor.send({ type: 'connect' });
    sockets.current.connect();

    const snapshot = messages.find(
      (m): m is Extract<RelayMessage, { type: '@xstate.snapshot' }> =>
        m.type === '@xstate.snapshot' && 'machineId' in m && m.event !== null,
    );
    expect(snapshot).toMatchObject({
      type: '@xstate.snapshot',
      sessionId: actor.sessionId,
      rootId: actor.sessionId,
      machineId: 'overlaydConnection',
      event: { type: 'xstate.init' },
      snapshot: { value: 'idle', status: 'active', context: { endpoint: '/run/overlayd.sock' } },
      _version: '1',
    });
    expect(typeof snapshot?.createdAt).toBe('string');
    const types = new Set(messages.map((m) => m.type));
    for (const type of [
      '@xstate.snapshot',
      '@xstate.event',
      '@xstate.actor',
      '@xstate.microstep',
      '@xstate.action',
      'viz.transition',
    ]) {
      expect(types).toContain(type);
    }
    const actors = messages.filter((m) => m.type === '@xstate.actor');
    expect(actors).toContainEqual(
      expect.objectContaining({ actorId: actor.sessionId, machineId: 'overlaydConnection' }),
    );
    expect(actors).toContainEqual(
      expect.objectContaining({ actorId: 'socket', parentId: actor.sessionId }),
    );
    expect(() => JSON.stringify(messages)).not.toThrow();
    actor.stop();
  });

  it('serializes the Error a socket.closed event carries', () => {
    const { messages, actor, sockets } = drive();
    actor.send({ type: 'connect', maxAttempts: 1 });
    sockets.current.fail('connect ECONNREFUSED');
    const closed = messages.find(
      (m) =>
        m.type === '@xstate.event' &&
        (m as { event: { type: string } }).event.type === 'socket.closed',
    );
    expect(closed).toMatchObject({
      event: { type: 'socket.closed', error: { name: 'Error', message: 'connect ECONNREFUSED' } },
      sourceId: expect.any(String),
    });
    actor.stop();
  });

  it('keeps the current snapshot, the timeline and the pending after timer for late pages', () => {
    const { relay, actor, sockets, clock } = drive();
    actor.send({ type: 'connect', maxAttempts: 3 });
    sockets.current.fail();
    expect(relay.state().current?.snapshot.value).toBe('backoff');
    expect(relay.state().scheduled).toEqual([
      expect.objectContaining({
        sessionId: actor.sessionId,
        id: 'xstate.after.backoffDelay.overlaydConnection.backoff',
        delayMs: 100,
      }),
    ]);
    clock.advance(100);
    expect(relay.state().scheduled).toEqual([]);
    sockets.current.connect();
    actor.send({ type: 'request.enqueue', requests: [{ token: 1, id: '1', op: 'status' }] });
    actor.send({ type: 'request.enqueue', requests: [{ token: 2, id: '2', op: 'status' }] });

    const state = relay.state();
    expect(state.current?.snapshot).toMatchObject({
      value: { session: 'awaitingResponse' },
      context: {
        inFlight: [
          { id: '1', op: 'status' },
          { id: '2', op: 'status' },
        ],
        queue: [],
      },
    });
    expect(
      state.transitions.map((t) => [t.from, t.to, t.event, t.targetless, t.note ?? '']),
    ).toEqual([
      ['', 'idle', 'xstate.init', false, 'started'],
      ['idle', 'session.connecting', 'connect', false, ''],
      ['session.connecting', 'backoff', 'socket.closed', false, ''],
      [
        'backoff',
        'session.connecting',
        'xstate.after.backoffDelay.overlaydConnection.backoff',
        false,
        '',
      ],
      ['session.connecting', 'session.connected', 'socket.connected', false, ''],
      ['session.connected', 'session.awaitingResponse', 'request.enqueue', false, ''],
      ['session.awaitingResponse', 'session.awaitingResponse', 'request.enqueue', true, ''],
    ]);
    expect(state.transitions[2]?.edgeIds).toEqual([
      'overlaydConnection.session.connecting::socket.closed::0',
    ]);
    expect(state.events.map((e) => (e.event as { type: string }).type)).toContain(
      'socket.connected',
    );
    expect(state.actors[actor.sessionId]).toBe(actor.sessionId);
    expect(Object.values(state.actors)).toContain('socket');

    actor.stop();
    expect(relay.state().transitions.at(-1)).toMatchObject({
      note: 'stopped',
      event: 'xstate.stop',
    });
  });

  it('notes when the machine reaches its final state, and forgets the session', () => {
    const { relay, actor } = drive();
    actor.send({ type: 'connect' });
    actor.send({ type: 'close' });
    expect(relay.state().transitions.slice(-2)).toEqual([
      expect.objectContaining({ from: 'session.connecting', to: 'closed', event: 'close' }),
      expect.objectContaining({ from: 'closed', to: 'closed', note: 'done' }),
    ]);
    expect(relay.state().current?.snapshot.status).toBe('done');
  });

  it('keeps only the newest transitions', () => {
    const { relay, actor, sockets } = drive(3);
    actor.send({ type: 'connect' });
    sockets.current.connect();
    for (let token = 1; token <= 5; token++) {
      actor.send({
        type: 'request.enqueue',
        requests: [{ token, id: String(token), op: 'status' }],
      });
      sockets.current.send({
        type: 'socket.responses',
        responses: [{ id: String(token), response: {} as never }],
      });
    }
    const seqs = relay.state().transitions.map((t) => t.seq);
    expect(seqs).toHaveLength(3);
    expect(seqs[2]).toBeGreaterThan(10);
    actor.stop();
  });

  it('never throws into the actor, whatever it is handed', () => {
    const relay = new InspectionRelay({
      machineId: 'x',
      emit: () => {
        throw new Error('a broken page');
      },
    });
    expect(() =>
      relay.inspect({ type: '@xstate.snapshot' } as unknown as InspectionEvent),
    ).not.toThrow();
    expect(() => relay.inspect(null as unknown as InspectionEvent)).not.toThrow();
  });
});
