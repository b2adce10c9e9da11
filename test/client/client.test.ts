/**
 * OverlaydClient over real Unix sockets against the reference accept loop.
 */
import { describe, expect, it } from 'vitest';
import { OverlaydClient } from '../../src/client/client.js';
import {
  AbortedError,
  ClosedError,
  CodecError,
  ConnectError,
  FrameTooLargeError,
  OverlayError,
  ProtocolError,
  QueueFullError,
  TimeoutError,
} from '../../src/errors.js';
import type { OverlaydEvent, OverlaydRequestInput } from '../../src/protocol/index.js';
import { U64_MAX } from '../../src/protocol/index.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { CountingClock } from '../support/counting-clock.js';
import {
  answer,
  type ScriptedServer,
  startScriptedServer,
  successFor,
} from '../support/scripted-server.js';

const DEAD = '/nonexistent/zlayer-overlayd-test.sock';
const cleanups = cleanupAfterEach();

async function server(script = answer): Promise<ScriptedServer> {
  const s = await startScriptedServer(script);
  cleanups.push(() => s.dispose());
  return s;
}

async function client(
  endpoint: string,
  options: Parameters<typeof OverlaydClient.connect>[1] = {},
): Promise<OverlaydClient> {
  const c = await OverlaydClient.connect(endpoint, options);
  cleanups.push(() => c.close());
  return c;
}

const key = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const EVERY_OP: OverlaydRequestInput[] = [
  { op: 'set_local_node_id', node_id: 7 },
  { op: 'set_local_wg_pubkey', pubkey: key },
  {
    op: 'setup_global_overlay',
    deployment: 'prod',
    instance_id: '42',
    cluster_cidr: '10.200.0.0/16',
    slice_cidr: '10.200.0.0/28',
    wg_port: 51820,
    nat_enabled: true,
  },
  { op: 'teardown_global_overlay' },
  { op: 'setup_service_overlay', service: 'web', mode: 'shared' },
  { op: 'teardown_service_overlay', service: 'web' },
  { op: 'allocate_ip', service: 'web', join_global: true },
  { op: 'release_ip', ip: '10.200.0.5' },
  {
    op: 'attach_container',
    handle: { platform: 'linux_pid', pid: 4242 },
    service: 'web',
    join_global: true,
  },
  { op: 'detach_container', handle: { platform: 'guest_managed', id: 'vm-1' } },
  {
    op: 'add_peer',
    public_key: key,
    endpoint: '1.2.3.4:51820',
    allowed_ips: '10.200.0.2/32',
    persistent_keepalive_secs: 25,
  },
  { op: 'remove_peer', pubkey: key, scope: { scope: 'service', service: 'web' } },
  { op: 'add_allowed_ip', pubkey: key, cidr: '10.200.1.0/24' },
  { op: 'remove_allowed_ip', pubkey: key, cidr: '10.200.1.0/24' },
  { op: 'register_dns', name: 'web.overlay', ip: '10.200.0.5' },
  { op: 'unregister_dns', name: 'web.overlay' },
  { op: 'status' },
  { op: 'nat_tick' },
  { op: 'shutdown' },
];

describe("OverlaydClient: the Rust client's tests", () => {
  it('fails one attempt against a dead endpoint in under 80 ms', async () => {
    const start = performance.now();
    const error = await OverlaydClient.connectWithAttempts(DEAD, 1).catch((e: unknown) => e);
    expect(performance.now() - start).toBeLessThan(80);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).attempts).toBe(1);
    expect((error as ConnectError).message).toContain(DEAD);
    expect((error as ConnectError).cause).toBeInstanceOf(Error);
  });

  it('bounds 4 attempts to 600–1500 ms (sleeps 100 + 200 + 400, none after the last)', async () => {
    const start = performance.now();
    const error = await OverlaydClient.connectWithAttempts(DEAD, 4).catch((e: unknown) => e);
    const elapsed = performance.now() - start;
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).attempts).toBe(4);
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(1500);
  });

  it('counts a throwing socket opener as a failed attempt, not a broken client', async () => {
    const error = await OverlaydClient.connect(DEAD, {
      connect: () => {
        throw new Error('no sockets today');
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).message).toContain('no sockets today');
  });

  it('clamps 0 attempts to 1', async () => {
    const error = await OverlaydClient.connectWithAttempts(DEAD, 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).attempts).toBe(1);
  });
});

