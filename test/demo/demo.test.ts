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
    expect(out).toMatch(/← setup_global_overlay: bridge zl-br-/);
    expect(out).toMatch(/event +peer_health_changed/);
    expect(out).toMatch(/allocate_ip #\d+ \+2/);
    expect(out).toMatch(/← attach_container: guest config: 10\.200\.0\.\d+\/28/);
    expect(out).toMatch(/PUBLIC KEY +ENDPOINT +ALLOWED IPS +LAST HANDSHAKE/);
    const afterKill = out.slice(out.indexOf('SIGKILL overlayd ('));
    expect(afterKill).toMatch(
      /backoff +next attempt 1\/20 in 100 ms {2}\(connection closed by peer\)/,
    );
    expect(afterKill).toMatch(
      /backoff +next attempt 2\/20 in 100 ms {2}\(io error: connect ECONNREFUSED\) {2}1 queued/,
    );
    expect(afterKill).toMatch(/restarting overlayd \(pid \d+\)/);
    expect(afterKill).toMatch(/event +reconnected/);
    expect(afterKill).toMatch(/← status: no interface, 0 peers/);
    expect(out).toMatch(/overlayd exited \(code 0\)/);
    expect(out).toMatch(/done: \d+ requests sent, \d+ answered, 2 events, 2 connections\n$/);
  });
});
