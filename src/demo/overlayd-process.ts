/** The simulated overlayd as a child process (`overlayctl serve`), to start, kill and restart. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The built CLI: beside this module's directory in dist/; when this module
 * runs from source (src/demo/*.ts, as in the tests), in dist/ at the project root.
 */
const BESIDE = fileURLToPath(new URL('../cli/main.js', import.meta.url));
export const CLI_PATH = existsSync(BESIDE)
  ? BESIDE
  : fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class OverlaydProcess {
  readonly socket: string;
  #child: ChildProcess | undefined;
  #exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  /** The child's last stderr lines, shown when it fails. */
  readonly log: string[] = [];

  constructor(socket: string) {
    this.socket = socket;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return (
      this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
    );
  }

  /** Resolves when the current child exits. */
  get exited(): Promise<Exit> {
    return this.#exited;
  }

  /** Spawn `node dist/src/cli/main.js serve --socket <socket> ...serveArgs`; returns its pid. */
  start(serveArgs: readonly string[] = []): number {
    if (this.running) throw new Error(`overlayd is already running (pid ${this.pid})`);
    // Its own process group: a Ctrl-C at the terminal reaches the demo only,
    // which then shuts overlayd down with the `shutdown` op.
    const child = spawn(
      process.execPath,
      [CLI_PATH, 'serve', '--socket', this.socket, ...serveArgs],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      },
    );
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line !== '') this.log.push(line);
      this.log.splice(0, Math.max(0, this.log.length - 20));
    });
    this.#child = child;
    this.#exited = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    this.#exited.catch(() => {});
    if (child.pid === undefined) throw new Error(`could not start ${process.execPath} ${CLI_PATH}`);
    return child.pid;
  }

  /** Send `signal` (default SIGKILL: no goodbye, the socket file stays behind) and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.running) this.#child?.kill(signal);
    return this.#exited;
  }
}