describe('OverlaydClient: requests', () => {
  it('round-trips every op and types the result by op', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    expect(c.endpoint).toBe(s.endpoint);
    for (const request of EVERY_OP) {
      const response = await c.call(request);
      const expected = successFor({ frame: 'request', id: 0, request } as never);
      expect(response).toMatchObject((expected as { response: object }).response);
    }
    const ip = await c.call({ op: 'allocate_ip', service: 'web', join_global: false });
    expect(ip.ip).toBe('10.200.0.2');
    expect(s.received.map((r) => r.frame.request.op)).toEqual([
      ...EVERY_OP.map((r) => r.op),
      'allocate_ip',
    ]);
    expect(s.received.map((r) => r.frame.id)).toEqual(s.received.map((_, i) => i + 1));
  });

  it('returns an err answer from request and throws it from call', async () => {
    const s = await server((request) => ({
      frames: [
        {
          frame: 'response',
          id: request.id,
          response: { result: 'err', message: 'no slice assigned' },
        },
      ],
    }));
    const c = await client(s.endpoint);
    expect(await c.request({ op: 'status' })).toEqual({
      result: 'err',
      message: 'no slice assigned',
    });
    const error = await c
      .call({ op: 'allocate_ip', service: 'web', join_global: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OverlayError);
    expect((error as OverlayError).reason).toBe('no slice assigned');
    expect((error as OverlayError).message).toContain('allocate_ip');
    expect((error as OverlayError).op).toBe('allocate_ip');
    expect((error as OverlayError).delivery).toBe('sent');
  });

  it('rejects a result that does not fit the op with a ProtocolError naming both', async () => {
    const s = await server((request) => ({
      frames: [{ frame: 'response', id: request.id, response: { result: 'ok' } }],
    }));
    const c = await client(s.endpoint);
    const error = await c
      .call({ op: 'allocate_ip', service: 'web', join_global: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).message).toMatch(/allocate_ip.*ok/);
    expect((error as ProtocolError).delivery).toBe('sent');
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
  });

  it('refuses an invalid request before writing anything, naming the field and op, and stays usable', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    const bad = {
      op: 'setup_global_overlay',
      deployment: 'd',
      instance_id: 'i',
      cluster_cidr: 'c',
      wg_port: 70000,
      nat_enabled: true,
    };
    const error = await c.request(bad as OverlaydRequestInput).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodecError);
    expect((error as CodecError).message).toContain('wg_port');
    expect((error as CodecError).message).toContain('setup_global_overlay');
    expect(await c.call({ op: 'status' })).toMatchObject({ result: 'status' });
    expect(s.received.map((r) => r.frame.request.op)).toEqual(['status']);
  });

  it('rejects a request that is not an object with a CodecError, never a TypeError', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    for (const junk of [null, undefined, 'status', 42, { op: 'reboot' }]) {
      const error = await c.call(junk as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CodecError);
    }
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
    expect(s.received.map((r) => r.frame.request.op)).toEqual(['nat_tick']);
  });

  it('skips responses with stale or unknown ids and logs them', async () => {
    const s = await server((request) => ({
      frames: [{ frame: 'response', id: 999, response: { result: 'ok' } }, successFor(request)],
    }));
    const warnings: unknown[] = [];
    const c = await client(s.endpoint, {
      logger: { warn: (message, fields) => warnings.push({ message, ...fields }) },
    });
    expect(await c.call({ op: 'status' })).toMatchObject({ result: 'status' });
    expect(c.stats.unknown).toBe(1);
    expect(warnings).toEqual([
      expect.objectContaining({ reason: 'unknown', id: '999', expected: '1' }),
    ]);
  });

  it('delivers events that arrive while a request waits', async () => {
    const event: OverlaydEvent = { event: 'peer_health_changed', pubkey: key, healthy: false };
    const s = await server((request) => ({
      frames: [
        { frame: 'event', ...event },
        {
          frame: 'event',
          event: 'nat_endpoint_changed',
          pubkey: key,
          endpoint: '203.0.113.7:40000',
        },
        successFor(request),
      ],
    }));
    const c = await client(s.endpoint);
    const seen: unknown[] = [];
    const unsubscribe = c.onEvent((e) => seen.push(e));
    await c.call({ op: 'nat_tick' });
    expect(seen).toEqual([
      event,
      { event: 'nat_endpoint_changed', pubkey: key, endpoint: '203.0.113.7:40000' },
    ]);
    unsubscribe();
    await c.call({ op: 'nat_tick' });
    expect(seen).toHaveLength(2);
  });

  it('fails the waiting request with a ProtocolError when the server sends a request frame', async () => {
    const s = await server((request) => ({
      frames: [{ frame: 'request', id: 5, request: { op: 'status' } }, successFor(request)],
    }));
    const c = await client(s.endpoint);
    const error = await c.call({ op: 'status' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).delivery).toBe('sent');
    // The real answer then arrives late and is skipped; the next request is unaffected.
    s.script = answer;
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
    expect(c.stats.late).toBe(1);
  });

  it('allocates ids from 1 and wraps at u64', async () => {
    const s = await server();
    const c = await client(s.endpoint, { firstId: U64_MAX - 1n });
    for (let i = 0; i < 4; i++) await c.call({ op: 'nat_tick' });
    expect(s.received.map((r) => r.frame.id)).toEqual([U64_MAX - 1n, U64_MAX, 0, 1]);
  });
});

