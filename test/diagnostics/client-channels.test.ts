/**
 * What an OverlaydClient publishes on its diagnostics channels, subscribed
 * directly (no OpenTelemetry), against real Unix sockets: the request trace
 * for each way a request ends, the connect trace per attempt, and the plain
 * channels (ready, closed, skipped frames, writes, a full queue).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it, vi } from 'vitest';
import { OverlaydClient } from '../../src/client/client.js';
import {
  CONNECTION_CLOSED_CHANNEL,
  CONNECTION_READY_CHANNEL,
  CONNECTION_STATE_CHANNEL,
  type ConnectionClosedMessage,
  type ConnectionReadyMessage,
  type ConnectionStateMessage,
  type ConnectTraceContext,
  connectChannel,
  FRAME_SKIPPED_CHANNEL,
  type FrameSkippedMessage,
  QUEUE_FULL_CHANNEL,
  type QueueFullMessage,
  REQUEST_REQUEUED_CHANNEL,
  REQUEST_WRITTEN_CHANNEL,
  type RequestTraceContext,
  requestChannel,
} from '../../src/diagnostics/channels.js';
import type { OverlaydRequestInput } from '../../src/protocol/index.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { connectedPair } from '../support/connected-pair.js';
import { recordChannel, recordTrace } from '../support/diagnostics-recorder.js';
import { rejection } from '../support/rejection.js';
import { answer, startScriptedServer, successFor } from '../support/scripted-server.js';

const DEAD = '/nonexistent/overlayd-diagnostics-test.sock';
const cleanups = cleanupAfterEach();

const SETTLED_OK = ['start', 'end', 'asyncStart', 'asyncEnd'];
const SETTLED_ERROR = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

/** The one request trace recorded: its lifecycle and its context as it ended. */
function onlyTrace(recorder: ReturnType<typeof recordTrace<RequestTraceContext>>) {
  const traces = recorder.traces();
  expect(traces).toHaveLength(1);
  const context = traces[0] as RequestTraceContext;
  return { lifecycle: recorder.lifecycleOf(context), context };
}

