/**
 * Request round trips over a Unix socket, five subjects against one server:
 * the raw socket floor, a minimal hand-written promise client, a minimal
 * hand-written XState client (the cost of a chart that decides every
 * request), OverlaydClient's own pieces without the statechart, and
 * OverlaydClient. The server is the fast one (precomputed bytes) in another
 * process or in this one, or the simulated overlayd in another process.
 * Sequential (latency: median and p99; requests/s) and with `callers`
 * concurrent callers (requests/s); then, on connections of their own, each
 * subject's turn and time away (`SocketProbe`). Rounds interleave the
 * subjects so that noise on this shared machine hits them alike; every
 * figure is the median over rounds.
 *
 *   node dist/bench/roundtrip.js [separate|same|overlayd] [raw|minimal|xstate|chartless|overlayd|all] [requests]
 *
 * (a single subject is handy under `node --cpu-prof`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OverlaydClient } from '../src/client/client.js';
import { ChartlessClient } from './chartless-client.js';
import {
  type EchoServer,
  STATUS_REQUEST,
  spawnEchoServer,
  startEchoServer,
} from './echo-server.js';
import { MinimalClient } from './minimal-client.js';
import { MinimalXStateClient } from './minimal-xstate-client.js';
import { spawnOverlaydServer } from './overlayd-server.js';
import { RawPingPong } from './raw-client.js';
import { SocketProbe } from './socket-probe.js';
import { median, p99, shareAbove } from './stats.js';

export type SubjectName = 'raw' | 'minimal' | 'xstate' | 'chartless' | 'overlayd';

/** Every subject, in table order. */
export const SUBJECTS: readonly SubjectName[] = [
  'raw',
  'minimal',
  'xstate',
  'chartless',
  'overlayd',
];
/** The fast server in another process or in this one, or the simulated overlayd in another. */
export type Setup = 'separate' | 'same' | 'overlayd';

/** A request this many times slower than its round's median counts as slow (the p99 target's bound). */
export const SLOW = 2.5;

/** The minimal XState client's window (as OverlaydClient's default). */
export const XSTATE_WINDOW = 16;

export const SUBJECT_LABELS: Record<SubjectName, string> = {
  raw: 'raw socket ping-pong (floor)',
  minimal: 'minimal promise client',
  xstate: `minimal XState client (window ${XSTATE_WINDOW}, batched)`,
  chartless: 'OverlaydClient without the chart',
  overlayd: 'OverlaydClient',
};

interface Subject {
  /** `n` requests one at a time: the latency of each, in µs. */
  sequential(n: number): Promise<number[]>;
  /** `n` requests from `callers` concurrent callers: elapsed ms. */
  concurrent(n: number, callers: number): Promise<number>;
  close(): Promise<void>;
}

/** `n` calls one at a time: the latency of each, in µs. */
export async function sequentialCalls(call: () => Promise<unknown>, n: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await call();
    latencies.push((performance.now() - start) * 1e3);
  }
  return latencies;
}

async function concurrentCalls(
  call: () => Promise<unknown>,
  n: number,
  callers: number,
): Promise<number> {
  let started = 0;
  const caller = async (): Promise<void> => {
    while (started < n) {
      started++;
      await call();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: callers }, caller));
  return performance.now() - start;
}

/** A subject driven through a promise-returning `call`, by one caller or by many. */
function callerSubject(call: () => Promise<unknown>, close: () => Promise<void>): Subject {
  return {
    sequential: (n) => sequentialCalls(call, n),
    concurrent: (n, callers) => concurrentCalls(call, n, callers),
    close,
  };
}

/** A connected socket, timed by `probe` when one is given. */
function connectSocket(endpoint: string, probe?: SocketProbe): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(endpoint);
    probe?.attach(socket);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => socket.destroy());
      resolve(socket);
    });
  });
}