describe('OverlaydClient: deadlines, aborts and the queue', () => {
  it('times out a request the server never answers, as sent, and carries on', async () => {
    const s = await server((request) =>
      request.request.op === 'status' ? { silent: true } : answer(request, 1),
    );
    const c = await client(s.endpoint);
    const error = await c.request({ op: 'status' }, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).delivery).toBe('sent');
    expect((error as TimeoutError).message).toMatch(/50 ms.*op status, id 1/);
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
  });

  it('never writes a request aborted while queued', async () => {
    const s = await server((request) =>
      request.request.op === 'status' ? { silent: true } : answer(request, 1),
    );
    // One at a time, so the second request waits in the queue.
    const c = await client(s.endpoint, { maxInFlight: 1 });
    const first = c.request({ op: 'status' }, { timeoutMs: 200 }).catch((e: unknown) => e);
    const controller = new AbortController();
    const second = c
      .request({ op: 'nat_tick' }, { signal: controller.signal })
      .catch((e: unknown) => e);
    controller.abort(new Error('caller gave up'));
    const aborted = await second;
    expect(aborted).toBeInstanceOf(AbortedError);
    expect((aborted as AbortedError).delivery).toBe('not-sent');
    expect((aborted as AbortedError).cause).toEqual(new Error('caller gave up'));
    expect(await first).toBeInstanceOf(TimeoutError);
    expect(s.received.map((r) => r.frame.request.op)).toEqual(['status']);
  });

  it('rejects at once a request whose signal already aborted', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    const error = await c
      .request({ op: 'status' }, { signal: AbortSignal.abort() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect(s.received).toEqual([]);
  });

  it('fails a request over the queue limit at once with QueueFull', async () => {
    const s = await server(() => ({ silent: true }));
    const c = await client(s.endpoint, { queueLimit: 1, maxInFlight: 1, requestTimeoutMs: 300 });
    const inFlight = c.request({ op: 'status' }).catch((e: unknown) => e);
    const queued = c.request({ op: 'status' }).catch((e: unknown) => e);
    const refused = await c.request({ op: 'status' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QueueFullError);
    expect((refused as QueueFullError).delivery).toBe('not-sent');
    expect(await inFlight).toBeInstanceOf(TimeoutError);
    expect(await queued).toBeInstanceOf(TimeoutError);
  });
});

describe('OverlaydClient: edges', () => {
  it('refuses a request over the 8 MiB frame cap before writing anything', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    const name = 'x'.repeat(8 * 1024 * 1024);
    const error = await c.request({ op: 'unregister_dns', name }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect((error as FrameTooLargeError).delivery).toBe('not-sent');
    expect((error as FrameTooLargeError).message).toContain('unregister_dns');
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
    expect(s.received.map((r) => r.frame.request.op)).toEqual(['nat_tick']);
  });

  it('runs deadlines and backoff on the clock it is given', async () => {
    const s = await server(() => ({ silent: true }));
    const clock = new CountingClock();
    const c = await client(s.endpoint, { clock, requestTimeoutMs: 5_000 });
    const pending = c.request({ op: 'status' }).catch((e: unknown) => e);
    await expect.poll(() => s.received.length).toBe(1);
    clock.increment(4_999);
    clock.increment(1);
    const error = await pending;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).timeoutMs).toBe(5_000);
  });

  it('opens at once when already connected, and refuses to open once closed', async () => {
    const s = await server();
    const c = await OverlaydClient.connect(s.endpoint);
    await c.open();
    expect(c.state).toBe('connected');
    await c.close();
    await expect(c.open()).rejects.toBeInstanceOf(ClosedError);
  });

  it('fails queued requests as not sent, saying why, when a drop comes with reconnect off', async () => {
    const s = await server(() => ({ silent: true }));
    const c = await client(s.endpoint, { reconnect: false, maxInFlight: 1 });
    const inFlight = c.request({ op: 'status' }).catch((e: unknown) => e);
    const queued = c.request({ op: 'nat_tick' }).catch((e: unknown) => e);
    await expect.poll(() => s.received.length).toBe(1);
    await s.stop();
    const [first, second] = await Promise.all([inFlight, queued]);
    expect(first).toMatchObject({ code: 'OVERLAYD_CLOSED', delivery: 'sent' });
    expect(second).toMatchObject({ code: 'OVERLAYD_CLOSED', delivery: 'not-sent' });
    expect((second as Error).message).toContain('auto-reconnect is off');
  });

  it('counts an opener that returns something other than a socket as a failed attempt', async () => {
    const c = new OverlaydClient('/broken.sock', {
      connect: () => ({}) as unknown as import('node:net').Socket,
    });
    // Queued while idle; the single attempt fails, so the request fails unsent.
    const pending = c.request({ op: 'status' }).catch((e: unknown) => e);
    const opened = await c.open(1).catch((e: unknown) => e);
    expect(opened).toBeInstanceOf(ConnectError);
    expect((opened as ConnectError).message).toContain('cannot open /broken.sock');
    expect(await pending).toMatchObject({ code: 'OVERLAYD_CONNECT', delivery: 'not-sent' });
    await c.close();
  });
});

