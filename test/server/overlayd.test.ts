import { access, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OverlaydRequestInput } from '../../src/protocol/index.js';
import { Engine } from '../../src/server/engine/engine.js';
import {
  type RequestLogEntry,
  type RunningOverlayd,
  type StartOverlaydOptions,
  startOverlayd,
} from '../../src/server/overlayd.js';
import { encodeLengthPrefixed } from '../../src/transport/framing.js';
import { RawClient } from '../support/raw-client.js';

const KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const SETUP: OverlaydRequestInput = {
  op: 'setup_global_overlay',
  deployment: 'prod',
  instance_id: '1',
  cluster_cidr: '10.200.0.0/16',
  slice_cidr: '10.200.0.0/24',
  wg_port: 51820,
  nat_enabled: true,
};
const ALLOCATE: OverlaydRequestInput = { op: 'allocate_ip', service: 'web', join_global: true };

let dir: string;
let running: RunningOverlayd | undefined;
const clients: RawClient[] = [];
const requests: RequestLogEntry[] = [];
const logs: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ovl-'));
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await running?.close();
  running = undefined;
  requests.length = 0;
  logs.length = 0;
  await rm(dir, { recursive: true, force: true });
});

async function start(options: Partial<StartOverlaydOptions> = {}): Promise<RunningOverlayd> {
  running = await startOverlayd({
    socket: join(dir, 'run', 'overlayd.sock'),
    serve: { group: null },
    onRequest: (entry) => requests.push(entry),
    log: (message) => logs.push(message),
    ...options,
  });
  return running;
}

