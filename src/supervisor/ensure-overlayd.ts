/**
 * Make sure overlayd is running: connect if it answers, otherwise start it
 * (detached, so it outlives us) and connect with backoff while it comes up.
 */
import { spawn } from 'node:child_process';
import { BACKOFF_ATTEMPTS } from '../../machines/backoff.js';
import { type ClientOptions, OverlaydClient } from '../client/client.js';
import { ConnectError, OverlaydError } from '../errors.js';

export interface EnsureOverlaydOptions {
  /** overlayd's socket. */
  socket: string;
  /** What starts overlayd when it is not running, e.g. `overlayd` or `node`. */
  command: string;
  args?: readonly string[];
  /** The child's environment (default: ours). */
  env?: NodeJS.ProcessEnv;
  /** Connect attempts after spawning, on the backoff schedule (default 20, about 15 s). */
  attempts?: number;
  /** Options of the client handed back. */
  client?: ClientOptions;
}

export interface EnsuredOverlayd {
  client: OverlaydClient;
  /** True when overlayd was not answering and this call started it. */
  spawned: boolean;
  /** The started process's id, when `spawned`. */
  pid?: number;
}

/** overlayd was started but never answered on its socket. */
export class OverlaydStartError extends OverlaydError {
  readonly code = 'OVERLAYD_START';
  readonly command: string;
  readonly socket: string;
  /** The child's exit code (or signal) when it exited before answering. */
  readonly exit: number | NodeJS.Signals | undefined;
  constructor(
    reason: string,
    subject: { command: string; socket: string; exit?: number | NodeJS.Signals; cause?: unknown },
  ) {
    super(
      `overlayd did not come up on ${subject.socket} (started as \`${subject.command}\`): ${reason}`,
      {
        endpoint: subject.socket,
        ...(subject.cause === undefined ? {} : { cause: subject.cause }),
      },
    );
    this.command = subject.command;
    this.socket = subject.socket;
    this.exit = subject.exit;
  }
}

const commandLine = (command: string, args: readonly string[]): string =>
  [command, ...args]
    .map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part)))
    .join(' ');

export async function ensureOverlaydRunning(
  options: EnsureOverlaydOptions,
): Promise<EnsuredOverlayd> {
  const { socket, command, args = [] } = options;
  try {
    return { client: await OverlaydClient.connect(socket, options.client), spawned: false };
  } catch (error) {
    if (!(error instanceof ConnectError)) throw error;
  }

  const shown = commandLine(command, args);
  const child = spawn(command, args, {
    detached: true,
    stdio: 'ignore',
    ...(options.env ? { env: options.env } : {}),
  });
  child.unref();

  const client = new OverlaydClient(socket, options.client);
  // The child failing first settles this; a clean exit (a launcher that forks) does not.
  let early: OverlaydStartError | undefined;
  const giveUp = (error: OverlaydStartError) => {
    early ??= error;
    void client.close();
  };
  const onError = (error: Error) =>
    giveUp(
      new OverlaydStartError(`could not start it: ${error.message}`, {
        command: shown,
        socket,
        cause: error,
      }),
    );
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    if (code === 0) return;
    const exit = code ?? signal ?? undefined;
    giveUp(
      new OverlaydStartError(
        code === null ? `it was killed by ${signal}` : `it exited with code ${code}`,
        { command: shown, socket, ...(exit === undefined ? {} : { exit }) },
      ),
    );
  };
  child.once('error', onError);
  child.once('exit', onExit);
  try {
    await client.open(options.attempts ?? BACKOFF_ATTEMPTS);
  } catch (error) {
    await client.close();
    throw (
      early ??
      new OverlaydStartError(error instanceof Error ? error.message : String(error), {
        command: shown,
        socket,
        cause: error,
      })
    );
  } finally {
    child.off('exit', onExit);
    // An 'error' with no listener would throw: keep one that ignores it.
    child.off('error', onError).on('error', () => {});
  }
  return { client, spawned: true, ...(child.pid === undefined ? {} : { pid: child.pid }) };
}
