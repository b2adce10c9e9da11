import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runNode } from '../support/run-node.js';

describe('the demo (npm start)', () => {
  it('drives overlayd, shows backoff and reconnection, and exits 0', async () => {
    const run = await runNode(join(ROOT, 'dist/src/demo/main.js'), [], 30_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toContain('(npm start -- --ui shows the statechart live in a browser)');
    // The first connect races overlayd's start-up; after the SIGKILL it must back off.
    expect(out).toMatch(/connected\n/);
    expect(out).toMatch(/← setupGlobalOverlay: bridge zl-br-/);
    expect(out).toMatch(/event +peer_health_changed/);
    expect(out).toMatch(/← attachContainer pid 103: attached 10\.200\.0\.4/);
    expect(out).toMatch(/← attachContainerGuest: guest config: 10\.200\.0\.\d+\/28/);
    expect(out).toMatch(/PUBLIC KEY +ENDPOINT +ALLOWED IPS +LAST HANDSHAKE/);
    const afterKill = out.slice(out.indexOf('SIGKILL overlayd ('));
    expect(afterKill).toMatch(
      /backoff +next attempt 1\/20 in 100 ms {2}\(connection closed by peer\)/,
    );
    expect(afterKill).toMatch(
      /backoff +next attempt 2\/20 in 100 ms {2}\(io error: connect ECONNREFUSED\)\n/,
    );
    expect(afterKill).toMatch(/restarting overlayd \(pid \d+\)/);
    expect(afterKill).toMatch(/event +reconnected/);
    // After the SIGKILL and restart, the manager brings the new overlayd back.
    expect(afterKill).toMatch(/resynced overlayd restarted, 11 re-applied/);
    expect(afterKill).toMatch(/← status: zl-overlay0, 2 peers, 1 services/);
    expect(afterKill).toMatch(/the new overlayd is back to the declared state/);
    expect(out).toMatch(/overlayd exited \(code 0\)/);
    expect(out).toMatch(/done: \d+ requests sent, \d+ answered, 4 events, 2 connections\n$/);
  });
});