async function client(server: RunningOverlayd): Promise<RawClient> {
  const c = await RawClient.connect(server.endpoint);
  clients.push(c);
  return c;
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

describe('startOverlayd', () => {
  it('answers requests over a real Unix socket', async () => {
    const server = await start();
    const c = await client(server);
    expect(await c.call(1, { op: 'set_local_node_id', node_id: 7 })).toEqual({
      frame: 'response',
      id: 1,
      response: { result: 'ok' },
    });
    expect(await c.call(2, SETUP)).toMatchObject({
      id: 2,
      response: { result: 'bridge_name', name: expect.stringMatching(/^zl-br-/) },
    });
    expect(await c.call(3, ALLOCATE)).toEqual({
      frame: 'response',
      id: 3,
      response: { result: 'ip', ip: '10.200.0.2' },
    });
    expect(await c.call(4, { op: 'release_ip', ip: '10.200.9.9' })).toMatchObject({
      id: 4,
      response: { result: 'err', message: '10.200.9.9 is outside the slice (10.200.0.0/24)' },
    });
    expect(await c.call(5, { op: 'status' })).toMatchObject({
      id: 5,
      response: { result: 'status', node_ip: '10.200.0.1', slice_cidr: '10.200.0.0/24' },
    });
    expect(requests.map((r) => [r.connection, r.id, r.op])).toEqual([
      [1, 1, 'set_local_node_id'],
      [1, 2, 'setup_global_overlay'],
      [1, 3, 'allocate_ip'],
      [1, 4, 'release_ip'],
      [1, 5, 'status'],
    ]);
    expect(requests.every((r) => typeof r.at === 'number')).toBe(true);
  });

  it('echoes ids beyond 2^53 exactly', async () => {
    const c = await client(await start());
    const id = 2n ** 64n - 1n;
    expect(await c.call(id, { op: 'status' })).toMatchObject({ frame: 'response', id });
  });

  it('serves the engine it is given, which keeps state across connections', async () => {
    const engine = new Engine();
    const server = await start({ engine });
    expect(server.engine).toBe(engine);
    const first = await client(server);
    await first.call(1, SETUP);
    expect(await first.call(2, ALLOCATE)).toMatchObject({ response: { ip: '10.200.0.2' } });
    first.close();
    await first.closed;
    const second = await client(server);
    expect(await second.call(1, ALLOCATE)).toMatchObject({ response: { ip: '10.200.0.3' } });
    expect(requests.map((r) => r.connection)).toEqual([1, 1, 2]);
  });

  it('pushes events to every open connection, after the response', async () => {
    const server = await start();
    const watcher = await client(server);
    const actor = await client(server);
    await actor.call(1, SETUP);
    actor.request(2, {
      op: 'add_peer',
      public_key: KEY,
      endpoint: '1.2.3.4:51820',
      allowed_ips: '10.200.1.0/24',
      persistent_keepalive_secs: 25,
      scope: { scope: 'global' },
    });
    const event = {
      frame: 'event',
      event: 'peer_health_changed',
      pubkey: KEY,
      healthy: true,
    };
    expect(await actor.next()).toEqual({ frame: 'response', id: 2, response: { result: 'ok' } });
    expect(await actor.next()).toEqual(event);
    expect(await watcher.next()).toEqual(event);
    actor.request(3, { op: 'nat_tick' });
    expect(await watcher.next()).toEqual({
      frame: 'event',
      event: 'nat_endpoint_changed',
      pubkey: KEY,
      endpoint: '1.2.3.4:51821',
    });
  });

  it('answers one connection’s requests in order, each once', async () => {
    const server = await start();
    const c = await client(server);
    await c.call(0, SETUP);
    const count = 50;
    for (let id = 1; id <= count; id++) c.request(id, ALLOCATE);
    const answers = [];
    for (let id = 1; id <= count; id++) answers.push(await c.next());
    expect(answers.map((f) => f?.frame === 'response' && f.id)).toEqual(
      Array.from({ length: count }, (_, i) => i + 1),
    );
    expect(answers.map((f) => f?.frame === 'response' && f.response)).toEqual(
      Array.from({ length: count }, (_, i) => ({ result: 'ip', ip: `10.200.0.${i + 2}` })),
    );
    const keys = requests.map((r) => `${r.connection}/${String(r.id)}`);
    expect(new Set(keys).size).toBe(count + 1);
  });

  it('ignores frames that are not requests', async () => {
    const c = await client(await start());
    c.send({ frame: 'response', id: 1, response: { result: 'ok' } });
    c.send({ frame: 'event', event: 'peer_health_changed', pubkey: 'k', healthy: false });
    expect(await c.call(2, { op: 'status' })).toMatchObject({ id: 2 });
    expect(requests).toHaveLength(1);
  });

  it('closes a connection that sends an undecodable frame, and keeps serving', async () => {
    const server = await start();
    const bad = connect(server.endpoint);
    bad.on('error', () => {});
    const ended = new Promise((resolve) => bad.on('close', resolve));
    bad.write(encodeLengthPrefixed(new TextEncoder().encode('{"frame":"nope"}')));
    await ended;
    expect(logs).toEqual([expect.stringMatching(/^overlayd: connection failed: /)]);
    const c = await client(server);
    expect(await c.call(1, { op: 'status' })).toMatchObject({ id: 1 });
  });

  it('logs a client that hangs up before its answer as that, not as a failure', async () => {
    let logged: () => void = () => {};
    const firstLog = new Promise<void>((resolve) => {
      logged = resolve;
    });
    const server = await start({
      log: (message) => {
        logs.push(message);
        logged();
      },
    });
    const leaving = connect(server.endpoint);
    leaving.on('error', () => {});
    await new Promise((resolve) => leaving.once('connect', resolve));
    // Ask, and leave before the answer can be written.
    leaving.write(
      encodeLengthPrefixed(
        new TextEncoder().encode('{"frame":"request","id":1,"request":{"op":"status"}}'),
      ),
    );
    leaving.destroy();
    await firstLog;
    expect(logs).toEqual([
      expect.stringMatching(
        /^overlayd: client hung up before its answer was written \((EPIPE|ECONNRESET)\)$/,
      ),
    ]);
    expect(requests).toHaveLength(1);
    const c = await client(server);
    expect(await c.call(2, { op: 'status' })).toMatchObject({ id: 2 });
  });

  it('logs a failure of the engine and closes that connection', async () => {
    const engine = new Engine({
      now: () => {
        throw new Error('clock broke');
      },
    });
    const server = await start({ engine });
    const c = await client(server);
    await c.call(1, SETUP);
    c.request(2, {
      op: 'add_peer',
      public_key: KEY,
      endpoint: '',
      allowed_ips: '',
      persistent_keepalive_secs: 0,
      scope: { scope: 'global' },
    });
    expect(await c.next()).toBeUndefined();
    expect(logs.join('\n')).toMatch(/clock broke/);
  });

  it('answers shutdown with ok, then closes every connection and stops', async () => {
    const server = await start();
    const other = await client(server);
    const c = await client(server);
    c.request(1, { op: 'shutdown' });
    c.request(2, { op: 'status' });
    expect(await c.next()).toEqual({ frame: 'response', id: 1, response: { result: 'ok' } });
    expect(await c.next()).toBeUndefined();
    await server.closed;
    await other.closed;
    expect(requests.map((r) => r.op)).toEqual(['shutdown']);
    expect(await exists(server.endpoint)).toBe(false);
    await expect(RawClient.connect(server.endpoint)).rejects.toThrow();
  });

  it('stops on close(), idempotently, removing the socket file', async () => {
    const server = await start();
    const c = await client(server);
    expect(await exists(server.endpoint)).toBe(true);
    await Promise.all([server.close(), server.close()]);
    await server.closed;
    await c.closed;
    expect(await exists(server.endpoint)).toBe(false);
  });
});
