/**
 * Soak: many requests from concurrent callers through ONE OverlaydClient,
 * while the server (a child process, bench/soak-server.ts) is SIGKILLed and
 * restarted over and over. Checks that every request settles exactly once,
 * that the server never executed a request twice (and never one the client
 * called not-sent), that the heap, timers, handles and listeners come back to
 * where they started, and that no promise rejection went unhandled.
 *
 *   npm run soak                      # 100,000 requests
 *   node --expose-gc dist/bench/soak.js --requests 20000 --duration 60 --restart-ms 300
 *
 * Prints the figures as a table; exits 1 if any check fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DEFAULT_MAX_IN_FLIGHT } from '../machines/connection.machine.js';
import { OverlaydClient } from '../src/client/client.js';
import { OverlaydError } from '../src/errors.js';

export interface SoakOptions {
  /** Requests to make (default 100,000). */
  requests?: number;
  /** Callers issuing requests at once (default 32). */
  concurrency?: number;
  /** Stop issuing new requests after this long, in ms (default: no limit). */
  durationMs?: number;
  /** How long each server process lives once ready before it is SIGKILLed (default 300 ms). */
  restartEveryMs?: number;
  /** The compiled server script (default: soak-server.js beside this file). */
  serverScript?: string;
  /** The client's window of requests in flight (default: the client's, 16). */
  maxInFlight?: number;
  /**
   * Spread the requests over at least this many server restarts (default 0:
   * as fast as they go): the k-th of n+1 equal shares of the requests waits
   * for restart k. A fast client can otherwise finish before the server has
   * been killed more than once or twice.
   */
  spreadOverRestarts?: number;
}

export interface SoakCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SoakReport {
  requests: number;
  maxInFlight: number;
  resolved: number;
  failedSent: number;
  failedNotSent: number;
  /** Failures by error code. */
  failures: Record<string, number>;
  serverRestarts: number;
  connections: number;
  executed: number;
  elapsedMs: number;
  heapGrowthBytes: number;
  resourcesBefore: Record<string, number>;
  resourcesAfter: Record<string, number>;
  maxLiveSocketListeners: number;
  listenersLeftOnClosedSockets: number;
  processListenersBefore: number;
  processListenersAfter: number;
  unhandledRejections: number;
  checks: SoakCheck[];
  ok: boolean;
}

