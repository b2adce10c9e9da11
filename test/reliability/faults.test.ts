/**
 * One OverlaydClient against a hostile or broken overlayd (the chaos server).
 * For every fault: where the client ends up, how the affected request fails
 * (error `code` and `delivery`), that requests before and after it succeed,
 * and that the same client recovers. docs/RELIABILITY.md tabulates these.
 *
 * The pattern: `status` succeeds first; then the victim (`allocate_ip`, whose
 * first occurrence gets the fault) and a `nat_tick` queued behind it; then
 * another `allocate_ip`, which must succeed on the same client.
 */
import type { Socket } from 'node:net';
import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type ClientOptions, OverlaydClient } from '../../src/client/client.js';
import type { ClientState } from '../../src/client/state.js';
import { OverlaydError } from '../../src/errors.js';
import type { OverlaydEvent, RequestFrame } from '../../src/protocol/index.js';
import {
  answer,
  type ChaosScript,
  type ChaosServer,
  frameBytes,
  type Step,
  startChaosServer,
} from '../support/chaos-server.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { untilState } from '../support/manager-events.js';
import { successFor } from '../support/scripted-server.js';
import { FAST_BACKOFF, KEY, VICTIM } from './fixtures.js';

const cleanups = cleanupAfterEach();

interface Harness {
  server: ChaosServer;
  client: OverlaydClient;
  /** Every state the client went through, without repeats. */
  states: ClientState[];
  /** Every socket the client opened. */
  sockets: Socket[];
}

/**
 * A chaos server whose first `allocate_ip` gets `fault` (everything else is
 * answered normally), and a client connected to it.
 */
async function harness(
  fault: (request: RequestFrame) => Step[],
  options: ClientOptions = {},
  others: ChaosScript = answer,
): Promise<Harness> {
  let faulted = false;
  const server = await startChaosServer((request, connection) => {
    if (request.request.op !== 'allocate_ip' || faulted) return others(request, connection);
    faulted = true;
    return fault(request);
  });
  cleanups.push(() => server.dispose());
  const sockets: Socket[] = [];
  const client = await OverlaydClient.connect(server.endpoint, {
    // One at a time, as the Rust client: the nat_tick waits in the queue behind
    // the victim. test/reliability/window.test.ts runs the window's cases.
    maxInFlight: 1,
    backoff: FAST_BACKOFF,
    requestTimeoutMs: 5_000,
    connect: (endpoint) => {
      const socket = createConnection(endpoint);
      sockets.push(socket);
      return socket;
    },
    ...options,
  });
  cleanups.push(() => client.close());
  const states: ClientState[] = [client.state];
  client.actor.subscribe(() => {
    if (states.at(-1) !== client.state) states.push(client.state);
  });
  return { server, client, states, sockets };
}

type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; error: OverlaydError; code: string; delivery: string | undefined };

function outcomeOf(promise: Promise<unknown>): Promise<Outcome> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => {
      if (!(error instanceof OverlaydError)) throw error;
      return { ok: false, error, code: error.code, delivery: error.delivery };
    },
  );
}

interface Run {
  victim: Outcome;
  /** The client's state when the victim's outcome reached the caller. */
  stateAtOutcome: ClientState;
  behind: Outcome;
  after: Outcome;
}

/** status, then the victim with a nat_tick queued behind it, then another allocate_ip. */
async function exercise(
  h: Harness,
  victimOptions: { timeoutMs?: number } = {},
  between?: () => Promise<void>,
): Promise<Run> {
  expect(await h.client.call({ op: 'status' })).toMatchObject({ result: 'status' });
  let stateAtOutcome: ClientState = h.client.state;
  const victim = outcomeOf(h.client.call(VICTIM, victimOptions)).then((outcome) => {
    stateAtOutcome = h.client.state;
    return outcome;
  });
  const behind = outcomeOf(h.client.call({ op: 'nat_tick' }));
  await between?.();
  const [v, b] = await Promise.all([victim, behind]);
  const after = await outcomeOf(h.client.call(VICTIM));
  return { victim: v, stateAtOutcome, behind: b, after };
}

/** The victim's request id, and that it reached the server exactly once (never re-sent). */
function victimSentOnce(server: ChaosServer): void {
  const victims = server.received.filter((r) => r.op === 'allocate_ip');
  expect(victims.length).toBe(2); // the victim and the later, healthy allocate_ip
  expect(new Set(server.received.map((r) => String(r.id))).size).toBe(server.received.length);
}

