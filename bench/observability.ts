/**
 * What the diagnostics channels cost a sequential round trip, against the
 * fast server in another process, four subjects in one process taking turns
 * (rounds rotate the order): the client before the channels existed (built
 * from git, see baseline-build.ts), the client with nobody listening, with a
 * no-op subscriber on every channel, and with the OpenTelemetry
 * instrumentation on a real SDK (batch span processor into an in-memory
 * exporter, a metric reader, the async-hooks context manager). Subscriptions are global, so each
 * subject's listeners are attached for its own turn only. Each ratio is the
 * median over rounds of that round's ratio of medians (paired).
 *
 *   node dist/bench/observability.js [requests per round] [rounds]
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';
import { pathToFileURL } from 'node:url';
import { context } from '@opentelemetry/api';
import { OverlaydClient } from '../src/client/client.js';
import {
  CONNECT_CHANNEL,
  CONNECTION_CLOSED_CHANNEL,
  CONNECTION_READY_CHANNEL,
  CONNECTION_STATE_CHANNEL,
  FRAME_SKIPPED_CHANNEL,
  QUEUE_FULL_CHANNEL,
  REQUEST_CHANNEL,
  REQUEST_REQUEUED_CHANNEL,
  REQUEST_WRITTEN_CHANNEL,
  RESYNC_CHANNEL,
} from '../src/diagnostics/channels.js';
import { instrument } from '../src/otel/index.js';
import { loadBaselineBuild } from './baseline-build.js';
import { STATUS_REQUEST, spawnEchoServer } from './echo-server.js';
import { startOtelSdk } from './otel-sdk.js';
import { sequentialCalls, tempEndpoint } from './roundtrip.js';
import { median } from './stats.js';

export type ObservedSubject = 'before' | 'quiet' | 'noop' | 'otel';

export const OBSERVED_LABELS: Record<ObservedSubject, string> = {
  before: 'OverlaydClient before the channels (no subscriber)',
  quiet: 'OverlaydClient, no subscriber',
  noop: 'OverlaydClient, a no-op subscriber on every channel',
  otel: 'OverlaydClient, OpenTelemetry on a real SDK',
};

export interface ObservabilityFigures {
  /** The baseline's commit. */
  baseline: string;
  /** Per subject: median over rounds of each round's median latency (µs). */
  medianUs: Record<ObservedSubject, number>;
  /** Paired: median over rounds of the round's ratio, with the rounds' lowest and highest. */
  quietVsBefore: Paired;
  noopVsQuiet: Paired;
  otelVsQuiet: Paired;
}

export interface Paired {
  ratio: number;
  low: number;
  high: number;
}

const TRACES = [REQUEST_CHANNEL, CONNECT_CHANNEL, RESYNC_CHANNEL];
const PLAIN = [
  CONNECTION_READY_CHANNEL,
  CONNECTION_CLOSED_CHANNEL,
  CONNECTION_STATE_CHANNEL,
  FRAME_SKIPPED_CHANNEL,
  REQUEST_WRITTEN_CHANNEL,
  REQUEST_REQUEUED_CHANNEL,
  QUEUE_FULL_CHANNEL,
];

/** A listener on every channel and every tracing event, doing nothing. */
function noopSubscriber(): Listeners {
  const nothing = () => {};
  const handlers = {
    start: nothing,
    end: nothing,
    asyncStart: nothing,
    asyncEnd: nothing,
    error: nothing,
  };
  return {
    enable() {
      for (const name of TRACES) tracingChannel(name).subscribe(handlers);
      for (const name of PLAIN) channel(name).subscribe(nothing);
    },
    disable() {
      for (const name of TRACES) tracingChannel(name).unsubscribe(handlers);
      for (const name of PLAIN) channel(name).unsubscribe(nothing);
    },
  };
}

/** The instrumentation on a real SDK, its context manager registered for its turn only. */
function otelSubscriber(): Listeners {
  // Spans exported in batches, as in production.
  const sdk = startOtelSdk({ batch: true });
  context.disable();
  let instrumentation: ReturnType<typeof instrument> | undefined;
  return {
    enable() {
      context.setGlobalContextManager(sdk.contextManager.enable());
      instrumentation = instrument({
        tracerProvider: sdk.tracerProvider,
        meterProvider: sdk.meterProvider,
      });
    },
    async disable() {
      instrumentation?.disable();
      context.disable();
      // Export now, not on the processor's timer in another subject's turn.
      await sdk.tracerProvider.forceFlush();
      sdk.spans.reset();
    },
  };
}

/** Attached for a subject's turn only (subscriptions are global). */
interface Listeners {
  enable(): void;
  disable(): void | Promise<void>;
}

const NOBODY: Listeners = { enable() {}, disable() {} };

/** A pause between turns, so that a turn's leftovers (timers, sockets) land in no one's. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

function paired(numerators: number[], denominators: number[]): Paired {
  const ratios = numerators.map((n, i) => n / (denominators[i] as number));
  return { ratio: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios) };
}

export async function benchObservability(
  opts: { requests?: number; rounds?: number } = {},
): Promise<ObservabilityFigures> {
  const requests = opts.requests ?? 2000;
  const rounds = opts.rounds ?? 9;
  const baseline = await loadBaselineBuild();
  const { endpoint, cleanup } = tempEndpoint('echo.sock');
  const server = await spawnEchoServer(endpoint);
  const options = { queueLimit: 4096 };
  const before = await baseline.OverlaydClient.connect(endpoint, options);
  const current = await OverlaydClient.connect(endpoint, options);
  const subjects: Record<ObservedSubject, { call(): Promise<unknown>; listeners: Listeners }> = {
    before: { call: () => before.call(STATUS_REQUEST), listeners: NOBODY },
    quiet: { call: () => current.call(STATUS_REQUEST), listeners: NOBODY },
    noop: { call: () => current.call(STATUS_REQUEST), listeners: noopSubscriber() },
    otel: { call: () => current.call(STATUS_REQUEST), listeners: otelSubscriber() },
  };
  const names = Object.keys(subjects) as ObservedSubject[];
  const medians = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<
    ObservedSubject,
    number[]
  >;
  const turn = async (name: ObservedSubject, n: number): Promise<number> => {
    const { call, listeners } = subjects[name];
    listeners.enable();
    try {
      return median(await sequentialCalls(call, n));
    } finally {
      await listeners.disable();
      await settle();
    }
  };
  try {
    for (const name of names) await turn(name, Math.min(requests, 1000)); // warm-up, discarded
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round) % names.length] as ObservedSubject;
        medians[name].push(await turn(name, requests));
      }
    }
  } finally {
    await before.close();
    await current.close();
    await server.close();
    cleanup();
  }
  return {
    baseline: baseline.commit,
    medianUs: Object.fromEntries(names.map((name) => [name, median(medians[name])])) as Record<
      ObservedSubject,
      number
    >,
    quietVsBefore: paired(medians.quiet, medians.before),
    noopVsQuiet: paired(medians.noop, medians.quiet),
    otelVsQuiet: paired(medians.otel, medians.quiet),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await benchObservability({
    requests: Number(process.argv[2] ?? 2000),
    rounds: Number(process.argv[3] ?? 9),
  });
  console.log(JSON.stringify(figures, null, 2));
}
