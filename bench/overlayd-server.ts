/**
 * The simulated overlayd (the project's reference server and engine) as a
 * benchmark server in its own process: every request decoded, validated,
 * run by the engine and its answer encoded, as `overlayctl serve` does.
 *
 *   node dist/bench/overlayd-server.js /tmp/x.sock   # prints "ready"
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startOverlayd } from '../src/server/overlayd.js';
import { type EchoServer, serveUntilStdinEnds, spawnServerScript } from './echo-server.js';

/** Run the simulated overlayd as a child process on `endpoint`; resolves once it listens. */
export function spawnOverlaydServer(endpoint: string): Promise<EchoServer> {
  return spawnServerScript(fileURLToPath(import.meta.url), endpoint);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const endpoint = process.argv[2];
  if (endpoint === undefined) throw new Error('usage: overlayd-server.js <socket path>');
  const running = await startOverlayd({ socket: endpoint });
  serveUntilStdinEnds({ endpoint, close: () => running.close() });
}
