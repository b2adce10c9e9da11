/** `overlayctl serve`: the reference server with the simulated engine, in the foreground. */
import { startOverlayd } from '../../server/overlayd.js';
import type { GlobalOptions, Io } from '../connect.js';
import { waitForSignal } from '../signals.js';

export async function serveCommand(global: GlobalOptions, io: Io): Promise<void> {
  const log = (message: string) => io.stderr.write(`${new Date().toISOString()} ${message}\n`);
  const running = await startOverlayd({
    socket: global.socket,
    log,
    onRequest: (entry) =>
      log(`overlayd: connection ${entry.connection} request ${entry.id} ${entry.op}`),
  });
  log(`overlayd: simulated engine listening on ${running.endpoint} (pid ${process.pid})`);
  const signal = waitForSignal();
  const why = await Promise.race([
    running.closed.then(() => 'shutdown request'),
    signal.promise.then((name) => name),
  ]);
  signal.cancel();
  await running.close();
  log(`overlayd: stopped (${why})`);
}
