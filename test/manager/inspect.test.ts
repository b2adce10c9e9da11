/**
 * `--inspect` with the manager: the Stately inspector (through our relay, over
 * real sockets) is told of the manager's actor beside the connection's, and
 * follows the manager's chart through a restart of overlayd (in process).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startStatelyInspector } from '../../src/cli/inspect.js';
import { OverlayManager } from '../../src/manager/manager.js';
import { startOverlayd } from '../../src/server/overlayd.js';

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the manager in the Stately inspector', () => {
  it('registers the manager actor beside the connection and streams its states', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inspect-manager-'));
    const socket = join(dir, 'o.sock');
    let overlayd = await startOverlayd({ socket, serve: { group: null } });
    const inspection = await startStatelyInspector(0);
    const url = new URL(inspection.url);
    const ws = new WebSocket(`ws://${url.host}/ws${url.search}`, { origin: url.origin });
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise((resolve) => ws.once('open', resolve));
    const manager = await OverlayManager.connect(socket, { inspect: inspection.inspect });
    try {
      await manager.registerDns({ name: 'a.local', ip: '10.0.0.1' });
      await overlayd.close();
      overlayd = await startOverlayd({ socket, serve: { group: null } });
      await manager.status();
      const machineOf = (m: Record<string, unknown>) =>
        typeof m.definition === 'string'
          ? (JSON.parse(m.definition) as { id?: string }).id
          : undefined;
      const sessionOf = (machine: string) =>
        messages.find((m) => m.type === '@xstate.actor' && machineOf(m) === machine)?.sessionId;
      const managerStates = () =>
        messages
          .filter(
            (m) => m.type === '@xstate.snapshot' && m.sessionId === sessionOf('overlayManager'),
          )
          .map((m) => (m.snapshot as { value?: unknown }).value)
          .filter((value, i, all) => value !== all[i - 1]);
      await until(
        () => managerStates().includes('reconciling') && managerStates().at(-1) === 'synced',
        'the resync',
      );
      expect(sessionOf('overlaydConnection')).toBeDefined();
      expect(sessionOf('overlayManager')).not.toBe(sessionOf('overlaydConnection'));
      expect(managerStates()).toEqual([
        'idle',
        'connecting',
        'synced',
        'reconnecting',
        'reconciling',
        'synced',
      ]);
    } finally {
      ws.terminate();
      await manager.close();
      await inspection.stop();
      await overlayd.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