/** One subject, connected to `endpoint`; its socket timed by `probe` when one is given. */
export async function openSubject(
  name: SubjectName,
  endpoint: string,
  probe?: SocketProbe,
): Promise<Subject> {
  switch (name) {
    case 'raw': {
      const raw = RawPingPong.over(await connectSocket(endpoint, probe));
      return {
        sequential: (n) => raw.sequential(n),
        concurrent: (n, callers) => raw.pipelined(n, callers),
        close: async () => raw.close(),
      };
    }
    case 'minimal': {
      const client = MinimalClient.over(await connectSocket(endpoint, probe));
      return callerSubject(
        () => client.call(STATUS_REQUEST),
        async () => client.close(),
      );
    }
    case 'xstate': {
      const client = MinimalXStateClient.over(await connectSocket(endpoint, probe), {
        window: XSTATE_WINDOW,
      });
      return callerSubject(
        () => client.call(STATUS_REQUEST),
        async () => client.close(),
      );
    }
    case 'chartless': {
      const client = ChartlessClient.over(await connectSocket(endpoint, probe));
      return callerSubject(
        () => client.call(STATUS_REQUEST),
        async () => client.close(),
      );
    }
    case 'overlayd': {
      const client = await OverlaydClient.connect(endpoint, {
        queueLimit: 4096,
        ...(probe ? { connect: (path: string) => probe.attach(createConnection(path)) } : {}),
      });
      return callerSubject(
        () => client.call(STATUS_REQUEST),
        () => client.close(),
      );
    }
  }
}

export interface RoundTripFigures {
  subject: SubjectName;
  /** Sequential: median over rounds of each round's median latency (µs). */
  medianUs: number;
  /** Sequential: median over rounds of each round's p99 latency (µs). */
  p99Us: number;
  /**
   * Sequential: median over rounds of the share of a round's requests slower
   * than 2.5× its median. The p99 is one of the slowest 1 %: once this share
   * passes 1 %, p99 is the size of whatever made them slow (a GC pause, the
   * VM's scheduler), not of the client's round trip.
   */
  slowShare: number;
  /** Sequential requests per second (median over rounds). */
  sequentialRps: number;
  /** Requests per second with `callers` concurrent callers (median over rounds). */
  concurrentRps: number;
}

export interface RoundTripOptions {
  rounds?: number;
  sequentialRequests?: number;
  concurrentRequests?: number;
  callers?: number;
  subjects?: readonly SubjectName[];
}

/** Every subject against the server at `endpoint`, rounds interleaved. */
export async function benchRoundTrips(
  endpoint: string,
  opts: RoundTripOptions = {},
): Promise<RoundTripFigures[]> {
  const rounds = opts.rounds ?? 5;
  const seqN = opts.sequentialRequests ?? 3000;
  const concN = opts.concurrentRequests ?? 20_000;
  const callers = opts.callers ?? 64;
  const names = opts.subjects ?? SUBJECTS;
  const subjects = new Map<SubjectName, Subject>();
  for (const name of names) subjects.set(name, await openSubject(name, endpoint));
  const samples = new Map(
    names.map((name) => [
      name,
      {
        median: [] as number[],
        p99: [] as number[],
        slow: [] as number[],
        seqRps: [] as number[],
        concRps: [] as number[],
      },
    ]),
  );
  try {
    // Warm-up round (JIT, socket buffers), discarded.
    for (const s of subjects.values()) {
      await s.sequential(Math.min(seqN, 1000));
      await s.concurrent(Math.min(concN, 5000), callers);
    }
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no subject always runs first.
      const order = names.map((_, i) => names[(i + round) % names.length]!);
      for (const name of order) {
        const start = performance.now();
        const latencies = await subjects.get(name)!.sequential(seqN);
        const elapsed = performance.now() - start;
        const s = samples.get(name)!;
        s.median.push(median(latencies));
        s.p99.push(p99(latencies));
        s.slow.push(shareAbove(latencies, SLOW * median(latencies)));
        s.seqRps.push((seqN / elapsed) * 1e3);
      }
      for (const name of order) {
        const elapsed = await subjects.get(name)!.concurrent(concN, callers);
        samples.get(name)!.concRps.push((concN / elapsed) * 1e3);
      }
    }
  } finally {
    for (const s of subjects.values()) await s.close();
  }
  return names.map((subject) => {
    const s = samples.get(subject)!;
    return {
      subject,
      medianUs: median(s.median),
      p99Us: median(s.p99),
      slowShare: median(s.slow),
      sequentialRps: median(s.seqRps),
      concurrentRps: median(s.concRps),
    };
  });
}

