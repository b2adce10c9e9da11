/**
 * overlayd-client/otel on a real OpenTelemetry SDK (in-memory span exporter,
 * a metric reader, the async-hooks context manager), against real Unix
 * sockets and the simulated overlayd in a child process.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { HistogramMetricData, MetricData } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OtelSdk, startOtelSdk } from '../../bench/otel-sdk.js';
import { OverlaydClient } from '../../src/client/client.js';
import { requestChannel } from '../../src/diagnostics/channels.js';
import { endpointAttributes } from '../../src/otel/attributes.js';
import { type Instrumentation, instrument } from '../../src/otel/index.js';
import { failureOfError } from '../../src/otel/spans.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { connectedPair } from '../support/connected-pair.js';
import { DECLARED_STEPS, declaredManager } from '../support/declared-manager.js';
import { recordTrace } from '../support/diagnostics-recorder.js';
import { next } from '../support/manager-events.js';
import { answer } from '../support/scripted-server.js';

const DEAD = '/nonexistent/overlayd-otel-test.sock';
const cleanups = cleanupAfterEach();
let sdk: OtelSdk;
let instrumentation: Instrumentation;

beforeEach(() => {
  sdk = startOtelSdk();
  instrumentation = instrument({
    tracerProvider: sdk.tracerProvider,
    meterProvider: sdk.meterProvider,
  });
});
afterEach(async () => {
  instrumentation.disable();
  await sdk.shutdown();
});

const spansNamed = (name: string): ReadableSpan[] =>
  sdk.spans.getFinishedSpans().filter((span) => span.name === name);

async function metric(name: string): Promise<MetricData | undefined> {
  return (await sdk.metrics()).get(name);
}

/** The histogram's points as `{ attributes, count }`. */
async function histogramCounts(name: string) {
  const data = (await metric(name)) as HistogramMetricData | undefined;
  return data?.dataPoints.map((point) => ({
    attributes: point.attributes,
    count: point.value.count,
  }));
}

/** The value of an up-down counter or counter (summed over its attribute sets). */
async function total(name: string): Promise<number | undefined> {
  const data = await metric(name);
  if (data === undefined) return undefined;
  return data.dataPoints.reduce((sum, point) => sum + (point.value as number), 0);
}

const errorSpan = (code: string, delivery: string) => ({
  status: expect.objectContaining({ code: SpanStatusCode.ERROR }),
  attributes: expect.objectContaining({ 'error.type': code, 'overlayd.delivery': delivery }),
});