function expectHealthy(run: Run): void {
  expect(run.behind).toEqual({ ok: true, value: { result: 'ok' } });
  expect(run.after).toEqual({ ok: true, value: { result: 'ip', ip: '10.200.0.2' } });
}

function expectFailed(
  outcome: Outcome,
  code: string,
  delivery: 'sent' | 'not-sent',
): OverlaydError {
  expect(outcome.ok).toBe(false);
  if (outcome.ok) throw new Error('unreachable');
  expect({ code: outcome.code, delivery: outcome.delivery }).toEqual({ code, delivery });
  return outcome.error;
}

/** The connection dropped and the same client reconnected. */
function expectReconnected(h: Harness, run: Run): void {
  expect(run.stateAtOutcome).toBe('backoff');
  expect(h.states).toContain('backoff');
  expect(h.client.state).toBe('connected');
  expect(h.client.stats.connections).toBe(2);
}

/** The connection survived the fault. */
function expectKept(h: Harness): void {
  expect(h.states).not.toContain('backoff');
  expect(h.client.state).toBe('connected');
  expect(h.client.stats.connections).toBe(1);
}

function half(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(0, Math.floor(bytes.length / 2));
}

function flood(n: number): Buffer {
  const one = frameBytes({
    frame: 'event',
    event: 'peer_health_changed',
    pubkey: KEY,
    healthy: true,
  });
  return Buffer.concat(Array.from({ length: n }, () => one));
}

describe('faults that end the connection', () => {
  it('hang-up mid-request: the victim fails as sent, the queued request goes out after reconnecting', async () => {
    const h = await harness(() => ['hangUp']);
    const run = await exercise(h);
    expectFailed(run.victim, 'OVERLAYD_CLOSED', 'sent');
    expectHealthy(run);
    expectReconnected(h, run);
    victimSentOnce(h.server);
    expect(h.server.received.find((r) => r.op === 'nat_tick')?.connection).toBe(2);
  });

  it('hang-up mid-frame: the victim fails as sent with an early-eof IoError as cause', async () => {
    const h = await harness((request) => [
      { raw: half(frameBytes(successFor(request))) },
      'hangUp',
    ]);
    const run = await exercise(h);
    const error = expectFailed(run.victim, 'OVERLAYD_CLOSED', 'sent');
    expect((error.cause as OverlaydError).code).toBe('OVERLAYD_IO');
    expect((error.cause as Error).message).toMatch(/early eof/);
    expectHealthy(run);
    expectReconnected(h, run);
    victimSentOnce(h.server);
  });

  it('garbage bytes: the client drops the connection (the prefix reads as > 8 MiB) and reconnects', async () => {
    const h = await harness(() => [{ raw: Buffer.from('GARBAGE, NOT A FRAME\r\n') }]);
    const run = await exercise(h);
    const error = expectFailed(run.victim, 'OVERLAYD_CLOSED', 'sent');
    expect((error.cause as OverlaydError).code).toBe('OVERLAYD_FRAME_TOO_LARGE');
    expectHealthy(run);
    expectReconnected(h, run);
    victimSentOnce(h.server);
  });

  it('0xFFFFFFFF length prefix: refused before allocating, connection dropped, client reconnects', async () => {
    const h = await harness(() => [{ raw: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7b]) }]);
    const run = await exercise(h);
    const error = expectFailed(run.victim, 'OVERLAYD_CLOSED', 'sent');
    expect(error.cause).toMatchObject({ code: 'OVERLAYD_FRAME_TOO_LARGE', size: 0xffffffff });
    expectHealthy(run);
    expectReconnected(h, run);
    victimSentOnce(h.server);
  });

  it('restart on the same path: the in-flight victim fails as sent, a request made while down is sent after', async () => {
    let reached: () => void = () => {};
    const victimReached = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const h = await harness(() => {
      reached();
      return [];
    });
    let whileDown: Promise<Outcome> | undefined;
    const run = await exercise(h, {}, async () => {
      // Let the victim reach the server, then restart it.
      await victimReached;
      await h.server.stop();
      await untilState(h.client, (state) => state !== 'awaitingResponse');
      whileDown = outcomeOf(h.client.call({ op: 'status' }));
      // A reconnect attempt fails while the server is down.
      await untilState(h.client, (state) => state === 'connecting');
      await untilState(h.client, (state) => state === 'backoff');
      await h.server.restart();
    });
    expectFailed(run.victim, 'OVERLAYD_CLOSED', 'sent');
    expectHealthy(run);
    expect(await whileDown).toMatchObject({ ok: true, value: { result: 'status' } });
    expect(h.states).toContain('backoff');
    expect(h.client.state).toBe('connected');
    victimSentOnce(h.server);
  });

  it('server gone longer than the reconnect budget: queued requests fail as not-sent, the next request reconnects', async () => {
    const h = await harness(() => [], { reconnect: { attempts: 3 } });
    await h.client.call({ op: 'status' });
    await h.server.stop();
    await untilState(h.client, (state) => state !== 'connected');
    const queued = await outcomeOf(h.client.call({ op: 'nat_tick' }));
    const error = expectFailed(queued, 'OVERLAYD_CONNECT', 'not-sent');
    expect(error.message).toMatch(/after 3 attempts/);
    expect(h.client.state).toBe('failed');
    await h.server.restart();
    expect(await h.client.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
    expect(h.client.state).toBe('connected');
    expect(h.server.received.map((r) => r.op)).toEqual(['status', 'nat_tick']);
  });

  it('half a frame, then silence: the victim times out as sent, and the client recovers', async () => {
    const h = await harness((request) => [{ raw: half(frameBytes(successFor(request))) }]);
    const run = await exercise(h, { timeoutMs: 150 });
    expectFailed(run.victim, 'OVERLAYD_TIMEOUT', 'sent');
    // The stream is stuck inside a body that will never be completed: the
    // client must not stay on this connection, or every later response is
    // read as the rest of that body.
    expectHealthy(run);
    expect(h.client.state).toBe('connected');
    victimSentOnce(h.server);
  });
});

