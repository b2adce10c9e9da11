/**
 * The simulated overlayd as a child process for the manager's tests: each
 * start is a new "life" with its own request log (the server's own record of
 * what it received, written synchronously so it survives a SIGKILL).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OverlaydClient } from '../../src/client/client.js';
import { OverlaydProcess } from '../../src/demo/overlayd-process.js';
import type { OverlaydRequest } from '../../src/protocol/index.js';
import { type LoggedRequest, readRequestLog } from '../../src/server/request-log.js';

export interface OverlaydChild {
  socket: string;
  process: OverlaydProcess;
  /** Start a new life of overlayd (extra `serve` flags, e.g. `--refuse op:2`); returns its number. */
  start(serveArgs?: readonly string[]): number;
  kill(): Promise<void>;
  /** SIGSTOP the running life: it reads and answers nothing until killed. */
  freeze(): void;
  /** What life `life` (default: the current one) received, in order. */
  requests(life?: number): LoggedRequest[];
  /** Resolves once life `life`'s log satisfies `predicate` (polling), or rejects after `ms`. */
  until(predicate: (requests: OverlaydRequest[]) => boolean, ms?: number): Promise<void>;
  cleanup(): Promise<void>;
}

export async function overlaydChild(): Promise<OverlaydChild> {
  const dir = await mkdtemp(join(tmpdir(), 'overlayd-manager-'));
  const socket = join(dir, 'overlayd.sock');
  const process = new OverlaydProcess(socket);
  const logs: string[] = [];
  const requests = (life = logs.length): LoggedRequest[] => {
    const path = logs[life - 1];
    return path !== undefined && existsSync(path) ? readRequestLog(path) : [];
  };
  return {
    socket,
    process,
    start(serveArgs = []) {
      const log = join(dir, `life-${logs.length + 1}.log`);
      logs.push(log);
      process.start(['--request-log', log, ...serveArgs]);
      return logs.length;
    },
    async kill() {
      await process.kill('SIGKILL');
    },
    freeze() {
      if (process.pid === undefined || !process.running) throw new Error('overlayd is not running');
      globalThis.process.kill(process.pid, 'SIGSTOP');
    },
    requests,
    async until(predicate, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!predicate(requests().map((entry) => entry.frame.request))) {
        if (Date.now() > deadline) {
          throw new Error(
            `overlayd's log never matched; it holds:\n${JSON.stringify(requests(), (_key, value) =>
              typeof value === 'bigint' ? String(value) : value,
            )}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async cleanup() {
      await process.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once overlayd at `socket` accepts connections (a life has booted). */
export async function untilListening(socket: string): Promise<void> {
  const probe = await OverlaydClient.connectWithAttempts(socket, 200, {
    backoff: { initialDelayMs: 10, maxDelayMs: 25 },
  });
  await probe.close();
}
