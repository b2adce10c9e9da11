/**
 * The benchmark's measuring tools, over a real Unix socket and the
 * benchmark's own echo server: the probe must time what it says it times,
 * and the chart-less comparison client must do a real round trip and leave
 * nothing behind.
 */
import { createConnection, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChartlessClient } from '../../bench/chartless-client.js';
import {
  type EchoServer,
  prefixed,
  requestBody,
  STATUS_RESPONSE,
  startEchoServer,
} from '../../bench/echo-server.js';
import { tempEndpoint } from '../../bench/roundtrip.js';
import { SocketProbe } from '../../bench/socket-probe.js';
import { decodeFrame } from '../../src/protocol/index.js';
import { FrameDecoder } from '../../src/transport/framing.js';

let server: EchoServer;
let cleanup: () => void;
let endpoint: string;

async function startOn(mode: 'echo' | 'silent'): Promise<void> {
  ({ endpoint, cleanup } = tempEndpoint('probe.sock'));
  server = await startEchoServer(endpoint, mode);
}

afterEach(async () => {
  await server.close();
  cleanup();
});

function connected(socket: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => resolve(socket));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SocketProbe', () => {
  beforeEach(() => startOn('echo'));

  it('times each turn from a response to the next write, and each time away', async () => {
    const probe = new SocketProbe();
    const socket = await connected(probe.attach(createConnection(endpoint)));
    const ids: unknown[] = [];
    const decoder = new FrameDecoder((body) => {
      const frame = decodeFrame(body);
      if (frame.frame === 'response') ids.push(frame.id);
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    for (let id = 1; id <= 4; id++) {
      // The client's turn: 25 ms between the previous response and this write.
      if (id > 1) await sleep(25);
      const answered = ids.length + 1;
      socket.write(prefixed(requestBody(id)));
      while (ids.length < answered) await sleep(1);
    }
    socket.destroy();

    // The wrapped socket still works: every request was answered, in order.
    expect(ids).toEqual([1, 2, 3, 4]);
    // 4 writes, 4 responses: 3 turns (the first write follows no response), 4 times away.
    expect(probe.turnsUs).toHaveLength(3);
    expect(probe.awaysUs).toHaveLength(4);
    for (const turn of probe.turnsUs) expect(turn).toBeGreaterThanOrEqual(24_000);
    for (const away of probe.awaysUs) expect(away).toBeGreaterThan(0);
    // The polling loop notices a response within a few ms; the 25 ms sleeps are turns only.
    for (const away of probe.awaysUs) expect(away).toBeLessThan(24_000);
  });

  it('forgets what it recorded on reset', async () => {
    const probe = new SocketProbe();
    const socket = await connected(probe.attach(createConnection(endpoint)));
    const answered = new Promise((resolve) => socket.once('data', resolve));
    socket.write(prefixed(requestBody(7)));
    await answered;
    expect(probe.awaysUs).toHaveLength(1);
    probe.reset();
    expect(probe.awaysUs).toHaveLength(0);
    // Nothing from before the reset leaks into the next turn.
    socket.write(prefixed(requestBody(8)));
    expect(probe.turnsUs).toHaveLength(0);
    socket.destroy();
  });
});

describe('ChartlessClient', () => {
  /** Deadline timers (30 s) armed while `body` runs, and whether each was cleared. */
  async function deadlines(body: () => Promise<void>): Promise<{ armed: number; cleared: number }> {
    const set = vi.spyOn(globalThis, 'setTimeout');
    const clear = vi.spyOn(globalThis, 'clearTimeout');
    try {
      await body();
      const armed = set.mock.calls
        .map((call, i) => ({ delay: call[1], timer: set.mock.results[i]?.value }))
        .filter((t) => t.delay === 30_000);
      const clearedTimers = new Set(clear.mock.calls.map((call) => call[0]));
      return {
        armed: armed.length,
        cleared: armed.filter((t) => clearedTimers.has(t.timer)).length,
      };
    } finally {
      set.mockRestore();
      clear.mockRestore();
    }
  }

  it('answers sequential and concurrent calls, and clears every deadline timer', async () => {
    await startOn('echo');
    const client = ChartlessClient.over(await connected(createConnection(endpoint)));
    const timers = await deadlines(async () => {
      for (let i = 0; i < 3; i++) {
        await expect(client.call({ op: 'status' })).resolves.toMatchObject(STATUS_RESPONSE);
      }
      // One in flight, the rest queued and written one after another.
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => client.call({ op: 'status' })),
      );
      expect(answers).toHaveLength(5);
      for (const answer of answers) expect(answer).toMatchObject(STATUS_RESPONSE);
    });
    expect(timers).toEqual({ armed: 8, cleared: 8 });
    client.close();
  });

  it('fails the waiting and the queued request when the connection closes', async () => {
    await startOn('silent');
    const client = ChartlessClient.over(await connected(createConnection(endpoint)));
    const timers = await deadlines(async () => {
      const inFlight = client.call({ op: 'status' });
      const queued = client.call({ op: 'status' });
      client.close();
      await expect(inFlight).rejects.toThrow(/closed/);
      await expect(queued).rejects.toThrow(/closed/);
    });
    expect(timers).toEqual({ armed: 2, cleared: 2 });
  });
});