describe('faults the connection survives', () => {
  it('zero-length body: the victim fails at once with a CodecError as sent, its real answer is late', async () => {
    const h = await harness((request) => [
      { raw: Buffer.from([0, 0, 0, 0]) },
      { frame: successFor(request) },
    ]);
    const run = await exercise(h);
    const error = expectFailed(run.victim, 'OVERLAYD_CODEC', 'sent');
    expect(error.message).toMatch(/empty body.*op allocate_ip/);
    expectHealthy(run);
    expectKept(h);
    expect(h.client.stats).toMatchObject({ dropped: 1, late: 1 });
  });

  it('a valid frame in 1-byte chunks with pauses: decoded whole', async () => {
    const h = await harness((request) => [
      { trickle: frameBytes(successFor(request)), pauseMs: 1 },
    ]);
    const run = await exercise(h);
    expect(run.victim).toEqual({ ok: true, value: { result: 'ip', ip: '10.200.0.2' } });
    expectHealthy(run);
    expectKept(h);
    expect(h.client.stats.dropped).toBe(0);
  });

  it('unknown result tag for the in-flight id: the victim fails with a CodecError as sent', async () => {
    const h = await harness((request) => [
      { body: `{"frame":"response","id":${request.id},"response":{"result":"bogus"}}` },
    ]);
    const run = await exercise(h);
    const error = expectFailed(run.victim, 'OVERLAYD_CODEC', 'sent');
    expect(error.message).toMatch(/bogus/);
    expectHealthy(run);
    expectKept(h);
  });

  it('unknown event tag: skipped as undecodable, the victim gets its real answer', async () => {
    const h = await harness((request) => [
      { body: `{"frame":"event","event":"bogus_event","pubkey":"${KEY}"}` },
      { frame: successFor(request) },
    ]);
    const seen: unknown[] = [];
    h.client.onEvent((event) => seen.push(event));
    const run = await exercise(h);
    expect(run.victim).toEqual({ ok: true, value: { result: 'ip', ip: '10.200.0.2' } });
    expectHealthy(run);
    expectKept(h);
    expect(h.client.stats.dropped).toBe(1);
    expect(seen).toEqual([]);
  });

  it('a result of the wrong kind for the op (ok for allocate_ip): ProtocolError as sent', async () => {
    const h = await harness((request) => [
      { frame: { frame: 'response', id: request.id, response: { result: 'ok' } } },
    ]);
    const run = await exercise(h);
    const error = expectFailed(run.victim, 'OVERLAYD_PROTOCOL', 'sent');
    expect(error.message).toMatch(/allocate_ip.*ok/);
    expectHealthy(run);
    expectKept(h);
  });

  it('responses with a stale id and an unknown id: skipped and counted', async () => {
    let staleId: RequestFrame['id'] | undefined;
    const victim = (request: RequestFrame): Step[] => {
      staleId = request.id;
      return []; // never answered in time
    };
    // The request after the victim gets the victim's late answer and a stranger's first.
    const others: ChaosScript = (request, connection) =>
      request.request.op === 'nat_tick' && staleId !== undefined
        ? [
            {
              frame: { frame: 'response', id: staleId, response: { result: 'ip', ip: '10.9.9.9' } },
            },
            { frame: { frame: 'response', id: 987_654, response: { result: 'ok' } } },
            { frame: successFor(request) },
          ]
        : answer(request, connection);
    const h = await harness(victim, {}, others);
    const run = await exercise(h, { timeoutMs: 100 });
    expectFailed(run.victim, 'OVERLAYD_TIMEOUT', 'sent');
    expectHealthy(run);
    expectKept(h);
    expect(h.client.stats).toMatchObject({ late: 1, unknown: 1 });
  });

  it('a flood of 10,000 events between responses: all delivered, the victim answered', async () => {
    const h = await harness((request) => [{ raw: flood(10_000) }, { frame: successFor(request) }]);
    let events = 0;
    h.client.onEvent((event: OverlaydEvent | { event: string }) => {
      if (event.event === 'peer_health_changed') events++;
    });
    const run = await exercise(h);
    expect(run.victim).toEqual({ ok: true, value: { result: 'ip', ip: '10.200.0.2' } });
    expectHealthy(run);
    expectKept(h);
    expect(events).toBe(10_000);
    expect(h.client.stats.events).toBe(10_000);
  });

  it('a request frame from the server: the victim fails with a ProtocolError as sent, its real answer is late', async () => {
    const h = await harness((request) => [
      { frame: { frame: 'request', id: 5, request: { op: 'status' } } },
      { frame: successFor(request) },
    ]);
    const run = await exercise(h);
    expectFailed(run.victim, 'OVERLAYD_PROTOCOL', 'sent');
    expectHealthy(run);
    expectKept(h);
    expect(h.client.stats.late).toBe(1);
  });

  it('accept and never answer: the victim times out as sent, later requests are answered', async () => {
    const h = await harness(() => []);
    const run = await exercise(h, { timeoutMs: 100 });
    const error = expectFailed(run.victim, 'OVERLAYD_TIMEOUT', 'sent');
    expect(error.message).toMatch(/100 ms/);
    expectHealthy(run);
    expectKept(h);
    victimSentOnce(h.server);
  });

  it('accept and never read: a large victim backs up in the socket and times out as sent; the client drops that connection and carries on', async () => {
    const h = await harness(() => []);
    // The first connection stops reading right after answering its first request.
    h.server.script = (request, connection) =>
      connection === 1 && h.server.received.length === 1
        ? [...answer(request, connection), 'stopReading']
        : answer(request, connection);
    expect(await h.client.call({ op: 'status' })).toMatchObject({ result: 'status' });
    const big = { op: 'register_dns', name: 'x'.repeat(2 * 1024 * 1024), ip: '10.0.0.1' } as const;
    const victim = outcomeOf(h.client.call(big, { timeoutMs: 150 }));
    await expect.poll(() => h.sockets[0]?.writableLength ?? 0).toBeGreaterThan(0);
    expectFailed(await victim, 'OVERLAYD_TIMEOUT', 'sent');
    // Nothing written to that connection can be answered until the peer reads
    // again: the client must not queue more bytes behind the stuck request.
    expect(await outcomeOf(h.client.call({ op: 'nat_tick' }, { timeoutMs: 1_000 }))).toEqual({
      ok: true,
      value: { result: 'ok' },
    });
    expect(h.states).toContain('backoff');
    expect(h.client.state).toBe('connected');
    expect(h.server.received.find((r) => r.op === 'nat_tick')?.connection).toBe(2);
  });
});
