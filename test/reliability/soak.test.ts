/**
 * A shortened soak (bench/soak.ts): 5,000 requests from 32 callers through
 * one client while the server child is SIGKILLed 200 ms after each start.
 * `npm run soak` runs the full 100,000.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSoak, type SoakReport } from '../../bench/soak.js';
import { ROOT } from '../support/run-node.js';

/** With the default window (16), and one at a time as the Rust client. */
describe.each([16, 1])(
  'soak with a window of %i: one client, a server SIGKILLed every 200 ms',
  (maxInFlight) => {
    let report: SoakReport;

    beforeAll(async () => {
      report = await runSoak({
        requests: 5_000,
        concurrency: 32,
        restartEveryMs: 200,
        maxInFlight,
        // At least 3 restarts however fast the client goes (a window of 16 can
        // otherwise finish within a server's second life on a quiet machine).
        spreadOverRestarts: 3,
        // The server runs as a child process: the build the test setup made.
        serverScript: join(ROOT, 'dist', 'bench', 'soak-server.js'),
      });
    }, 60_000);

    it('ran with that window', () => {
      expect(report.maxInFlight).toBe(maxInFlight);
    });

    it('makes every request and restarts the server several times', () => {
      expect(report.requests).toBe(5_000);
      expect(report.serverRestarts).toBeGreaterThanOrEqual(3);
      expect(report.resolved).toBeGreaterThan(report.requests / 2);
    });

    it('passes every check', () => {
      expect(report.checks.filter((check) => !check.ok)).toEqual([]);
    });

    it.each([
      'every request settled exactly once',
      'no request id executed twice',
      'no request executed twice',
      'every resolved request was executed once',
      'no not-sent request was executed',
      'at most a window of requests lost per connection',
      'heap growth after GC < 10 MB',
      'no timer or handle left behind',
      'no listener left on closed sockets',
      'live socket listeners bounded',
      'no process listener left behind',
      'no unhandled rejection',
    ])('%s', (name) => {
      const check = report.checks.find((c) => c.name === name);
      expect(check, name).toBeDefined();
      expect(check?.ok, `${name}: ${check?.detail}`).toBe(true);
    });
  },
);
