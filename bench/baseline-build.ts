/**
 * The client as it was before the diagnostics channels, built from git into
 * a temporary directory, for the benchmark's paired "no subscriber" row: both
 * builds load in one process and take turns on one server, so the machine's
 * noise hits them alike. The baseline is the parent of the commit that added
 * `src/diagnostics/channels.ts`, found by git (so a rebase does not lose it),
 * and built once per commit (`tsc`, about 10 s).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { OverlaydClient } from '../src/client/client.js';

/** The repository root (this file runs from dist/bench/). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface BaselineBuild {
  commit: string;
  OverlaydClient: typeof OverlaydClient;
}

function git(...args: string[]): Buffer {
  return execFileSync('git', ['-C', ROOT, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
}

/** The commit before the diagnostics channels; throws when git or the history is missing. */
function baselineCommit(): string {
  const added = git('log', '--diff-filter=A', '--format=%H', '--', 'src/diagnostics/channels.ts')
    .toString()
    .trim()
    .split('\n')
    .at(-1);
  if (!added) throw new Error('no commit adds src/diagnostics/channels.ts');
  return git('rev-parse', `${added}^`).toString().trim();
}

/** Build (once) and load the baseline's OverlaydClient. */
export async function loadBaselineBuild(): Promise<BaselineBuild> {
  const commit = baselineCommit();
  const dir = join(tmpdir(), `overlayd-client-baseline-${commit.slice(0, 12)}`);
  const entry = join(dir, 'dist', 'src', 'client', 'client.js');
  // Written once tsc succeeded: a failed build is built again, never loaded.
  const built = join(dir, 'built');
  mkdirSync(dir, { recursive: true });
  // The build is shared by every checkout on the machine; its node_modules link may name one that
  // has since been removed (a git worktree), so a link that no longer resolves is made again.
  const modules = join(dir, 'node_modules');
  if (!existsSync(modules)) {
    rmSync(modules, { force: true });
    symlinkSync(join(ROOT, 'node_modules'), modules, 'dir');
  }
  if (!existsSync(built)) {
    const archive = git(
      'archive',
      '--format=tar',
      commit,
      'src',
      'machines',
      'visualizer',
      'tsconfig.json',
    );
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    writeFileSync(
      join(dir, 'tsconfig.build.json'),
      JSON.stringify({
        extends: './tsconfig.json',
        compilerOptions: { noEmit: false, declaration: false, sourceMap: false },
        include: ['src', 'machines', 'visualizer'],
        exclude: ['visualizer/page'],
      }),
    );
    // The sources are ES modules (the repository's package.json says so).
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    writeFileSync(built, commit);
  }
  const loaded = (await import(pathToFileURL(entry).href)) as {
    OverlaydClient: typeof OverlaydClient;
  };
  return { commit, OverlaydClient: loaded.OverlaydClient };
}