export interface TurnFigures {
  subject: SubjectName;
  /** The client's turn (response in → next request out), µs: median over rounds of medians. */
  turnUs: number;
  /** Away (request out → response in: kernel, server, wake-ups), µs, likewise. */
  awayUs: number;
}

/**
 * Where a sequential round trip's time goes, per subject: its own turn on the
 * critical path and the time away, timed at its socket (`SocketProbe`) on
 * connections opened for this alone, rounds interleaved like
 * `benchRoundTrips`.
 */
export async function benchTurns(
  endpoint: string,
  opts: Pick<RoundTripOptions, 'rounds' | 'sequentialRequests' | 'subjects'> = {},
): Promise<TurnFigures[]> {
  const rounds = opts.rounds ?? 5;
  const seqN = opts.sequentialRequests ?? 3000;
  const names = opts.subjects ?? SUBJECTS;
  const probed = new Map<SubjectName, { subject: Subject; probe: SocketProbe }>();
  const samples = new Map(
    names.map((name) => [name, { turn: [] as number[], away: [] as number[] }]),
  );
  try {
    for (const name of names) {
      const probe = new SocketProbe();
      probed.set(name, { subject: await openSubject(name, endpoint, probe), probe });
    }
    for (const { subject } of probed.values()) await subject.sequential(Math.min(seqN, 1000));
    for (let round = 0; round < rounds; round++) {
      for (const name of names.map((_, i) => names[(i + round) % names.length]!)) {
        const { subject, probe } = probed.get(name)!;
        probe.reset();
        await subject.sequential(seqN);
        samples.get(name)!.turn.push(median(probe.turnsUs));
        samples.get(name)!.away.push(median(probe.awaysUs));
      }
    }
  } finally {
    for (const { subject } of probed.values()) await subject.close();
  }
  return names.map((subject) => ({
    subject,
    turnUs: median(samples.get(subject)!.turn),
    awayUs: median(samples.get(subject)!.away),
  }));
}

/** A fresh socket path in a temporary directory, and its cleanup. */
export function tempEndpoint(name: string): { endpoint: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'overlayd-bench-'));
  return {
    endpoint: join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Start the server for a setup: the fast one in a child process or in this one, or the simulated overlayd. */
export function startServer(setup: Setup, endpoint: string): Promise<EchoServer> {
  if (setup === 'overlayd') return spawnOverlaydServer(endpoint);
  return setup === 'separate' ? spawnEchoServer(endpoint) : startEchoServer(endpoint);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const setup: Setup =
    process.argv[2] === 'same' || process.argv[2] === 'overlayd' ? process.argv[2] : 'separate';
  const which = process.argv[3] ?? 'all';
  const requests = Number(process.argv[4] ?? 3000);
  const subjects: SubjectName[] = which === 'all' ? [...SUBJECTS] : [which as SubjectName];
  const { endpoint, cleanup } = tempEndpoint('echo.sock');
  const server = await startServer(setup, endpoint);
  try {
    for (const f of await benchRoundTrips(endpoint, {
      subjects,
      sequentialRequests: requests,
      concurrentRequests: requests * 5,
    })) {
      console.log(
        `${setup} ${SUBJECT_LABELS[f.subject].padEnd(33)} median ${f.medianUs.toFixed(1)} µs  ` +
          `p99 ${f.p99Us.toFixed(1)} µs  ${(f.slowShare * 100).toFixed(1)} % > ${SLOW}× median  ` +
          `${f.sequentialRps.toFixed(0)} req/s  ` +
          `64 callers ${f.concurrentRps.toFixed(0)} req/s`,
      );
    }
    for (const t of await benchTurns(endpoint, { subjects, sequentialRequests: requests })) {
      console.log(
        `${setup} ${SUBJECT_LABELS[t.subject].padEnd(33)} turn ${t.turnUs.toFixed(1)} µs  ` +
          `away ${t.awayUs.toFixed(1)} µs`,
      );
    }
  } finally {
    await server.close();
    cleanup();
  }
}