describe('request spans', () => {
  it('makes one CLIENT span per request, named by the op, a child of the caller’s span', async () => {
    const { client, server } = await connectedPair(cleanups);
    const tracer = sdk.tracerProvider.getTracer('the caller');
    const caller = await tracer.startActiveSpan('reconcile', async (span) => {
      await client.call({ op: 'allocate_ip', service: 'web', join_global: true });
      await client.call({ op: 'nat_tick' });
      span.end();
      return span.spanContext();
    });

    const [allocate] = spansNamed('allocate_ip');
    const [tick] = spansNamed('nat_tick');
    expect(allocate?.kind).toBe(SpanKind.CLIENT);
    expect(allocate?.attributes).toEqual({
      'rpc.system.name': 'overlayd',
      'rpc.method': 'allocate_ip',
      'server.address': server.endpoint,
      'network.transport': 'unix',
      'overlayd.request.id': '1',
    });
    expect(allocate?.status.code).toBe(SpanStatusCode.UNSET);
    expect(tick?.attributes['overlayd.request.id']).toBe('2');
    for (const span of [allocate, tick]) {
      expect(span?.parentSpanContext?.spanId).toBe(caller.spanId);
      expect(span?.spanContext().traceId).toBe(caller.traceId);
    }
  });

  it('makes a root span for a request made outside any span', async () => {
    const { client } = await connectedPair(cleanups);
    await client.call({ op: 'status' });
    expect(spansNamed('status')).toHaveLength(1);
    expect(spansNamed('status')[0]?.parentSpanContext).toBeUndefined();
  });

  it('marks a timed-out request ERROR with its error.type and delivery', async () => {
    const { client } = await connectedPair(cleanups, () => ({ silent: true }));
    await expect(client.call({ op: 'status' }, { timeoutMs: 50 })).rejects.toThrow('timed out');
    expect(spansNamed('status')).toEqual([
      expect.objectContaining(errorSpan('OVERLAYD_TIMEOUT', 'sent')),
    ]);
    expect(spansNamed('status')[0]?.events.map((event) => event.name)).toEqual(['exception']);
  });

  it('marks an overlay error ERROR, whether call() rejects it or request() resolves with it', async () => {
    const { client } = await connectedPair(cleanups, (frame) => ({
      frames: [
        { frame: 'response', id: frame.id, response: { result: 'err', message: 'no slice' } },
      ],
    }));
    await expect(client.call({ op: 'nat_tick' })).rejects.toThrow('no slice');
    await client.request({ op: 'nat_tick' });
    const spans = spansNamed('nat_tick');
    expect(spans).toHaveLength(2);
    for (const span of spans) {
      expect(span).toMatchObject(errorSpan('OVERLAYD_OVERLAY', 'sent'));
      expect(span.status.message).toContain('no slice');
    }
  });

  it('marks a request whose connection closed ERROR, as sent', async () => {
    const { client } = await connectedPair(cleanups, () => ({ hangUp: true }), {
      reconnect: false,
    });
    await expect(client.call({ op: 'nat_tick' })).rejects.toThrow('ended before the response');
    expect(spansNamed('nat_tick')).toEqual([
      expect.objectContaining(errorSpan('OVERLAYD_CLOSED', 'sent')),
    ]);
  });

  it('records the call duration in seconds, by rpc.method and error.type', async () => {
    const { client } = await connectedPair(cleanups, (frame, connection) =>
      frame.request.op === 'status' ? { silent: true } : answer(frame, connection),
    );
    await client.call({ op: 'nat_tick' });
    await client.call({ op: 'nat_tick' });
    await client.call({ op: 'status' }, { timeoutMs: 30 }).catch(() => undefined);

    const data = (await metric('rpc.client.call.duration')) as HistogramMetricData;
    expect(data.descriptor.unit).toBe('s');
    expect(await histogramCounts('rpc.client.call.duration')).toEqual(
      expect.arrayContaining([
        { attributes: { 'rpc.system.name': 'overlayd', 'rpc.method': 'nat_tick' }, count: 2 },
        {
          attributes: {
            'rpc.system.name': 'overlayd',
            'rpc.method': 'status',
            'error.type': 'OVERLAYD_TIMEOUT',
          },
          count: 1,
        },
      ]),
    );
    const timedOut = data.dataPoints.find((point) => point.attributes['rpc.method'] === 'status');
    expect(timedOut?.value.sum).toBeGreaterThanOrEqual(0.025);
    expect(timedOut?.value.sum).toBeLessThan(5);
  });

  it('counts requests queued and in flight while they wait, and none once they settle', async () => {
    const { client } = await connectedPair(cleanups, () => ({ silent: true }), { maxInFlight: 1 });
    const first = client.call({ op: 'status' }, { timeoutMs: 300 }).catch(() => undefined);
    const second = client.call({ op: 'status' }, { timeoutMs: 300 }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await total('overlayd.client.requests.in_flight')).toBe(1);
    expect(await total('overlayd.client.requests.queued')).toBe(1);
    await Promise.all([first, second]);
    expect(await total('overlayd.client.requests.in_flight')).toBe(0);
    expect(await total('overlayd.client.requests.queued')).toBe(0);
  });
});

describe('request metrics at the edges', () => {
  it('counts a request whose write was refused whole as queued again, and nothing once it is answered', async () => {
    const { client, server } = await connectedPair(cleanups);
    await client.call({ op: 'nat_tick' });
    server.connections[0]?.destroy();
    expect(await client.call({ op: 'status' })).toMatchObject({ result: 'status' });
    expect(await total('overlayd.client.requests.in_flight')).toBe(0);
    expect(await total('overlayd.client.requests.queued')).toBe(0);
    expect(spansNamed('status')).toHaveLength(1);
  });

  it('marks a request refused for a full queue ERROR, not sent, and stops counting it as queued', async () => {
    const { client } = await connectedPair(cleanups, () => ({ silent: true }), {
      queueLimit: 0,
      maxInFlight: 1,
    });
    const inFlight = client.call({ op: 'status' }, { timeoutMs: 100 }).catch(() => undefined);
    await expect(client.call({ op: 'nat_tick' })).rejects.toThrow('queue is full');
    expect(spansNamed('nat_tick')).toEqual([
      expect.objectContaining(errorSpan('OVERLAYD_QUEUE_FULL', 'not-sent')),
    ]);
    expect(await total('overlayd.client.requests.queued')).toBe(0);
    await inFlight;
  });

  it('ignores a request that started before it was enabled', async () => {
    instrumentation.disable();
    const { client } = await connectedPair(cleanups, () => ({ silent: true }));
    const traced = recordTrace(requestChannel); // someone else listens: the request is traced
    const call = client.call({ op: 'status' }, { timeoutMs: 100 }).catch(() => undefined);
    instrumentation = instrument({
      tracerProvider: sdk.tracerProvider,
      meterProvider: sdk.meterProvider,
    });
    await call;
    expect(traced.traces()).toHaveLength(1);
    expect(spansNamed('status')).toEqual([]);
    // Never counted, so never uncounted: no endpoint has a count to report.
    expect(await total('overlayd.client.requests.queued')).toBeUndefined();
    expect(await total('overlayd.client.requests.in_flight')).toBeUndefined();
  });

  it('describes a failure that is not an Error by its text', () => {
    expect(failureOfError('gone')).toEqual({ code: 'Error', message: 'gone' });
  });
});

