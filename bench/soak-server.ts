/**
 * The soak's overlayd: the reference accept loop (`serve`), answering every
 * request with `ok`. Before answering, it appends `<id> <name>` for each
 * request it executes to the log file with a synchronous write, so the lines
 * survive a SIGKILL and the soak can prove no request ran twice. Prints
 * `ready` once it listens.
 *
 *   node dist/bench/soak-server.js <endpoint> <log-file>
 */
import { openSync, writeSync } from 'node:fs';
import { serve } from '../src/server/serve.js';

const [endpoint, logPath] = process.argv.slice(2);
if (endpoint === undefined || logPath === undefined) {
  process.stderr.write('usage: soak-server <endpoint> <log-file>\n');
  process.exit(2);
}
const log = openSync(logPath, 'a');

await serve(
  endpoint,
  async (conn) => {
    for await (const frame of conn) {
      if (frame.frame !== 'request') continue;
      const request = frame.request;
      const name = request.op === 'register_dns' ? request.name : '-';
      writeSync(log, `${String(frame.id)} ${name}\n`);
      conn.send({ frame: 'response', id: frame.id, response: { result: 'ok' } });
    }
  },
  { group: null },
);
process.stdout.write('ready\n');
