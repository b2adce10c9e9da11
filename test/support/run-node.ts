/** Running the built CLI (or any node script) as a child process, for end-to-end tests. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `node script ...args` to completion; never rejects on a non-zero exit. */
export function runNode(script: string, args: readonly string[], timeoutMs = 15_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Spawn a long-running node script, collecting its output. */
export function startNode(script: string, args: readonly string[]) {
  const child: ChildProcess = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output.stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  /** Resolves once `predicate` holds for the output so far (polling), or rejects after `ms`. */
  const until = async (predicate: (out: typeof output) => boolean, ms = 10_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!predicate(output)) {
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`timed out waiting; stdout:\n${output.stdout}\nstderr:\n${output.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, output, exited, until };
}

/**
 * `work` over every item, at most `limit` at a time, results in order: a test
 * that starts twenty node processes at once can overrun its per-process
 * timeout on a loaded 2-core machine.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