describe('overlayd-client:request', () => {
  it('traces a request from the call to its answer, starting in the caller’s context', async () => {
    const { client, server } = await connectedPair(cleanups);
    const requests = recordTrace(requestChannel);
    const request: OverlaydRequestInput = { op: 'allocate_ip', service: 'web', join_global: true };
    const result = await client.call(request);

    expect(result).toEqual({ result: 'ip', ip: '10.200.0.2' });
    const { lifecycle, context } = onlyTrace(requests);
    expect(lifecycle).toEqual(SETTLED_OK);
    const id = String(server.received[0]?.frame.id);
    expect(requests.records[0]?.context).toEqual({
      op: 'allocate_ip',
      id,
      endpoint: server.endpoint,
      request,
    });
    expect(context).toMatchObject({ id, result: { result: 'ip', ip: '10.200.0.2' } });
    expect(context.error).toBeUndefined();
  });

  it('publishes start in the caller’s async context', async () => {
    const { client } = await connectedPair(cleanups);
    const caller = new AsyncLocalStorage<string>();
    const seen: Array<string | undefined> = [];
    const onStart = () => seen.push(caller.getStore());
    requestChannel.start.subscribe(onStart);
    cleanups.push(async () => {
      requestChannel.start.unsubscribe(onStart);
    });
    await caller.run('the caller', () => client.call({ op: 'status' }));
    await client.call({ op: 'status' });
    expect(seen).toEqual(['the caller', undefined]);
  });

  it('gives the id as a decimal string beyond 2^53', async () => {
    const { client } = await connectedPair(cleanups, answer, { firstId: 2n ** 64n - 1n });
    const requests = recordTrace(requestChannel);
    await client.call({ op: 'nat_tick' });
    await client.call({ op: 'nat_tick' });
    expect(requests.traces().map((context) => context.id)).toEqual(['18446744073709551615', '0']);
  });

  it('ends with the OverlayError for an `err` answer to call(), and with the answer for request()', async () => {
    const { client } = await connectedPair(cleanups, (frame) => ({
      frames: [
        { frame: 'response', id: frame.id, response: { result: 'err', message: 'no slice' } },
      ],
    }));
    const requests = recordTrace(requestChannel);
    await expect(client.call({ op: 'nat_tick' })).rejects.toThrow('no slice');
    const answered = await client.request({ op: 'nat_tick' });

    const [called, requested] = requests.traces() as [RequestTraceContext, RequestTraceContext];
    expect(requests.lifecycleOf(called)).toEqual(SETTLED_ERROR);
    expect(called.error).toMatchObject({ code: 'OVERLAYD_OVERLAY', delivery: 'sent' });
    expect(requests.lifecycleOf(requested)).toEqual(SETTLED_OK);
    expect(requested.result).toEqual(answered);
    expect(requested.result).toEqual({ result: 'err', message: 'no slice' });
  });

  it('ends with a TimeoutError, sent, when overlayd never answers', async () => {
    const { client } = await connectedPair(cleanups, () => ({ silent: true }));
    const requests = recordTrace(requestChannel);
    await expect(client.call({ op: 'status' }, { timeoutMs: 50 })).rejects.toThrow('timed out');
    const { lifecycle, context } = onlyTrace(requests);
    expect(lifecycle).toEqual(SETTLED_ERROR);
    expect(context.error).toMatchObject({ code: 'OVERLAYD_TIMEOUT', delivery: 'sent' });
  });

  it('ends with an AbortedError when the caller aborts', async () => {
    const { client } = await connectedPair(cleanups, () => ({ silent: true }));
    const requests = recordTrace(requestChannel);
    const controller = new AbortController();
    const call = client.call({ op: 'status' }, { signal: controller.signal });
    await vi.waitFor(() => expect(requests.records.length).toBeGreaterThanOrEqual(2));
    controller.abort(new Error('caller gave up'));
    await expect(call).rejects.toThrow('aborted');
    const { lifecycle, context } = onlyTrace(requests);
    expect(lifecycle).toEqual(SETTLED_ERROR);
    expect(context.error).toMatchObject({ code: 'OVERLAYD_ABORTED' });
  });

  it('ends with a ClosedError, not sent, for a request on a closed client', async () => {
    const { client } = await connectedPair(cleanups);
    await client.close();
    const requests = recordTrace(requestChannel);
    await expect(client.request({ op: 'status' })).rejects.toThrow('client is closed');
    const { lifecycle, context } = onlyTrace(requests);
    expect(lifecycle).toEqual(SETTLED_ERROR);
    expect(context.error).toMatchObject({ code: 'OVERLAYD_CLOSED', delivery: 'not-sent' });
  });

  it('is not used at all while nobody listens', async () => {
    const { client } = await connectedPair(cleanups);
    const trace = vi.spyOn(requestChannel, 'tracePromise');
    cleanups.push(async () => trace.mockRestore());
    await client.call({ op: 'status' });
    await client.request({ op: 'status' });
    expect(trace).not.toHaveBeenCalled();
    recordTrace(requestChannel);
    await client.call({ op: 'status' });
    expect(trace).toHaveBeenCalledTimes(1);
  });
});