/** Outcome of each request, by index (0: not settled). */
const RESOLVED = 1;
const FAILED_SENT = 2;
const FAILED_NOT_SENT = 3;
const FAILED_OTHER = 4;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function collectGarbage(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function processListeners(): number {
  return process.eventNames().reduce((sum, name) => sum + process.listenerCount(name), 0);
}

/** Socket events whose listeners would keep running after the client let go of the socket. */
const WATCHED = ['data', 'end', 'error', 'close', 'readable'] as const;

/** Every listener on a socket, whatever the event. */
function socketListeners(socket: Socket): number {
  return socket.eventNames().reduce((sum, name) => sum + socket.listenerCount(name), 0);
}

/** Starts the server child, SIGKILLs it `restartEveryMs` after it is ready, and starts it again. */
class Supervisor {
  restarts = 0;
  /** Callers waiting for a number of restarts, woken as each one happens. */
  #waiting: Array<{ restarts: number; wake: () => void }> = [];
  #child: ChildProcess | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  #firstReady: Promise<void>;
  #onFirstReady!: () => void;
  #onNeverReady!: (error: Error) => void;
  /** Children in a row that ended before saying ready. */
  #failedStarts = 0;

  constructor(
    readonly script: string,
    readonly endpoint: string,
    readonly logPath: string,
    readonly restartEveryMs: number,
  ) {
    this.#firstReady = new Promise((resolve, reject) => {
      this.#onFirstReady = resolve;
      this.#onNeverReady = reject;
    });
    this.#start();
  }

  ready(): Promise<void> {
    return this.#firstReady;
  }

  /** Resolves once the server has been restarted `restarts` times (or is stopping). */
  restarted(restarts: number): Promise<void> {
    if (this.restarts >= restarts || this.#stopping) return Promise.resolve();
    return new Promise((wake) => this.#waiting.push({ restarts, wake }));
  }

  #wakeWaiting(): void {
    const still = [];
    for (const waiter of this.#waiting) {
      if (this.restarts >= waiter.restarts || this.#stopping) waiter.wake();
      else still.push(waiter);
    }
    this.#waiting = still;
  }

  #start(): void {
    const child = spawn(process.execPath, [this.script, this.endpoint, this.logPath], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#child = child;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      if (!text.includes('ready')) return;
      this.#failedStarts = -1;
      this.#onFirstReady();
      this.#timer = setTimeout(() => child.kill('SIGKILL'), this.restartEveryMs);
    });
    // 'close' comes after 'exit', once the child's stdio pipes are closed too.
    child.once('close', () => {
      clearTimeout(this.#timer);
      this.#child = undefined;
      if (this.#stopping) return;
      if (++this.#failedStarts >= 5) {
        this.#onNeverReady(
          new Error(`the soak server ${this.script} did not start 5 times in a row`),
        );
        return;
      }
      this.restarts++;
      this.#wakeWaiting();
      this.#start();
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeWaiting();
    clearTimeout(this.#timer);
    const child = this.#child;
    if (child === undefined) return;
    const closed = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGKILL');
    await closed;
  }
}

export async function runSoak(options: SoakOptions = {}): Promise<SoakReport> {
  const total = options.requests ?? 100_000;
  const concurrency = options.concurrency ?? 32;
  const restartEveryMs = options.restartEveryMs ?? 300;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const script =
    options.serverScript ?? fileURLToPath(new URL('./soak-server.js', import.meta.url));
  const gc = collectGarbage();

  let unhandledRejections = 0;
  const onUnhandled = () => {
    unhandledRejections++;
  };
  process.on('unhandledRejection', onUnhandled);
  const processListenersBefore = processListeners() - 1;

  const dir = await mkdtemp(join(tmpdir(), 'ovl-'));
  const endpoint = join(dir, 'overlayd.sock');
  const logPath = join(dir, 'executed.log');

  await sleep(0);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const resourcesBefore = resourceCounts();
  const started = performance.now();

  const supervisor = new Supervisor(script, endpoint, logPath, restartEveryMs);
  await supervisor.ready();

  // Sockets the client opened: live ones are sampled, closed ones checked for leftovers.
  const live = new Set<Socket>();
  let maxLiveSocketListeners = 0;
  let listenersLeftOnClosedSockets = 0;
  const client = await OverlaydClient.connectWithBackoff(endpoint, {
    backoff: { initialDelayMs: 5, maxDelayMs: 50 },
    reconnect: { attempts: 400 }, // 20 s of 50 ms sleeps
    requestTimeoutMs: 10_000,
    maxInFlight,
    connect: (path) => {
      const socket = createConnection(path);
      // Node's own listeners (e.g. on 'end') are there from the start: count only the client's.
      const own = new Map(WATCHED.map((name) => [name, socket.listenerCount(name)]));
      live.add(socket);
      socket.once('close', () => {
        live.delete(socket);
        setImmediate(() => {
          let left = 0;
          for (const name of WATCHED) left += socket.listenerCount(name) - (own.get(name) ?? 0);
          listenersLeftOnClosedSockets = Math.max(listenersLeftOnClosedSockets, left);
        });
      });
      return socket;
    },
  });

  const outcome = new Uint8Array(total);
  const settledCount = new Uint8Array(total);
  const failures: Record<string, number> = {};
  let next = 0;
  const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;

  const settle = (i: number, kind: number) => {
    settledCount[i] = (settledCount[i] ?? 0) + 1;
    outcome[i] = kind;
    if (i % 1000 === 0) {
      for (const socket of live) {
        maxLiveSocketListeners = Math.max(maxLiveSocketListeners, socketListeners(socket));
      }
    }
  };
  const spread = Math.max(0, Math.floor(options.spreadOverRestarts ?? 0));
  const caller = async () => {
    while (next < total && performance.now() < deadline) {
      const i = next++;
      if (spread > 0) await supervisor.restarted(Math.floor((i * (spread + 1)) / total));
      await client.call({ op: 'register_dns', name: `r${i}.soak`, ip: '10.0.0.1' }).then(
        () => settle(i, RESOLVED),
        (error: unknown) => {
          const code = error instanceof OverlaydError ? error.code : String(error);
          failures[code] = (failures[code] ?? 0) + 1;
          const delivery = error instanceof OverlaydError ? error.delivery : undefined;
          settle(
            i,
            delivery === 'sent'
              ? FAILED_SENT
              : delivery === 'not-sent'
                ? FAILED_NOT_SENT
                : FAILED_OTHER,
          );
        },
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  const issued = next;
  const elapsedMs = performance.now() - started;
  const connections = client.stats.connections;

  await supervisor.stop();
  await client.close();
  await sleep(50); // anything that would settle twice, or leak a rejection, does it now
  gc();
  const heapGrowthBytes = process.memoryUsage().heapUsed - heapBefore;
  const resourcesAfter = resourceCounts();

  // What the servers executed, across every restart.
  const idCounts = new Map<string, number>();
  const nameCounts = new Map<string, number>();
  let executed = 0;
  for (const line of (await readFile(logPath, 'utf8')).split('\n')) {
    const match = /^(\d+) (\S+)$/.exec(line);
    if (match === null) continue;
    executed++;
    idCounts.set(match[1]!, (idCounts.get(match[1]!) ?? 0) + 1);
    nameCounts.set(match[2]!, (nameCounts.get(match[2]!) ?? 0) + 1);
  }
  await rm(dir, { recursive: true, force: true });
  process.off('unhandledRejection', onUnhandled);
  const processListenersAfter = processListeners();

  let resolved = 0;
  let failedSent = 0;
  let failedNotSent = 0;
  let notOnce = 0;
  let resolvedNotExecuted = 0;
  let notSentExecuted = 0;
  for (let i = 0; i < issued; i++) {
    if (settledCount[i] !== 1) notOnce++;
    const ran = nameCounts.get(`r${i}.soak`) ?? 0;
    if (outcome[i] === RESOLVED) {
      resolved++;
      if (ran !== 1) resolvedNotExecuted++;
    } else if (outcome[i] === FAILED_SENT) {
      failedSent++;
    } else if (outcome[i] === FAILED_NOT_SENT) {
      failedNotSent++;
      if (ran !== 0) notSentExecuted++;
    }
  }
  const twice = (counts: Map<string, number>) => [...counts.values()].filter((n) => n > 1).length;
  const leakedKinds = Object.entries(resourcesAfter)
    .filter(([kind, n]) => n > (resourcesBefore[kind] ?? 0))
    .map(([kind, n]) => `${kind} ${resourcesBefore[kind] ?? 0} → ${n}`);

  const checks: SoakCheck[] = [
    {
      name: 'every request settled exactly once',
      ok: notOnce === 0 && issued > 0,
      detail: `${issued - notOnce} of ${issued}`,
    },
    {
      name: 'no request id executed twice',
      ok: twice(idCounts) === 0,
      detail: `${twice(idCounts)} ids`,
    },
    {
      name: 'no request executed twice',
      ok: twice(nameCounts) === 0,
      detail: `${twice(nameCounts)} requests`,
    },
    {
      name: 'every resolved request was executed once',
      ok: resolvedNotExecuted === 0,
      detail: `${resolvedNotExecuted} missing`,
    },
    {
      name: 'no not-sent request was executed',
      ok: notSentExecuted === 0,
      detail: `${notSentExecuted} executed`,
    },
    {
      // A drop fails what was written and unanswered: at most the window.
      name: 'at most a window of requests lost per connection',
      ok: failedSent <= connections * maxInFlight,
      detail: `${failedSent} sent-failures, ${connections} connections, window ${maxInFlight}`,
    },
    {
      name: 'the server was killed and restarted',
      ok: supervisor.restarts > 0,
      detail: `${supervisor.restarts} restarts`,
    },
    {
      name: 'heap growth after GC < 10 MB',
      ok: heapGrowthBytes < 10 * 1024 * 1024,
      detail: `${(heapGrowthBytes / 1024 / 1024).toFixed(2)} MB`,
    },
    {
      name: 'no timer or handle left behind',
      ok: leakedKinds.length === 0,
      detail: leakedKinds.join(', ') || 'none',
    },
    {
      name: 'no listener left on closed sockets',
      ok: listenersLeftOnClosedSockets === 0,
      detail: `${listenersLeftOnClosedSockets} at most`,
    },
    {
      name: 'live socket listeners bounded',
      ok: maxLiveSocketListeners <= 8,
      detail: `${maxLiveSocketListeners} at most`,
    },
    {
      name: 'no process listener left behind',
      ok: processListenersAfter <= processListenersBefore,
      detail: `${processListenersBefore} → ${processListenersAfter}`,
    },
    {
      name: 'no unhandled rejection',
      ok: unhandledRejections === 0,
      detail: String(unhandledRejections),
    },
  ];
  return {
    maxInFlight,
    requests: issued,
    resolved,
    failedSent,
    failedNotSent,
    failures,
    serverRestarts: supervisor.restarts,
    connections,
    executed,
    elapsedMs,
    heapGrowthBytes,
    resourcesBefore,
    resourcesAfter,
    maxLiveSocketListeners,
    listenersLeftOnClosedSockets,
    processListenersBefore,
    processListenersAfter,
    unhandledRejections,
    checks,
    ok: checks.every((check) => check.ok),
  };
}

/** The report as a small table. */
export function formatReport(report: SoakReport): string {
  const rows: Array<[string, string]> = [
    ['requests', report.requests.toLocaleString('en-US')],
    ['window (maxInFlight)', String(report.maxInFlight)],
    ['resolved', report.resolved.toLocaleString('en-US')],
    ['failed, sent (outcome unknown)', String(report.failedSent)],
    ['failed, not sent', String(report.failedNotSent)],
    ['failures by code', JSON.stringify(report.failures)],
    ['server restarts (SIGKILL)', String(report.serverRestarts)],
    ['client connections', String(report.connections)],
    ['requests executed by servers', report.executed.toLocaleString('en-US')],
    ['elapsed', `${(report.elapsedMs / 1000).toFixed(1)} s`],
    ['throughput', `${Math.round(report.requests / (report.elapsedMs / 1000))} req/s`],
    ['resources before', JSON.stringify(report.resourcesBefore)],
    ['resources after', JSON.stringify(report.resourcesAfter)],
  ];
  for (const check of report.checks) {
    rows.push([`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}`, check.detail]);
  }
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}

function parseArgs(argv: string[]): SoakOptions {
  const options: SoakOptions = {};
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`bad value for ${argv[i]}`);
    if (argv[i] === '--requests') options.requests = value;
    else if (argv[i] === '--duration') options.durationMs = value * 1000;
    else if (argv[i] === '--restart-ms') options.restartEveryMs = value;
    else if (argv[i] === '--concurrency') options.concurrency = value;
    else if (argv[i] === '--max-in-flight') options.maxInFlight = value;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await runSoak(parseArgs(process.argv.slice(2)));
  process.stdout.write(`${formatReport(report)}\n`);
  process.exitCode = report.ok ? 0 : 1;
}