describe('OverlaydClient: drops and reconnects', () => {
  it('fails the in-flight request as sent on a hang-up, and sends the next one after reconnecting', async () => {
    const s = await server((request, connection) =>
      connection === 1 ? { hangUp: true } : answer(request, connection),
    );
    const c = await client(s.endpoint);
    const notices: unknown[] = [];
    c.onEvent((e) => notices.push(e));
    const error = await c
      .call({ op: 'allocate_ip', service: 'web', join_global: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClosedError);
    expect((error as ClosedError).delivery).toBe('sent');
    expect(await c.call({ op: 'status' })).toMatchObject({ result: 'status' });
    expect(notices).toEqual([{ event: 'reconnected', endpoint: s.endpoint }]);
    // The failed request was never sent again.
    expect(s.received.map((r) => [r.connection, r.frame.request.op])).toEqual([
      [1, 'allocate_ip'],
      [2, 'status'],
    ]);
  });

  it('sends queued, never-written requests after the server restarts on the same path', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    await c.call({ op: 'status' });
    await s.stop();
    const pending = c.call({ op: 'nat_tick' });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(['backoff', 'connecting']).toContain(c.state);
    await s.restart();
    expect(await pending).toEqual({ result: 'ok' });
    expect(c.state).toBe('connected');
    expect(c.stats.connections).toBe(2);
  });

  it('stays down after a drop when reconnect is off', async () => {
    const s = await server();
    const c = await client(s.endpoint, { reconnect: false });
    await s.stop();
    await expect.poll(() => c.state).toBe('failed');
    const error = await c.call({ op: 'status' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClosedError);
    expect((error as ClosedError).delivery).toBe('not-sent');
    await s.restart();
    await c.open();
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
  });

  it('connectWithBackoff waits for a server that starts late', async () => {
    const s = await server();
    await s.stop();
    const connecting = OverlaydClient.connectWithBackoff(s.endpoint);
    await new Promise((resolve) => setTimeout(resolve, 250));
    await s.restart();
    const c = await connecting;
    cleanups.push(() => c.close());
    expect(await c.call({ op: 'status' })).toMatchObject({ result: 'status' });
  });
});

/** Open handles by kind (sockets, timers, …), as Node reports them. */
function handleCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo())
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

