/**
 * The simulated overlayd's hooks for recovery tests: injected refusals
 * (`serve --refuse op:count`, `RefusalPlan`) and the request log
 * (`serve --request-log`, `RequestLog`), in process over a real socket.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/connect.js';
import { runCli } from '../../src/cli/program.js';
import { OverlaydClient } from '../../src/client/client.js';
import { startOverlayd } from '../../src/server/overlayd.js';
import { RefusalPlan } from '../../src/server/refusal-plan.js';
import { RequestLog, readRequestLog } from '../../src/server/request-log.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overlayd-hooks-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function quietIo(): Io & { err: () => string } {
  let stderr = '';
  return {
    stdout: { write: () => true },
    stderr: {
      write: (chunk: string) => {
        stderr += chunk;
        return true;
      },
    },
    env: {},
    err: () => stderr,
  };
}

describe('RefusalPlan', () => {
  it('refuses the next n requests of an op, then lets it through; specs add up', () => {
    const plan = RefusalPlan.parse(['nat_tick:1', 'status:1', 'nat_tick:1']);
    expect(plan.refusal({ op: 'nat_tick' })).toBe(
      'refused by the test plan (nat_tick, 1 more to refuse)',
    );
    expect(plan.refusal({ op: 'status' })).toBe(
      'refused by the test plan (status, 0 more to refuse)',
    );
    expect(plan.refusal({ op: 'nat_tick' })).toBe(
      'refused by the test plan (nat_tick, 0 more to refuse)',
    );
    expect(plan.refusal({ op: 'nat_tick' })).toBeUndefined();
    expect(plan.refusal({ op: 'status' })).toBeUndefined();
  });

  it('names the spec that is wrong', () => {
    expect(() => RefusalPlan.parse(['status'])).toThrow(
      'invalid refusal "status": expected <op>:<count>',
    );
    expect(() => RefusalPlan.parse(['status:0'])).toThrow('expected <op>:<count>');
    expect(() => RefusalPlan.parse(['reboot:1'])).toThrow(
      'invalid refusal "reboot:1": unknown op reboot',
    );
  });
});

describe('refusals and the request log in the server', () => {
  it('answers refused requests err without touching the engine, and logs every request', async () => {
    const logPath = join(dir, 'requests.log');
    const log = new RequestLog(logPath);
    const plan = RefusalPlan.parse(['register_dns:1']);
    const overlayd = await startOverlayd({
      socket: join(dir, 'o.sock'),
      refuse: (request) => plan.refusal(request),
      onRequest: (entry) => log.write(entry),
      serve: { group: null },
    });
    const client = await OverlaydClient.connect(overlayd.endpoint, { firstId: 2n ** 60n });
    try {
      expect(await client.request({ op: 'register_dns', name: 'a', ip: '10.0.0.1' })).toEqual({
        result: 'err',
        message: 'refused by the test plan (register_dns, 0 more to refuse)',
      });
      // The refused one changed nothing: there is no record to unregister.
      expect(await client.request({ op: 'unregister_dns', name: 'a' })).toMatchObject({
        result: 'err',
      });
      await client.call({ op: 'register_dns', name: 'a', ip: '10.0.0.1' });
      expect(overlayd.engine.dnsRecords.get('a')).toBe('10.0.0.1');
    } finally {
      await client.close();
      await overlayd.close();
      log.close();
    }
    expect(readRequestLog(logPath)).toEqual([
      {
        connection: 1,
        frame: {
          frame: 'request',
          id: 2n ** 60n,
          request: { op: 'register_dns', name: 'a', ip: '10.0.0.1' },
        },
      },
      {
        connection: 1,
        frame: {
          frame: 'request',
          id: 2n ** 60n + 1n,
          request: { op: 'unregister_dns', name: 'a' },
        },
      },
      {
        connection: 1,
        frame: {
          frame: 'request',
          id: 2n ** 60n + 2n,
          request: { op: 'register_dns', name: 'a', ip: '10.0.0.1' },
        },
      },
    ]);
  });

  it('refuses a log line that is not a request', async () => {
    const logPath = join(dir, 'bad.log');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(logPath, '1 {"frame":"response","id":1,"response":{"result":"ok"}}\n');
    expect(() => readRequestLog(logPath)).toThrow('not a request in the log');
  });
});

describe('overlayctl serve --refuse / --request-log', () => {
  it('exits 2 naming a bad --refuse', async () => {
    const io = quietIo();
    const code = await runCli(['--socket', join(dir, 'o.sock'), 'serve', '--refuse', 'x:1'], io);
    expect(code).toBe(2);
    expect(io.err()).toContain("option '--refuse <op:count>' argument 'x:1' is invalid");
    expect(io.err()).toContain('unknown op x');
  });

  it('serves with both flags until shutdown', async () => {
    const socket = join(dir, 'o.sock');
    const logPath = join(dir, 'serve.log');
    const io = quietIo();
    const serving = runCli(
      ['--socket', socket, 'serve', '--request-log', logPath, '--refuse', 'nat_tick:2'],
      io,
    );
    const client = await OverlaydClient.connectWithBackoff(socket);
    try {
      expect((await client.request({ op: 'nat_tick' })).result).toBe('err');
      expect((await client.request({ op: 'nat_tick' })).result).toBe('err');
      expect((await client.request({ op: 'nat_tick' })).result).toBe('ok');
      await client.call({ op: 'shutdown' });
    } finally {
      await client.close();
    }
    expect(await serving).toBe(0);
    expect(existsSync(logPath)).toBe(true);
    expect(readRequestLog(logPath).map((entry) => entry.frame.request.op)).toEqual([
      'nat_tick',
      'nat_tick',
      'nat_tick',
      'shutdown',
    ]);
  });
});
