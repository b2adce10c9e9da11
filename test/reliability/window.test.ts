/**
 * The window of requests in flight over real Unix sockets: requests of one
 * tick go out in one write and wait in the socket buffer (the server answers
 * in order), and every guarantee of the one-at-a-time client still holds:
 * at most once across a drop, deadlines and aborts, the stuck-connection
 * rule, events, close(), and a write that provably never left.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type ClientOptions, OverlaydClient } from '../../src/client/client.js';
import { ClosedError, type OverlaydError } from '../../src/errors.js';
import type { RequestFrame } from '../../src/protocol/index.js';
import { decodeFrame, encodeFrame } from '../../src/protocol/index.js';
import { encodeLengthPrefixed, FrameDecoder } from '../../src/transport/framing.js';
import {
  type ChaosScript,
  type ChaosServer,
  frameBytes,
  startChaosServer,
} from '../support/chaos-server.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { untilHolds } from '../support/manager-events.js';
import { successFor } from '../support/scripted-server.js';
import { FAST_BACKOFF, KEY, VICTIM } from './fixtures.js';

const cleanups = cleanupAfterEach();

interface Harness {
  server: ChaosServer;
  client: OverlaydClient;
  /** How many times the client called `write` on each socket it opened. */
  writes: number[];
}

async function harness(script: ChaosScript, options: ClientOptions = {}): Promise<Harness> {
  const server = await startChaosServer(script);
  cleanups.push(() => server.dispose());
  const writes: number[] = [];
  const client = await OverlaydClient.connect(server.endpoint, {
    backoff: FAST_BACKOFF,
    connect: (endpoint) => {
      const socket = createConnection(endpoint);
      const index = writes.push(0) - 1;
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((...args: unknown[]) => {
        writes[index] = (writes[index] ?? 0) + 1;
        return write(...args);
      }) as typeof socket.write;
      return socket;
    },
    ...options,
  });
  cleanups.push(() => client.close());
  return { server, client, writes };
}

const settle = (promise: Promise<unknown>) =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: OverlaydError) => ({ ok: false as const, error }),
  );

const opsOn = (server: ChaosServer, connection: number) =>
  server.received.filter((r) => r.connection === connection).map((r) => r.op);