describe('a dropped connection and its reconnect', () => {
  it('fails the request in flight as sent, reports the close, then the reconnect attempt and the ready connection', async () => {
    const { client, server } = await connectedPair(cleanups, (frame, connection) =>
      connection === 1 ? { hangUp: true } : answer(frame, connection),
    );
    const requests = recordTrace(requestChannel);
    const connects = recordTrace(connectChannel);
    const closed = recordChannel<ConnectionClosedMessage>(CONNECTION_CLOSED_CHANNEL);
    const ready = recordChannel<ConnectionReadyMessage>(CONNECTION_READY_CHANNEL);

    await expect(client.call({ op: 'nat_tick' })).rejects.toThrow('ended before the response');
    expect(requests.traces()[0]?.error).toMatchObject({
      code: 'OVERLAYD_CLOSED',
      delivery: 'sent',
    });
    expect(closed).toEqual([
      {
        endpoint: server.endpoint,
        error: expect.objectContaining({ code: 'OVERLAYD_CLOSED' }),
        wasConnected: true,
      },
    ]);

    await client.call({ op: 'status' });
    expect(ready).toEqual([{ endpoint: server.endpoint, reconnect: true }]);
    const [attempt] = connects.traces() as [ConnectTraceContext];
    expect(connects.records[0]?.context).toEqual({
      endpoint: server.endpoint,
      attempt: 1,
      maxAttempts: 20,
    });
    expect(connects.lifecycleOf(attempt)).toEqual(SETTLED_OK);
    expect(attempt.error).toBeUndefined();
  });

  it('reports a first connection as ready, not a reconnect', async () => {
    const server = await startScriptedServer();
    cleanups.push(() => server.dispose());
    const ready = recordChannel<ConnectionReadyMessage>(CONNECTION_READY_CHANNEL);
    const client = await OverlaydClient.connect(server.endpoint);
    cleanups.push(() => client.close());
    expect(ready).toEqual([{ endpoint: server.endpoint, reconnect: false }]);
  });

  it('reports a connection the client closed without an error', async () => {
    const { client, server } = await connectedPair(cleanups);
    const closed = recordChannel<ConnectionClosedMessage>(CONNECTION_CLOSED_CHANNEL);
    await client.close();
    expect(closed).toEqual([{ endpoint: server.endpoint, wasConnected: true }]);
  });
});

describe('overlayd-client:connect', () => {
  it('traces each attempt on a dead socket, each ending with its error, and each closed unconnected', async () => {
    const connects = recordTrace(connectChannel);
    const closed = recordChannel<ConnectionClosedMessage>(CONNECTION_CLOSED_CHANNEL);
    const error = await rejection(
      OverlaydClient.connectWithAttempts(DEAD, 3, {
        backoff: { initialDelayMs: 1, maxDelayMs: 2 },
      }),
    );

    expect(error).toMatchObject({ code: 'OVERLAYD_CONNECT', attempts: 3 });
    const attempts = connects.traces();
    expect(connects.records.filter((r) => r.event === 'start').map((r) => r.context)).toEqual([
      { endpoint: DEAD, attempt: 1, maxAttempts: 3 },
      { endpoint: DEAD, attempt: 2, maxAttempts: 3 },
      { endpoint: DEAD, attempt: 3, maxAttempts: 3 },
    ]);
    for (const attempt of attempts) {
      expect(connects.lifecycleOf(attempt)).toEqual(SETTLED_ERROR);
      expect(attempt.error).toMatchObject({ code: 'OVERLAYD_IO' });
    }
    expect(closed).toHaveLength(3);
    for (const message of closed) {
      expect(message).toMatchObject({ endpoint: DEAD, wasConnected: false });
      expect(message.error?.code).toBe('OVERLAYD_IO');
    }
  });

  it('ends an attempt whose opener throws with that failure', async () => {
    const connects = recordTrace(connectChannel);
    const error = await rejection(
      OverlaydClient.connect(DEAD, {
        connect: () => {
          throw new Error('no sockets today');
        },
      }),
    );
    expect(error).toMatchObject({ code: 'OVERLAYD_CONNECT' });
    const [attempt] = connects.traces() as [ConnectTraceContext];
    expect(connects.lifecycleOf(attempt)).toEqual(SETTLED_ERROR);
    expect(attempt.error?.message).toContain('no sockets today');
  });

  it('ends an attempt the client gave up by closing, and reports that close without an error', async () => {
    const server = await startScriptedServer();
    cleanups.push(() => server.dispose());
    const connects = recordTrace(connectChannel);
    const closed = recordChannel<ConnectionClosedMessage>(CONNECTION_CLOSED_CHANNEL);
    const client = new OverlaydClient(server.endpoint);
    const opening = rejection(client.open());
    await client.close();
    expect(await opening).toMatchObject({ code: 'OVERLAYD_CLOSED' });
    const [attempt] = connects.traces() as [ConnectTraceContext];
    expect(connects.lifecycleOf(attempt)).toEqual(SETTLED_ERROR);
    expect(attempt.error).toMatchObject({ code: 'OVERLAYD_CLOSED' });
    expect(closed).toEqual([{ endpoint: server.endpoint, wasConnected: false }]);
  });
});