describe('connect spans', () => {
  it('makes one root ERROR span per failed attempt on a dead socket', async () => {
    const tracer = sdk.tracerProvider.getTracer('the caller');
    await tracer.startActiveSpan('startup', async (span) => {
      await OverlaydClient.connectWithAttempts(DEAD, 2, {
        backoff: { initialDelayMs: 1, maxDelayMs: 1 },
      }).catch(() => undefined);
      span.end();
    });
    const attempts = spansNamed('overlayd connect');
    expect(attempts.map((span) => span.attributes['overlayd.connect.attempt'])).toEqual([1, 2]);
    for (const span of attempts) {
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.kind).toBe(SpanKind.CLIENT);
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes).toMatchObject({
        'server.address': DEAD,
        'network.transport': 'unix',
        'overlayd.connect.max_attempts': 2,
        'error.type': 'OVERLAYD_IO',
      });
    }
  });

  it('makes an OK span for an attempt that connects, and counts reconnects', async () => {
    const { client } = await connectedPair(cleanups, (frame, connection) =>
      connection === 1 ? { hangUp: true } : answer(frame, connection),
    );
    await client.call({ op: 'nat_tick' }).catch(() => undefined);
    await client.call({ op: 'status' });
    const attempts = spansNamed('overlayd connect');
    expect(attempts).toHaveLength(2);
    expect(attempts.map((span) => span.status.code)).toEqual([
      SpanStatusCode.UNSET,
      SpanStatusCode.UNSET,
    ]);
    expect(await total('overlayd.client.reconnects')).toBe(1);
  });
});

describe('resync spans', () => {
  it('makes a resync span after an overlayd restart, with its requests as children, and counts it', async () => {
    const { overlayd, manager } = await declaredManager(cleanups);
    sdk.spans.reset();
    const resynced = next(manager, 'resynced');
    await overlayd.kill();
    overlayd.start();
    await resynced;

    const [resync] = spansNamed('overlayd resync');
    expect(resync?.parentSpanContext).toBeUndefined();
    expect(resync?.attributes).toMatchObject({
      'server.address': overlayd.socket,
      'overlayd.resync.restarted': true,
      'overlayd.resync.reapplied': DECLARED_STEPS.length,
    });
    expect(resync?.status.code).toBe(SpanStatusCode.UNSET);
    const children = sdk.spans
      .getFinishedSpans()
      .filter((span) => span.parentSpanContext?.spanId === resync?.spanContext().spanId)
      .map((span) => span.name);
    expect(children).toEqual([
      'status',
      'set_local_node_id',
      'set_local_wg_pubkey',
      'setup_global_overlay',
      'setup_service_overlay',
      'attach_container',
      // The global overlay was set up again: status is read once more, for what the overlay is.
      'status',
    ]);
    expect(await total('overlayd.client.resyncs')).toBe(1);
    expect(await histogramCounts('overlayd.client.resync.duration')).toEqual([
      { attributes: expect.objectContaining({ 'overlayd.resync.restarted': true }), count: 1 },
    ]);
  });

  it('marks a refused resync ERROR with the step that failed', async () => {
    const { overlayd, manager } = await declaredManager(cleanups);
    const resynced = next(manager, 'resynced');
    await overlayd.kill();
    overlayd.start(['--refuse', 'attach_container:1']);
    await resynced;
    const [refused, retried] = spansNamed('overlayd resync');
    expect(refused?.status.code).toBe(SpanStatusCode.ERROR);
    expect(refused?.attributes).toMatchObject({
      'error.type': 'OVERLAYD_RESYNC',
      'overlayd.resync.step': 'attach_container linux_pid 4242',
    });
    expect(retried?.status.code).toBe(SpanStatusCode.UNSET);
  });
});

describe('disable()', () => {
  it('stops every span and metric', async () => {
    const { client } = await connectedPair(cleanups);
    await client.call({ op: 'nat_tick' });
    instrumentation.disable();
    instrumentation.disable();
    await client.call({ op: 'nat_tick' });
    await client.call({ op: 'status' });
    await OverlaydClient.connect(DEAD).catch(() => undefined);
    expect(sdk.spans.getFinishedSpans().map((span) => span.name)).toEqual([
      'overlayd connect',
      'nat_tick',
    ]);
    expect(await histogramCounts('rpc.client.call.duration')).toEqual([
      { attributes: expect.objectContaining({ 'rpc.method': 'nat_tick' }), count: 1 },
    ]);
  });
});

describe('global providers', () => {
  it('uses the global tracer provider when none is given', async () => {
    instrumentation.disable();
    trace.setGlobalTracerProvider(sdk.tracerProvider);
    cleanups.push(async () => trace.disable());
    const global = instrument();
    cleanups.push(async () => global.disable());
    const { client } = await connectedPair(cleanups);
    await client.call({ op: 'status' });
    expect(spansNamed('status')).toHaveLength(1);
  });
});

describe('attributes', () => {
  it('names the transport of a Windows named pipe `pipe`', () => {
    expect(endpointAttributes('\\\\.\\pipe\\zlayer-overlayd')).toEqual({
      'rpc.system.name': 'overlayd',
      'server.address': '\\\\.\\pipe\\zlayer-overlayd',
      'network.transport': 'pipe',
    });
  });
});
