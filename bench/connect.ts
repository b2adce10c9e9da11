/**
 * Connecting to a dead socket (a socket file nobody listens on: ECONNREFUSED
 * at once): OverlaydClient.connectWithAttempts against the ideal sum of its
 * sleeps, and against a hand-written loop of `net.createConnection` attempts
 * with `setTimeout` sleeps (the floor), interleaved.
 *
 *   node dist/bench/connect.js
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { pathToFileURL } from 'node:url';
import { backoffSchedule } from '../machines/backoff.js';
import { OverlaydClient } from '../src/client/client.js';
import { ConnectError } from '../src/errors.js';
import { tempEndpoint } from './roundtrip.js';
import { median } from './stats.js';

export interface ConnectFigure {
  attempts: number;
  /** The sum of the scheduled sleeps, in ms. */
  idealMs: number;
  /** OverlaydClient until its ConnectError, median ms. */
  clientMs: number;
  /** The hand-written loop, median ms. */
  rawMs: number;
}

/** A socket file whose listener was killed: connecting to it is refused. */
export async function makeDeadSocket(endpoint: string): Promise<void> {
  const script =
    "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))";
  const child = spawn(process.execPath, ['-e', script, endpoint], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  if (!existsSync(endpoint)) throw new Error(`no stale socket left at ${endpoint}`);
}

/** One `net` attempt: resolves when it fails (rejects if it connects). */
function rawAttempt(endpoint: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(endpoint);
    socket.once('error', () => {
      socket.destroy();
      resolve();
    });
    socket.once('connect', () => {
      socket.destroy();
      reject(new Error('the dead socket accepted a connection'));
    });
  });
}

/** The floor: attempts with the same sleeps between them, none after the last. */
async function rawAttempts(endpoint: string, sleeps: readonly number[]): Promise<number> {
  const start = performance.now();
  await rawAttempt(endpoint);
  for (const ms of sleeps) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    await rawAttempt(endpoint);
  }
  return performance.now() - start;
}

async function clientAttempts(endpoint: string, attempts: number): Promise<number> {
  const start = performance.now();
  try {
    await OverlaydClient.connectWithAttempts(endpoint, attempts);
  } catch (error) {
    const elapsed = performance.now() - start;
    if (!(error instanceof ConnectError)) throw error;
    return elapsed;
  }
  throw new Error('connected to the dead socket');
}

async function figure(endpoint: string, attempts: number, rounds: number): Promise<ConnectFigure> {
  const sleeps = backoffSchedule(attempts);
  const client: number[] = [];
  const raw: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first.
    if (round % 2 === 0) {
      client.push(await clientAttempts(endpoint, attempts));
      raw.push(await rawAttempts(endpoint, sleeps));
    } else {
      raw.push(await rawAttempts(endpoint, sleeps));
      client.push(await clientAttempts(endpoint, attempts));
    }
  }
  return {
    attempts,
    idealMs: sleeps.reduce((a, b) => a + b, 0),
    clientMs: median(client),
    rawMs: median(raw),
  };
}

/** 6 attempts (2,500 ms of sleeps) and 1 attempt, against one dead socket. */
export async function benchConnect(longRounds = 3, shortRounds = 21): Promise<ConnectFigure[]> {
  const { endpoint, cleanup } = tempEndpoint('dead.sock');
  try {
    await makeDeadSocket(endpoint);
    // Warm up both paths (module code, libuv) before timing.
    await figure(endpoint, 1, 3);
    return [await figure(endpoint, 6, longRounds), await figure(endpoint, 1, shortRounds)];
  } finally {
    cleanup();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of await benchConnect()) {
    console.log(
      `${f.attempts} attempt(s): ideal ${f.idealMs} ms, OverlaydClient ${f.clientMs.toFixed(2)} ms ` +
        `(+${(f.clientMs - f.idealMs).toFixed(2)} ms), raw loop ${f.rawMs.toFixed(2)} ms`,
    );
  }
}