describe('plain channels', () => {
  it('tells frame:skipped what the logger is told, with the endpoint', async () => {
    const warned: unknown[] = [];
    const { client, server } = await connectedPair(
      cleanups,
      (frame) => ({
        frames: [{ frame: 'response', id: 999_999, response: { result: 'ok' } }, successFor(frame)],
      }),
      { logger: { warn: (message, fields) => warned.push({ message, ...fields }) } },
    );
    const skipped = recordChannel<FrameSkippedMessage>(FRAME_SKIPPED_CHANNEL);
    await client.call({ op: 'nat_tick' });
    expect(skipped).toEqual([
      {
        endpoint: server.endpoint,
        reason: 'unknown',
        message: 'overlayd: skipped response with unknown id',
        id: '999999',
        expected: '1',
      },
    ]);
    const { endpoint: _, ...asLogged } = skipped[0] as FrameSkippedMessage;
    expect(warned).toEqual([asLogged]);
  });

  it('publishes a traced request’s context on request:written when its bytes go to the socket', async () => {
    const { client } = await connectedPair(cleanups);
    const requests = recordTrace(requestChannel);
    const written = recordChannel<RequestTraceContext>(REQUEST_WRITTEN_CHANNEL);
    await client.call({ op: 'status' });
    expect(written).toEqual([
      expect.objectContaining({ op: 'status', id: requests.traces()[0]?.id }),
    ]);
  });

  it('publishes request:requeued when a write to a peer that already closed is refused whole', async () => {
    const { client, server } = await connectedPair(cleanups);
    await client.call({ op: 'nat_tick' });
    const requests = recordTrace(requestChannel);
    const written = recordChannel<RequestTraceContext>(REQUEST_WRITTEN_CHANNEL);
    const requeued = recordChannel<RequestTraceContext>(REQUEST_REQUEUED_CHANNEL);
    // The server drops the connection; in the same tick the client writes: EPIPE, nothing sent.
    server.connections[0]?.destroy();
    expect(await client.call({ op: 'status' })).toMatchObject({ result: 'status' });
    const [status] = requests.traces() as [RequestTraceContext];
    expect(requeued).toEqual([expect.objectContaining({ op: 'status', id: status.id })]);
    // Written on the dead connection, then again on the next one.
    expect(written.map((context) => context.id)).toEqual([status.id, status.id]);
  });

  it('publishes each move of the connection chart on connection:state', async () => {
    const server = await startScriptedServer();
    cleanups.push(() => server.dispose());
    const states = recordChannel<ConnectionStateMessage>(CONNECTION_STATE_CHANNEL);
    const client = await OverlaydClient.connect(server.endpoint);
    await client.call({ op: 'status' });
    await client.close();
    expect(states.map(({ previous, state }) => `${previous} → ${state}`)).toEqual([
      'undefined → idle',
      'idle → connecting',
      'connecting → connected',
      'connected → awaitingResponse',
      'awaitingResponse → connected',
      'connected → closed',
    ]);
    expect(new Set(states.map((message) => message.endpoint))).toEqual(new Set([server.endpoint]));
  });

  it('starts connection:state afresh for a subscriber that comes later', async () => {
    const { client } = await connectedPair(cleanups);
    await client.call({ op: 'status' });
    const states = recordChannel<ConnectionStateMessage>(CONNECTION_STATE_CHANNEL);
    await client.call({ op: 'status' });
    expect(states.map(({ previous, state }) => `${previous} → ${state}`)).toEqual([
      'undefined → awaitingResponse',
      'awaitingResponse → connected',
    ]);
  });

  it('publishes queue:full when a request is refused for a full queue', async () => {
    const { client, server } = await connectedPair(cleanups, () => ({ silent: true }), {
      queueLimit: 1,
      maxInFlight: 1,
      requestTimeoutMs: 200,
    });
    const full = recordChannel<QueueFullMessage>(QUEUE_FULL_CHANNEL);
    const inFlight = client.request({ op: 'status' }).catch(() => undefined);
    const queued = client.request({ op: 'status' }).catch(() => undefined);
    await expect(client.request({ op: 'nat_tick' })).rejects.toThrow('queue is full');
    expect(full).toEqual([{ endpoint: server.endpoint, op: 'nat_tick', limit: 1 }]);
    await Promise.all([inFlight, queued]);
  });
});
