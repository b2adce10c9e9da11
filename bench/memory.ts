/**
 * Memory: JS heap per idle connected client (N clients, GC, measure), and
 * per 1,000 requests waiting behind a server that never answers. Each figure
 * sits beside the same measure for the raw socket and the minimal client.
 * Needs `--expose-gc`; `run.ts` runs this file in a child process, so the
 * heap is not shared with the other benchmarks:
 *
 *   node --expose-gc dist/bench/memory.js [--json]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OverlaydClient } from '../src/client/client.js';
import { STATUS_REQUEST, spawnEchoServer } from './echo-server.js';
import { MinimalClient } from './minimal-client.js';
import { RawPingPong } from './raw-client.js';
import { tempEndpoint } from './roundtrip.js';
import { median, nextTurn } from './stats.js';

export interface MemoryFigures {
  clients: number;
  /** Heap bytes per idle connected client, median over rounds. */
  idle: { raw: number; minimal: number; overlayd: number };
  queued: number;
  /** Heap bytes per `queued` unanswered requests. */
  perQueued: { minimal: number; overlayd: number };
}

function collect(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await nextTurn();
}

type Closer = () => unknown;

/** Heap growth per client while `n` clients made by `open` are connected. */
async function idleBytes(n: number, open: () => Promise<Closer>): Promise<number> {
  await settle();
  const before = collect();
  const closers: Closer[] = [];
  for (let i = 0; i < n; i++) closers.push(await open());
  await settle();
  const after = collect();
  for (const close of closers) await close();
  await settle();
  return (after - before) / n;
}

/** Heap growth while `n` requests wait on one client. */
async function queuedBytes(
  n: number,
  open: () => Promise<{ call(): Promise<unknown>; close: Closer }>,
): Promise<number> {
  const client = await open();
  await settle();
  const before = collect();
  const waiting: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) waiting.push(client.call().catch(() => undefined));
  await settle();
  const after = collect();
  await client.close();
  await Promise.all(waiting);
  await settle();
  return after - before;
}

export async function benchMemory(
  clients = 200,
  queued = 1000,
  rounds = 7,
): Promise<MemoryFigures> {
  const echo = tempEndpoint('echo.sock');
  const silent = tempEndpoint('silent.sock');
  const echoServer = await spawnEchoServer(echo.endpoint);
  const silentServer = await spawnEchoServer(silent.endpoint, 'silent');
  const idle = { raw: [] as number[], minimal: [] as number[], overlayd: [] as number[] };
  const perQueued = { minimal: [] as number[], overlayd: [] as number[] };
  try {
    for (let round = 0; round <= rounds; round++) {
      const raw = await idleBytes(clients, async () => {
        const c = await RawPingPong.connect(echo.endpoint);
        return () => c.close();
      });
      const minimal = await idleBytes(clients, async () => {
        const c = await MinimalClient.connect(echo.endpoint);
        return () => c.close();
      });
      const overlayd = await idleBytes(clients, async () => {
        const c = await OverlaydClient.connect(echo.endpoint);
        return () => c.close();
      });
      const minimalQueued = await queuedBytes(queued, async () => {
        const c = await MinimalClient.connect(silent.endpoint);
        return { call: () => c.call(STATUS_REQUEST), close: () => c.close() };
      });
      const overlaydQueued = await queuedBytes(queued, async () => {
        const c = await OverlaydClient.connect(silent.endpoint, { queueLimit: queued * 2 });
        return { call: () => c.call(STATUS_REQUEST), close: () => c.close() };
      });
      if (round === 0) continue; // warm-up: first-use allocations (code, caches)
      idle.raw.push(raw);
      idle.minimal.push(minimal);
      idle.overlayd.push(overlayd);
      perQueued.minimal.push(minimalQueued);
      perQueued.overlayd.push(overlaydQueued);
    }
  } finally {
    await echoServer.close();
    await silentServer.close();
    echo.cleanup();
    silent.cleanup();
  }
  return {
    clients,
    idle: { raw: median(idle.raw), minimal: median(idle.minimal), overlayd: median(idle.overlayd) },
    queued,
    perQueued: { minimal: median(perQueued.minimal), overlayd: median(perQueued.overlayd) },
  };
}

/** Run this file in a child process with `--expose-gc` and return its figures. */
export function benchMemoryInChild(): Promise<MemoryFigures> {
  const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`memory benchmark exited with ${code}`));
      else resolve(JSON.parse(out) as MemoryFigures);
    });
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await benchMemory();
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify(figures));
  } else {
    const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
    console.log(
      `idle, per client (${figures.clients}): raw ${kib(figures.idle.raw)}, ` +
        `minimal ${kib(figures.idle.minimal)}, OverlaydClient ${kib(figures.idle.overlayd)}`,
    );
    console.log(
      `${figures.queued} unanswered requests: minimal ${kib(figures.perQueued.minimal)}, ` +
        `OverlaydClient ${kib(figures.perQueued.overlayd)}`,
    );
  }
}
