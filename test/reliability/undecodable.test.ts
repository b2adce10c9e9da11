/**
 * Frames the client cannot decode, arriving over a real Unix socket while a
 * request waits, with the default 30 s deadline and the default window: the
 * request they concern fails at once (as the Rust client's `request` does),
 * or, for an event of a kind this client does not know, nothing fails. Each
 * case then sends another request, which must succeed: on the same
 * connection (the length prefix kept the stream in step), or after a
 * reconnect for an advertised length over 8 MiB.
 */
import { describe, expect, it } from 'vitest';
import { OverlaydClient } from '../../src/client/client.js';
import { ClosedError, CodecError, FrameTooLargeError, OverlaydError } from '../../src/errors.js';
import { MAX_FRAME_BYTES, type RequestFrame } from '../../src/protocol/index.js';
import { type ChaosServer, type Step, startChaosServer } from '../support/chaos-server.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { CountingClock } from '../support/counting-clock.js';
import { untilHolds, untilState } from '../support/manager-events.js';
import { rejection } from '../support/rejection.js';
import { successFor } from '../support/scripted-server.js';
import { VICTIM } from './fixtures.js';

/**
 * On the client's counting clock, which nothing moves while a request waits
 * here: the deadline (30 s) is what it must not wait for.
 */
const AT_ONCE_MS = 1_000;

const cleanups = cleanupAfterEach();

interface Case {
  server: ChaosServer;
  client: OverlaydClient;
  clock: CountingClock;
  warnings: string[];
}

/** A server whose first allocate_ip gets `fault` (everything else answered), and a client on it. */
async function start(fault: (request: RequestFrame) => Step[]): Promise<Case> {
  let faulted = false;
  const server = await startChaosServer((request) => {
    if (request.request.op !== 'allocate_ip' || faulted) return [{ frame: successFor(request) }];
    faulted = true;
    return fault(request);
  });
  cleanups.push(() => server.dispose());
  const warnings: string[] = [];
  const clock = new CountingClock();
  const client = await OverlaydClient.connect(server.endpoint, {
    clock,
    logger: { warn: (message) => warnings.push(message) },
  });
  cleanups.push(() => client.close());
  return { server, client, clock, warnings };
}

/** The victim's error and how long it took to come, on the client's clock. */
async function victimFails({ client, clock }: Case): Promise<{ error: OverlaydError; ms: number }> {
  const started = clock.now();
  const error = await rejection(client.call(VICTIM), OverlaydError);
  return { error, ms: clock.now() - started };
}

async function nextSucceeds(client: OverlaydClient): Promise<void> {
  expect(await client.call({ op: 'nat_tick' })).toEqual({ result: 'ok' });
}

describe('an undecodable frame while a request waits (30 s deadline)', () => {
  it('garbage body ({{{"}): the request fails at once with a CodecError naming the byte, op and id; the connection stays', async () => {
    const fixture = await start(() => [{ body: '{{{"}' }]);
    const { client, server } = fixture;
    const { error, ms } = await victimFails(fixture);
    expect(error).toBeInstanceOf(CodecError);
    expect(error.delivery).toBe('sent');
    expect(error.message).toMatch(/could not be read.*invalid JSON at byte 2/);
    expect(error.message).toContain(`op allocate_ip, id ${String(error.id)}`);
    expect(error.id).toBe(server.received.find((r) => r.op === 'allocate_ip')?.id);
    expect(ms).toBeLessThan(AT_ONCE_MS);
    await nextSucceeds(client);
    expect(client.stats).toMatchObject({ connections: 1, dropped: 1 });
  });

  it('zero-length body: the request fails at once with a CodecError saying "empty body"; the connection stays', async () => {
    const fixture = await start(() => [{ body: '' }]);
    const { client } = fixture;
    const { error, ms } = await victimFails(fixture);
    expect(error).toBeInstanceOf(CodecError);
    expect(error.delivery).toBe('sent');
    expect(error.message).toMatch(/could not be read.*empty body.*op allocate_ip, id \d+/);
    expect(ms).toBeLessThan(AT_ONCE_MS);
    await nextSucceeds(client);
    expect(client.stats).toMatchObject({ connections: 1, dropped: 1 });
  });

  it('an event of a kind this client does not know: skipped, logged and counted; the request is answered', async () => {
    const { client, clock, warnings } = await start((request) => [
      { body: '{"frame":"event","event":"mesh_rebalanced","epoch":7}' },
      { frame: successFor(request) },
    ]);
    const seen: unknown[] = [];
    client.onEvent((event) => seen.push(event));
    const started = clock.now();
    expect(await client.call(VICTIM)).toEqual({ result: 'ip', ip: '10.200.0.2' });
    expect(clock.now() - started).toBeLessThan(AT_ONCE_MS);
    expect(seen).toEqual([]);
    expect(client.stats).toMatchObject({ connections: 1, dropped: 1 });
    expect(warnings).toEqual([expect.stringMatching(/event of a kind this client does not know/)]);
    await nextSucceeds(client);
  });

  it('an invalid body naming the request id: that request fails at once with a CodecError naming the field', async () => {
    const fixture = await start((request) => [
      { body: `{"frame":"response","id":${request.id},"response":{"result":"bogus"}}` },
    ]);
    const { client } = fixture;
    const { error, ms } = await victimFails(fixture);
    expect(error).toBeInstanceOf(CodecError);
    expect(error.delivery).toBe('sent');
    expect(error.message).toMatch(/response could not be decoded: unknown variant `bogus`/);
    expect(error.message).toMatch(/op allocate_ip, id \d+/);
    expect(ms).toBeLessThan(AT_ONCE_MS);
    await nextSucceeds(client);
    expect(client.stats.connections).toBe(1);
  });

  it('an advertised length over 8 MiB: the connection drops, the request fails at once saying the size and the limit', async () => {
    const size = MAX_FRAME_BYTES + 1;
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(size, 0);
    const fixture = await start(() => [{ raw: prefix }]);
    const { client, clock } = fixture;
    const { error, ms } = await victimFails(fixture);
    expect(error).toBeInstanceOf(ClosedError);
    expect(error.delivery).toBe('sent');
    expect(error.message).toContain(`frame too large: ${size} bytes (max ${MAX_FRAME_BYTES})`);
    expect(error.cause).toBeInstanceOf(FrameTooLargeError);
    expect(error.cause).toMatchObject({ size, max: MAX_FRAME_BYTES });
    expect(ms).toBeLessThan(AT_ONCE_MS);
    // The reconnect's backoff runs on the client's clock.
    await clock.runUntil(untilState(client, (state) => state === 'connected'));
    await nextSucceeds(client);
    expect(client.stats.connections).toBe(2);
  });

  it('with nothing in flight, an unreadable frame is skipped and counted, and fails nothing later', async () => {
    const { client, server, warnings } = await start((request) => [{ frame: successFor(request) }]);
    // The server pushes garbage on its own, between two requests.
    server.script = (request) =>
      request.request.op === 'nat_tick'
        ? [{ frame: successFor(request) }, { body: '{{{"}' }]
        : [{ frame: successFor(request) }];
    await nextSucceeds(client);
    await untilHolds(client.actor, () => client.stats.dropped >= 1);
    expect(client.stats.dropped).toBe(1);
    expect(warnings).toEqual([expect.stringMatching(/could not be decoded/)]);
    expect(await client.call(VICTIM)).toEqual({ result: 'ip', ip: '10.200.0.2' });
  });
});