describe('a window of requests in flight', () => {
  it('writes the requests of one tick in one write; overlayd answers them in order', async () => {
    const answerLater: ChaosScript = (request) =>
      request.request.op === 'status'
        ? [{ waitMs: 50 }, { frame: successFor(request) }]
        : [{ frame: successFor(request) }];
    const { client, server, writes } = await harness(answerLater);
    const before = writes[0] ?? 0;
    let receivedAtFirstAnswer = 0;
    const first = client.call({ op: 'status' }).then((answer) => {
      receivedAtFirstAnswer = server.received.length;
      return answer;
    });
    const others = Array.from({ length: 7 }, () => client.call({ op: 'nat_tick' }));
    expect(await first).toMatchObject({ result: 'status' });
    expect(await Promise.all(others)).toEqual(Array(7).fill({ result: 'ok' }));
    // All eight were at the server before the first was answered, from one write.
    expect(receivedAtFirstAnswer).toBe(8);
    expect((writes[0] ?? 0) - before).toBe(1);
    expect(client.stats).toMatchObject({ sent: 8, answered: 8, connections: 1 });
  });

  it('at most once: a drop fails every written, unanswered request as sent, re-sends none, and the queued one goes out after the reconnect', async () => {
    const script: ChaosScript = (request, connection) =>
      connection === 1 && request.request.op === 'nat_tick' ? ['hangUp'] : [];
    const { client, server } = await harness(script, { maxInFlight: 2 });
    server.script = (request, connection) =>
      connection === 1 ? script(request, connection) : [{ frame: successFor(request) }];
    const [a, b, c] = await Promise.all([
      settle(client.call({ op: 'status' })),
      settle(client.call({ op: 'nat_tick' })),
      settle(client.call(VICTIM)),
    ]);
    for (const outcome of [a, b]) {
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.error).toBeInstanceOf(ClosedError);
        expect(outcome.error.delivery).toBe('sent');
      }
    }
    expect(c).toEqual({ ok: true, value: { result: 'ip', ip: '10.200.0.2' } });
    expect(opsOn(server, 1)).toEqual(['status', 'nat_tick']);
    expect(opsOn(server, 2)).toEqual(['allocate_ip']);
    expect(new Set(server.received.map((r) => String(r.id))).size).toBe(server.received.length);
  });

  it('deadlines and aborts: a queued request aborted is never written; one in flight times out at once and its late answer is skipped by id', async () => {
    const script: ChaosScript = (request) =>
      request.request.op === 'status'
        ? [{ waitMs: 200 }, { frame: successFor(request) }]
        : [{ frame: successFor(request) }];
    const { client, server } = await harness(script, { maxInFlight: 2 });
    const controller = new AbortController();
    const timedOut = settle(client.call({ op: 'status' }, { timeoutMs: 80 }));
    const behind = client.call({ op: 'nat_tick' });
    const aborted = settle(client.call(VICTIM, { signal: controller.signal }));
    controller.abort();
    const started = performance.now();
    expect(await aborted).toMatchObject({
      ok: false,
      error: { code: 'OVERLAYD_ABORTED', delivery: 'not-sent' },
    });
    expect(await timedOut).toMatchObject({
      ok: false,
      error: { code: 'OVERLAYD_TIMEOUT', delivery: 'sent' },
    });
    expect(performance.now() - started).toBeLessThan(190);
    expect(await behind).toEqual({ result: 'ok' });
    await untilHolds(client.actor, () => client.stats.late >= 1);
    expect(client.stats.late).toBe(1);
    expect(server.received.map((r) => r.op)).toEqual(['status', 'nat_tick']);
  });

  it('the stuck-connection rule: one of the window given up inside a half frame drops the connection; the rest of the window fails as sent, the queued one goes out after', async () => {
    const script: ChaosScript = (request, connection) => {
      if (connection > 1) return [{ frame: successFor(request) }];
      if (request.request.op === 'status') {
        return [{ raw: frameBytes(successFor(request)).subarray(0, 20) }];
      }
      return [];
    };
    const { client, server } = await harness(script, { maxInFlight: 2 });
    const [a, b, c] = await Promise.all([
      settle(client.call({ op: 'status' }, { timeoutMs: 150 })),
      settle(client.call({ op: 'nat_tick' })),
      settle(client.call(VICTIM)),
    ]);
    expect(a).toMatchObject({ ok: false, error: { code: 'OVERLAYD_TIMEOUT', delivery: 'sent' } });
    expect(b).toMatchObject({ ok: false, error: { code: 'OVERLAYD_CLOSED', delivery: 'sent' } });
    expect(!b.ok && b.error.message).toMatch(/stopped inside a frame/);
    expect(c).toEqual({ ok: true, value: { result: 'ip', ip: '10.200.0.2' } });
    expect(opsOn(server, 2)).toEqual(['allocate_ip']);
  });

  it('events between responses of one read are delivered, and every request of the window answered', async () => {
    const event = (healthy: boolean) =>
      frameBytes({ frame: 'event', event: 'peer_health_changed', pubkey: KEY, healthy });
    const script: ChaosScript = (request) =>
      request.request.op === 'status'
        ? [{ raw: Buffer.concat([event(true), frameBytes(successFor(request)), event(false)]) }]
        : [{ frame: successFor(request) }];
    const { client } = await harness(script);
    const seen: unknown[] = [];
    client.onEvent((e) => seen.push(e));
    const answers = await Promise.all([
      client.call({ op: 'status' }),
      client.call({ op: 'nat_tick' }),
    ]);
    expect(answers[1]).toEqual({ result: 'ok' });
    expect(seen).toEqual([
      { event: 'peer_health_changed', pubkey: KEY, healthy: true },
      { event: 'peer_health_changed', pubkey: KEY, healthy: false },
    ]);
    expect(client.stats).toMatchObject({ events: 2, answered: 2 });
  });

  it('close() fails the window as sent and the queue as not sent', async () => {
    const { client } = await harness(() => [], { maxInFlight: 2 });
    const outcomes = [
      settle(client.call({ op: 'status' })),
      settle(client.call({ op: 'status' })),
      settle(client.call({ op: 'status' })),
    ];
    await untilHolds(client.actor, () => client.stats.sent >= 2);
    expect(client.stats.sent).toBe(2);
    await client.close();
    expect((await Promise.all(outcomes)).map((o) => !o.ok && o.error.delivery)).toEqual([
      'sent',
      'sent',
      'not-sent',
    ]);
  });
});

describe('a write that provably never left', () => {
  /** A bare overlayd whose connections the test can cut from the server side. */
  async function cuttableServer() {
    const path = `/tmp/ovl-cut-${process.pid}-${Date.now()}.sock`;
    const sockets: Socket[] = [];
    const received: Array<{ connection: number; id: RequestFrame['id'] }> = [];
    const server: Server = createServer((socket) => {
      const connection = sockets.push(socket);
      socket.on('error', () => {});
      const decoder = new FrameDecoder((body) => {
        const frame = decodeFrame(body);
        if (frame.frame !== 'request') return;
        received.push({ connection, id: frame.id });
        socket.write(encodeLengthPrefixed(encodeFrame(successFor(frame))));
      });
      socket.on('data', (chunk) => decoder.push(chunk));
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    );
    return { path, sockets, received };
  }

  it('a request written to a socket whose peer already closed (EPIPE, nothing accepted) is sent once, on the next connection', async () => {
    const server = await cuttableServer();
    const client = await OverlaydClient.connect(server.path, { backoff: FAST_BACKOFF });
    cleanups.push(() => client.close());
    expect(await client.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
    // The server closes its end; in the same tick, before the client has
    // read the hang-up, the client writes: the kernel refuses the write whole.
    const seen: string[] = [];
    client.actor.subscribe((snapshot) => {
      const error = snapshot.context.lastError?.message ?? '';
      seen.push(`${client.state}${error === '' ? '' : `: ${error}`}`);
    });
    server.sockets[0]?.destroy();
    const answer = await client.call({ op: 'status' });
    expect(answer).toMatchObject({ result: 'status' });
    // It was written on the dead connection (not merely queued after the hang-up was read).
    expect(seen.slice(0, 2)).toEqual([
      'awaitingResponse',
      expect.stringMatching(/^backoff: io error: write refused, nothing sent: write EPIPE/),
    ]);
    expect(server.received.map((r) => r.connection)).toEqual([1, 2]);
    expect(client.stats).toMatchObject({ connections: 2, sent: 2, answered: 2 });
  });
});
