import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOverlayd } from '../../src/server/overlayd.js';
import { ensureOverlaydRunning, OverlaydStartError } from '../../src/supervisor/ensure-overlayd.js';
import { rejection } from '../support/rejection.js';
import { CLI } from '../support/run-node.js';

let dir: string;
let socket: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ensure-overlayd-'));
  socket = join(dir, 'overlayd.sock');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('ensureOverlaydRunning', () => {
  it('connects to an overlayd that is already running, spawning nothing', async () => {
    const running = await startOverlayd({ socket });
    try {
      const result = await ensureOverlaydRunning({
        socket,
        command: join(dir, 'must-not-be-run'),
      });
      expect(result.spawned).toBe(false);
      expect(result.pid).toBeUndefined();
      expect((await result.client.call({ op: 'status' })).result).toBe('status');
      await result.client.close();
    } finally {
      await running.close();
    }
  });

  it('spawns overlayd when nobody answers, and connects once it is up', async () => {
    const result = await ensureOverlaydRunning({
      socket,
      command: process.execPath,
      args: [CLI, 'serve', '--socket', socket],
    });
    expect(result.spawned).toBe(true);
    expect(result.pid).toEqual(expect.any(Number));
    expect(isAlive(result.pid!)).toBe(true);
    expect(await result.client.call({ op: 'status' })).toMatchObject({ peer_count: 0 });
    // Detached: it outlives the client; the shutdown op stops it.
    await result.client.call({ op: 'shutdown' });
    await result.client.close();
    const deadline = Date.now() + 5000;
    while (isAlive(result.pid!) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    expect(isAlive(result.pid!)).toBe(false);
  });

  it('names the socket, the command and the exit code when the command exits at once', async () => {
    const started = Date.now();
    const starting = ensureOverlaydRunning({
      socket,
      command: process.execPath,
      args: ['-e', 'process.exit(1)'],
    });
    const failure = await rejection(starting, OverlaydStartError);
    expect(failure.code).toBe('OVERLAYD_START');
    expect(failure.exit).toBe(1);
    expect(failure.message).toContain(socket);
    expect(failure.message).toContain(`${process.execPath} -e "process.exit(1)"`);
    expect(failure.message).toContain('exited with code 1');
    // It gave up when the child died, not after the whole backoff schedule.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('names the socket and the command when the binary is missing', async () => {
    const missing = join(dir, 'no-such-overlayd');
    const starting = ensureOverlaydRunning({ socket, command: missing, args: ['--flag'] });
    const { message } = await rejection(starting, OverlaydStartError);
    expect(message).toContain(socket);
    expect(message).toContain(`${missing} --flag`);
    expect(message).toContain('ENOENT');
  });

  it('names the socket and the command when the process runs but never listens', async () => {
    const starting = ensureOverlaydRunning({
      socket,
      command: process.execPath,
      args: ['-e', 'setTimeout(() => {}, 3000)'],
      attempts: 3,
    });
    const { message } = await rejection(starting, OverlaydStartError);
    expect(message).toContain(socket);
    expect(message).toContain('could not connect to overlayd after 3 attempts');
  });
});