describe('OverlaydClient: close', () => {
  it('settles every pending request, is idempotent and leaves no handle behind', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    const before = handleCounts();
    const s = await server(() => ({ silent: true }));
    const c = await OverlaydClient.connect(s.endpoint, { maxInFlight: 1 });
    const inFlight = c.request({ op: 'status' }).catch((e: unknown) => e);
    const queued = c.request({ op: 'status' }).catch((e: unknown) => e);
    await Promise.all([c.close(), c.close()]);
    const [a, b] = await Promise.all([inFlight, queued]);
    expect(a).toBeInstanceOf(ClosedError);
    expect((a as ClosedError).delivery).toBe('sent');
    expect(b).toBeInstanceOf(ClosedError);
    expect((b as ClosedError).delivery).toBe('not-sent');
    expect(c.state).toBe('closed');
    const after = await c.request({ op: 'status' }).catch((e: unknown) => e);
    expect(after).toBeInstanceOf(ClosedError);
    await s.dispose();
    await new Promise((resolve) => setImmediate(resolve));
    const left = handleCounts();
    for (const [kind, count] of left) expect(count).toBeLessThanOrEqual(before.get(kind) ?? 0);
  });
});

describe('OverlaydClient: the window', () => {
  it('writes up to maxInFlight at once and queues the rest, in order; the requests of a tick count in `state` once it ends', async () => {
    const s = await server(() => ({ silent: true }));
    const c = await client(s.endpoint, { maxInFlight: 2, requestTimeoutMs: 300 });
    const pending = [1, 2, 3].map(() => c.request({ op: 'status' }).catch((e: unknown) => e));
    // Made in this tick, told to the chart in one event as the tick ends (reading `state` changes nothing).
    expect(c.actor.getSnapshot().context.queue).toEqual([]);
    await Promise.resolve();
    expect(c.state).toBe('awaitingResponse');
    const { inFlight, queue } = c.actor.getSnapshot().context;
    expect(inFlight.map((r) => r.id)).toEqual(['1', '2']);
    expect(queue.map((r) => r.id)).toEqual(['3']);
    await expect.poll(() => s.received.length).toBe(2);
    expect(s.received.map((r) => r.frame.id)).toEqual([1, 2]);
    for (const outcome of await Promise.all(pending)) expect(outcome).toBeInstanceOf(TimeoutError);
  });

  it('defaults to a window of 16', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    expect(c.actor.getSnapshot().context.maxInFlight).toBe(16);
  });
});
