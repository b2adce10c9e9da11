/**
 * The socket actor on its own: provided to the connection machine and run
 * against real Unix sockets (the reference accept loop), outside OverlaydClient.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor } from 'xstate';
import { connectionMachine } from '../../machines/connection.machine.js';
import type { ConnectionEmitted } from '../../machines/connection.types.js';
import { stateName } from '../../src/client/state.js';
import { encodeFrame } from '../../src/protocol/index.js';
import { createSocketActor, systemSocketActor } from '../../src/transport/socket-actor.js';
import { untilState } from '../support/manager-events.js';
import { type ScriptedServer, startScriptedServer } from '../support/scripted-server.js';

const servers: ScriptedServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.dispose();
});

/** Resolves once the connection actor is in `state` (as OverlaydClient names its states). */
function untilIn(actor: AnyActorRef, state: ReturnType<typeof stateName>): Promise<void> {
  const charted = {
    get state() {
      return stateName(actor.getSnapshot().value);
    },
    actor,
  };
  return untilState(charted, (now) => now === state);
}

function payload(id: number): Uint8Array {
  return encodeFrame({ frame: 'request', id, request: { op: 'status' } });
}

describe('socket actor', () => {
  it('connects, writes the payload the machine names, and turns the answer into an event', async () => {
    const server = await startScriptedServer();
    servers.push(server);
    const payloads = new Map([[1, payload(1)]]);
    const socket = createSocketActor({ payloadFor: (token) => payloads.get(token) });
    const actor = createActor(connectionMachine.provide({ actors: { socket } }), {
      input: { endpoint: server.endpoint },
    });
    const emitted: ConnectionEmitted[] = [];
    actor.on('*', (event) => emitted.push(event));
    const answered = new Promise((resolve) => actor.on('requests.answered', resolve));
    actor.start();
    actor.send({ type: 'connect' });
    await untilIn(actor, 'connected');
    actor.send({ type: 'request.enqueue', requests: [{ token: 1, id: '1', op: 'status' }] });
    await answered;
    expect(emitted).toContainEqual({
      type: 'requests.answered',
      answers: [
        {
          token: 1,
          response: {
            result: 'status',
            peer_count: 0,
            service_count: 0,
            peers: [],
            dedicated_services: [],
          },
        },
      ],
    });
    expect(server.received.map((r) => r.frame.id)).toEqual([1]);
    actor.stop();
  });

  it('writes nothing for a token that has no payload (it settled meanwhile)', async () => {
    const server = await startScriptedServer();
    servers.push(server);
    const socket = createSocketActor({ payloadFor: () => undefined });
    const actor = createActor(connectionMachine.provide({ actors: { socket } }), {
      input: { endpoint: server.endpoint },
    });
    actor.start();
    actor.send({ type: 'connect' });
    await untilIn(actor, 'connected');
    actor.send({ type: 'request.enqueue', requests: [{ token: 7, id: '7', op: 'status' }] });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.received).toEqual([]);
    actor.stop();
  });

  it('ends the connection when a payload cannot be written (over the frame cap)', async () => {
    const server = await startScriptedServer();
    servers.push(server);
    const huge = new Uint8Array(8 * 1024 * 1024 + 1);
    const socket = createSocketActor({ payloadFor: () => huge });
    const actor = createActor(connectionMachine.provide({ actors: { socket } }), {
      input: { endpoint: server.endpoint, reconnectAttempts: 0 },
    });
    const failures: ConnectionEmitted[] = [];
    actor.on('request.failed', (e) => failures.push(e));
    actor.start();
    actor.send({ type: 'connect' });
    await untilIn(actor, 'connected');
    actor.send({ type: 'request.enqueue', requests: [{ token: 1, id: '1', op: 'status' }] });
    await untilIn(actor, 'failed');
    expect(actor.getSnapshot().context.lastError?.message).toContain('could not write request');
    expect(failures).toEqual([expect.objectContaining({ token: 1, kind: 'closed' })]);
    actor.stop();
  });

  it('reports a failed attempt when no dependencies were bound to its actor system', () => {
    const actor = createActor(
      connectionMachine.provide({ actors: { socket: systemSocketActor } }),
      {
        input: { endpoint: '/nowhere.sock' },
      },
    );
    actor.start();
    actor.send({ type: 'connect', maxAttempts: 1 });
    expect(stateName(actor.getSnapshot().value)).toBe('failed');
    expect(actor.getSnapshot().context.lastError?.message).toContain(
      'no socket dependencies bound',
    );
    actor.stop();
  });
});
