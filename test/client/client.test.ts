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
import { untilState } from '../support/manager-events.js';
import { rejection } from '../support/rejection.js';
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
  // Wall time on purpose: a real connect to a dead socket, on the real clock.
  it('fails one attempt against a dead endpoint in under 80 ms', async () => {
    const start = performance.now();
    await rejection(OverlaydClient.connectWithAttempts(DEAD, 1), ConnectError);
    expect(performance.now() - start).toBeLessThan(80);
  });

  it('says how many attempts failed, names the endpoint and keeps the cause', async () => {
    const error = await rejection(OverlaydClient.connectWithAttempts(DEAD, 1), ConnectError);
    expect(error.attempts).toBe(1);
    expect(error.message).toContain(DEAD);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('bounds 4 attempts to 600–1500 ms (sleeps 100 + 200 + 400, none after the last)', async () => {
    const clock = new CountingClock();
    const start = clock.now();
    const failing = rejection(OverlaydClient.connectWithAttempts(DEAD, 4, { clock }), ConnectError);
    await clock.runUntil(failing);
    const error = await failing;
    const elapsed = clock.now() - start;
    expect(error.attempts).toBe(4);
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(1500);
    expect(clock.delays).toEqual([100, 200, 400]);
    expect(clock.armed.size).toBe(0);
  });

  it('counts a throwing socket opener as a failed attempt, not a broken client', async () => {
    const opening = OverlaydClient.connect(DEAD, {
      connect: () => {
        throw new Error('no sockets today');
      },
    });
    const error = await rejection(opening, ConnectError);
    expect(error.message).toContain('no sockets today');
  });

  it('clamps 0 attempts to 1', async () => {
    const error = await rejection(OverlaydClient.connectWithAttempts(DEAD, 0), ConnectError);
    expect(error.attempts).toBe(1);
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
  });

  it('numbers requests from 1, in the order they are made', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    for (const request of EVERY_OP) await c.call(request);
    expect(s.received.map((r) => r.frame.id)).toEqual(s.received.map((_, i) => i + 1));
  });

  /** A client of a server that answers every request `err: no slice assigned`. */
  async function refusingClient(): Promise<OverlaydClient> {
    const s = await server((request) => ({
      frames: [
        {
          frame: 'response',
          id: request.id,
          response: { result: 'err', message: 'no slice assigned' },
        },
      ],
    }));
    return client(s.endpoint);
  }

  it('returns an err answer from request', async () => {
    const c = await refusingClient();
    expect(await c.request({ op: 'status' })).toEqual({
      result: 'err',
      message: 'no slice assigned',
    });
  });

  it('throws an err answer from call as an OverlayError naming the op, sent', async () => {
    const c = await refusingClient();
    const calling = c.call({ op: 'allocate_ip', service: 'web', join_global: true });
    const error = await rejection(calling, OverlayError);
    expect(error.reason).toBe('no slice assigned');
    expect(error.message).toContain('allocate_ip');
    expect(error.op).toBe('allocate_ip');
    expect(error.delivery).toBe('sent');
  });

  it('rejects a result that does not fit the op with a ProtocolError naming both', async () => {
    const s = await server((request) => ({
      frames: [{ frame: 'response', id: request.id, response: { result: 'ok' } }],
    }));
    const c = await client(s.endpoint);
    const calling = c.call({ op: 'allocate_ip', service: 'web', join_global: true });
    const error = await rejection(calling, ProtocolError);
    expect(error.message).toMatch(/allocate_ip.*ok/);
    expect(error.delivery).toBe('sent');
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
  });

  const BAD_PORT = {
    op: 'setup_global_overlay',
    deployment: 'd',
    instance_id: 'i',
    cluster_cidr: 'c',
    wg_port: 70000,
    nat_enabled: true,
  } as unknown as OverlaydRequestInput;

  it('refuses an invalid request with a CodecError naming the field and op', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    const error = await rejection(c.request(BAD_PORT), CodecError);
    expect(error.message).toContain('wg_port');
    expect(error.message).toContain('setup_global_overlay');
  });

  it('writes nothing of an invalid request, and stays usable', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    await rejection(c.request(BAD_PORT), CodecError);
    expect(await c.call({ op: 'status' })).toMatchObject({ result: 'status' });
    expect(s.received.map((r) => r.frame.request.op)).toEqual(['status']);
  });

  it('rejects a request that is not an object with a CodecError, never a TypeError', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    for (const junk of [null, undefined, 'status', 42, { op: 'reboot' }]) {
      await rejection(c.call(junk as never), CodecError);
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

  const HEALTH: OverlaydEvent = { event: 'peer_health_changed', pubkey: key, healthy: false };

  /** A client of a server that sends two events before each answer, and what its subscriber saw. */
  async function clientSeeingEvents() {
    const s = await server((request) => ({
      frames: [
        { frame: 'event', ...HEALTH },
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
    return { c, seen, unsubscribe };
  }

  it('delivers events that arrive while a request waits', async () => {
    const { c, seen } = await clientSeeingEvents();
    await c.call({ op: 'nat_tick' });
    expect(seen).toEqual([
      HEALTH,
      { event: 'nat_endpoint_changed', pubkey: key, endpoint: '203.0.113.7:40000' },
    ]);
  });

  it('delivers no more events to a listener that unsubscribed', async () => {
    const { c, seen, unsubscribe } = await clientSeeingEvents();
    await c.call({ op: 'nat_tick' });
    unsubscribe();
    await c.call({ op: 'nat_tick' });
    expect(seen).toHaveLength(2);
  });

  /** A client whose server sends a request frame before its first answer only. */
  async function clientSentARequestFrame() {
    const s = await server((request) => ({
      frames: [{ frame: 'request', id: 5, request: { op: 'status' } }, successFor(request)],
    }));
    const c = await client(s.endpoint);
    const error = await rejection(c.call({ op: 'status' }), ProtocolError);
    s.script = answer;
    return { c, error };
  }

  it('fails the waiting request with a ProtocolError when the server sends a request frame', async () => {
    const { error } = await clientSentARequestFrame();
    expect(error.delivery).toBe('sent');
  });

  it('skips the real answer that then arrives late, and the next request is unaffected', async () => {
    const { c } = await clientSentARequestFrame();
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
    const error = await rejection(c.request({ op: 'status' }, { timeoutMs: 50 }), TimeoutError);
    expect(error.delivery).toBe('sent');
    expect(error.message).toMatch(/50 ms.*op status, id 1/);
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
  });

  it('never writes a request aborted while queued', async () => {
    const s = await server((request) =>
      request.request.op === 'status' ? { silent: true } : answer(request, 1),
    );
    // One at a time, so the second request waits in the queue.
    const c = await client(s.endpoint, { maxInFlight: 1 });
    const first = rejection(c.request({ op: 'status' }, { timeoutMs: 200 }), TimeoutError);
    const controller = new AbortController();
    const second = rejection(
      c.request({ op: 'nat_tick' }, { signal: controller.signal }),
      AbortedError,
    );
    controller.abort(new Error('caller gave up'));
    const aborted = await second;
    expect(aborted.delivery).toBe('not-sent');
    expect(aborted.cause).toEqual(new Error('caller gave up'));
    await first;
    expect(s.received.map((r) => r.frame.request.op)).toEqual(['status']);
  });

  it('rejects at once a request whose signal already aborted', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    await rejection(c.request({ op: 'status' }, { signal: AbortSignal.abort() }), AbortedError);
    expect(s.received).toEqual([]);
  });

  it('fails a request over the queue limit at once with QueueFull', async () => {
    const s = await server(() => ({ silent: true }));
    const c = await client(s.endpoint, { queueLimit: 1, maxInFlight: 1, requestTimeoutMs: 300 });
    const inFlight = rejection(c.request({ op: 'status' }), TimeoutError);
    const queued = rejection(c.request({ op: 'status' }), TimeoutError);
    const refused = await rejection(c.request({ op: 'status' }), QueueFullError);
    expect(refused.delivery).toBe('not-sent');
    await inFlight;
    await queued;
  });
});

describe('OverlaydClient: edges', () => {
  it('refuses a request over the 8 MiB frame cap before writing anything', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    const name = 'x'.repeat(8 * 1024 * 1024);
    const error = await rejection(c.request({ op: 'unregister_dns', name }), FrameTooLargeError);
    expect(error.delivery).toBe('not-sent');
    expect(error.message).toContain('unregister_dns');
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
    expect(s.received.map((r) => r.frame.request.op)).toEqual(['nat_tick']);
  });

  it('runs deadlines and backoff on the clock it is given', async () => {
    const s = await server(() => ({ silent: true }));
    const clock = new CountingClock();
    const c = await client(s.endpoint, { clock, requestTimeoutMs: 5_000 });
    const pending = rejection(c.request({ op: 'status' }), TimeoutError);
    await s.untilReceived(1);
    clock.increment(4_999);
    clock.increment(1);
    const error = await pending;
    expect(error.timeoutMs).toBe(5_000);
  });

  it('opens at once when already connected', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    await c.open();
    expect(c.state).toBe('connected');
  });

  it('refuses to open once closed', async () => {
    const s = await server();
    const c = await OverlaydClient.connect(s.endpoint);
    await c.close();
    await expect(c.open()).rejects.toBeInstanceOf(ClosedError);
  });

  it('fails queued requests as not sent, saying why, when a drop comes with reconnect off', async () => {
    const s = await server(() => ({ silent: true }));
    const c = await client(s.endpoint, { reconnect: false, maxInFlight: 1 });
    const inFlight = rejection(c.request({ op: 'status' }));
    const queued = rejection(c.request({ op: 'nat_tick' }));
    await s.untilReceived(1);
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
    const pending = rejection(c.request({ op: 'status' }));
    const opened = await rejection(c.open(1), ConnectError);
    expect(opened.message).toContain('cannot open /broken.sock');
    expect(await pending).toMatchObject({ code: 'OVERLAYD_CONNECT', delivery: 'not-sent' });
    await c.close();
  });
});

describe('OverlaydClient: drops and reconnects', () => {
  /** A client whose first connection hangs up on its first request (allocate_ip). */
  async function hungUpOn() {
    const s = await server((request, connection) =>
      connection === 1 ? { hangUp: true } : answer(request, connection),
    );
    const c = await client(s.endpoint);
    const notices: unknown[] = [];
    c.onEvent((e) => notices.push(e));
    const calling = c.call({ op: 'allocate_ip', service: 'web', join_global: true });
    const error = await rejection(calling, ClosedError);
    return { s, c, notices, error };
  }

  it('fails the in-flight request as sent on a hang-up', async () => {
    const { error } = await hungUpOn();
    expect(error.delivery).toBe('sent');
  });

  it('sends the next request after reconnecting, and tells subscribers it reconnected', async () => {
    const { s, c, notices } = await hungUpOn();
    expect(await c.call({ op: 'status' })).toMatchObject({ result: 'status' });
    expect(notices).toEqual([{ event: 'reconnected', endpoint: s.endpoint }]);
  });

  it('never sends the request that failed on a hang-up again', async () => {
    const { s, c } = await hungUpOn();
    await c.call({ op: 'status' });
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
    // A reconnect attempt fails while the server is down: the request stays queued.
    await untilState(c, (state) => state === 'backoff');
    await untilState(c, (state) => state === 'connecting');
    await untilState(c, (state) => state === 'backoff');
    expect(['backoff', 'connecting']).toContain(c.state);
    await s.restart();
    expect(await pending).toEqual({ result: 'ok' });
    expect(c.state).toBe('connected');
    expect(c.stats.connections).toBe(2);
  });

  /** A client with auto-reconnect off whose server has stopped, once it has failed. */
  async function downForGood() {
    const s = await server();
    const c = await client(s.endpoint, { reconnect: false });
    await s.stop();
    await untilState(c, (state) => state === 'failed');
    return { s, c };
  }

  it('stays down after a drop when reconnect is off', async () => {
    const { c } = await downForGood();
    const error = await rejection(c.call({ op: 'status' }), ClosedError);
    expect(error.delivery).toBe('not-sent');
  });

  it('connects again on open() after a drop with reconnect off', async () => {
    const { s, c } = await downForGood();
    await s.restart();
    await c.open();
    expect(await c.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
  });

  it('connectWithBackoff waits for a server that starts late', async () => {
    const s = await server();
    await s.stop();
    const clock = new CountingClock();
    const connecting = OverlaydClient.connectWithBackoff(s.endpoint, { clock });
    // Two attempts fail while nothing listens; the server starts during the second sleep.
    clock.advance(await clock.nextArmed());
    const secondSleep = await clock.nextArmed();
    await s.restart();
    clock.advance(secondSleep);
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
  /**
   * A client with one request in flight and one queued on a server that never
   * answers, closed twice at once. The test disposes of the server.
   */
  async function closedWithTwoPending() {
    const s = await startScriptedServer(() => ({ silent: true }));
    const c = await OverlaydClient.connect(s.endpoint, { maxInFlight: 1 });
    const inFlight = rejection(c.request({ op: 'status' }), ClosedError);
    const queued = rejection(c.request({ op: 'status' }), ClosedError);
    await Promise.all([c.close(), c.close()]);
    return { s, c, inFlight, queued };
  }

  it('settles the request in flight as sent and the queued one as not sent', async () => {
    const { s, inFlight, queued } = await closedWithTwoPending();
    cleanups.push(() => s.dispose());
    const [a, b] = await Promise.all([inFlight, queued]);
    expect(a.delivery).toBe('sent');
    expect(b.delivery).toBe('not-sent');
  });

  it('is idempotent, and refuses requests once closed', async () => {
    const { s, c } = await closedWithTwoPending();
    cleanups.push(() => s.dispose());
    expect(c.state).toBe('closed');
    await rejection(c.request({ op: 'status' }), ClosedError);
  });

  it('leaves no handle behind', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    const before = handleCounts();
    const { s, inFlight, queued } = await closedWithTwoPending();
    await Promise.all([inFlight, queued]);
    await s.dispose();
    await new Promise((resolve) => setImmediate(resolve));
    const left = handleCounts();
    for (const [kind, count] of left) expect(count).toBeLessThanOrEqual(before.get(kind) ?? 0);
  });
});

describe('OverlaydClient: the window', () => {
  /** Three requests made in one tick on a window of 2, to a server that never answers. */
  async function threeAtOnce() {
    const s = await server(() => ({ silent: true }));
    const c = await client(s.endpoint, { maxInFlight: 2, requestTimeoutMs: 300 });
    const pending = [1, 2, 3].map(() => rejection(c.request({ op: 'status' }), TimeoutError));
    const queueInTheTick = [...c.actor.getSnapshot().context.queue];
    return { s, c, pending, queueInTheTick };
  }

  it('counts the requests of a tick in `state` once it ends', async () => {
    const { c, pending, queueInTheTick } = await threeAtOnce();
    // Made in this tick, told to the chart in one event as the tick ends (reading `state` changes nothing).
    expect(queueInTheTick).toEqual([]);
    expect(c.state).toBe('awaitingResponse');
    await Promise.all(pending);
  });

  it('writes up to maxInFlight at once and queues the rest, in order', async () => {
    const { s, c, pending } = await threeAtOnce();
    const { inFlight, queue } = c.actor.getSnapshot().context;
    expect(inFlight.map((r) => r.id)).toEqual(['1', '2']);
    expect(queue.map((r) => r.id)).toEqual(['3']);
    await s.untilReceived(2);
    expect(s.received.map((r) => r.frame.id)).toEqual([1, 2]);
    await Promise.all(pending);
  });

  it('defaults to a window of 16', async () => {
    const s = await server();
    const c = await client(s.endpoint);
    expect(c.actor.getSnapshot().context.maxInFlight).toBe(16);
  });
});
