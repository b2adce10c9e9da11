/**
 * vitest globalSetup: the CLI, demo and supervisor tests run the built
 * JavaScript in child processes, so build once (`tsc -p tsconfig.build.json`)
 * when dist/ is missing or older than the sources.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const SOURCES = ['src', 'machines', 'visualizer', 'bench', 'tsconfig.json', 'tsconfig.build.json'];
const OUTPUTS = ['dist/src/cli/main.js', 'dist/src/demo/main.js'];

/** The newest mtime of the TypeScript sources under `path`. */
function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return /\.(ts|json)$/.test(path) ? stat.mtimeMs : 0;
  let latest = 0;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

export default function buildDist(): void {
  const outputs = OUTPUTS.map((file) => join(ROOT, file));
  if (outputs.every(existsSync)) {
    const built = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
    const sources = SOURCES.map((p) => join(ROOT, p)).filter(existsSync);
    if (Math.max(...sources.map(newest)) <= built) return;
  }
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: ROOT,
        stdio: 'pipe',
      },
    );
  } catch (error) {
    // tsc emits despite type errors (the typecheck step reports those); fail only without output.
    if (!outputs.every(existsSync)) {
      const out = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
      throw new Error(`tsc -p tsconfig.build.json failed:\n${out}`);
    }
  }
}
