/** `overlayctl serve`: the reference server with the simulated engine, in the foreground. */
import { startOverlayd } from '../../server/overlayd.js';
import { RefusalPlan } from '../../server/refusal-plan.js';
import { RequestLog } from '../../server/request-log.js';
import type { GlobalOptions, Io } from '../connect.js';
import { waitForSignal } from '../signals.js';

export interface ServeFlags {
  /** Append every request to this file (`<connection> <frame JSON>` lines). */
  requestLog?: string;
  /** `op:count`: answer the next `count` requests of `op` with `err` (tests). */
  refuse?: string[];
}

export async function serveCommand(
  global: GlobalOptions,
  io: Io,
  flags: ServeFlags = {},
): Promise<void> {
  const log = (message: string) => io.stderr.write(`${new Date().toISOString()} ${message}\n`);
  const plan = flags.refuse === undefined ? undefined : RefusalPlan.parse(flags.refuse);
  const requestLog = flags.requestLog === undefined ? undefined : new RequestLog(flags.requestLog);
  const running = await startOverlayd({
    socket: global.socket,
    log,
    onRequest: (entry) => {
      requestLog?.write(entry);
      log(`overlayd: connection ${entry.connection} request ${entry.id} ${entry.op}`);
    },
    ...(plan && { refuse: (request) => plan.refusal(request) }),
  });
  log(`overlayd: simulated engine listening on ${running.endpoint} (pid ${process.pid})`);
  const signal = waitForSignal();
  const why = await Promise.race([
    running.closed.then(() => 'shutdown request'),
    signal.promise.then((name) => name),
  ]);
  signal.cancel();
  await running.close();
  requestLog?.close();
  log(`overlayd: stopped (${why})`);
}
