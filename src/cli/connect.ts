/** Opening the client for a command: attempts, TTY progress, the inspector. */
import { type ClientOptions, OverlaydClient } from '../client/client.js';
import { type OutputStream, styler } from './output.js';
import { onStateReport, reportDetail } from './state-report.js';

/** The options every command takes (commander's camelCase keys). */
export interface GlobalOptions {
  socket: string;
  json?: boolean;
  timeout?: number;
  attempts?: number;
  inspect?: boolean;
  inspectPort: number;
}

export interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
  env: NodeJS.ProcessEnv;
}

/**
 * Print each connect attempt and each backoff sleep as it happens. Returns
 * the unsubscribe.
 */
export function showConnectProgress(client: OverlaydClient, stream: OutputStream): () => void {
  const style = styler(stream);
  stream.write(`${style.dim(`connecting to ${client.endpoint}`)}\n`);
  return onStateReport(client.actor, (report) => {
    if (report.state !== 'connecting' && report.state !== 'backoff') return;
    const line = `  ${report.state.padEnd(10)}  ${reportDetail(report)}`;
    stream.write(`${report.state === 'backoff' ? style.yellow(line) : style.dim(line)}\n`);
  });
}

export interface OpenOptions {
  attempts: number;
  reconnect: NonNullable<ClientOptions['reconnect']>;
  inspect?: NonNullable<ClientOptions['inspect']>;
  /** Show attempts on stderr (default: when stderr is a terminal). */
  progress?: boolean;
}

/** A connected client, or the ConnectError of the last attempt. */
export async function openClient(
  global: GlobalOptions,
  io: Io,
  options: OpenOptions,
): Promise<OverlaydClient> {
  const client = new OverlaydClient(global.socket, {
    reconnect: options.reconnect,
    ...(global.timeout !== undefined ? { requestTimeoutMs: global.timeout } : {}),
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  const unsubscribe =
    (options.progress ?? io.stderr.isTTY === true)
      ? showConnectProgress(client, io.stderr)
      : () => {};
  try {
    await client.open(options.attempts);
    return client;
  } catch (error) {
    await client.close();
    throw error;
  } finally {
    unsubscribe();
  }
}
