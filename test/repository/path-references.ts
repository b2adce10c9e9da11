/**
 * Finds relative paths written in the repository's files (imports, URLs,
 * links, prose) that lead outside the repository or to nothing in it.
 *
 * A path is read relative to its file's folder, and also relative to where
 * that file runs once built (`dist/<folder>`), since sources that resolve
 * paths from `import.meta.url` run from there. It is fine when one of those
 * readings lands on something the repository has: a file or folder, the `.ts`
 * source of a `.js` name, or the source behind a `dist/` output. Everything
 * else (a `shared` folder beside the clone being the case that bit us) is
 * reported: users clone the repository with nothing beside it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, posix } from 'node:path';

export interface PathReference {
  file: string;
  line: number;
  path: string;
}

/** `../` one or more times, then a path; not when it is the middle of a longer path. */
const RELATIVE_PATH = /(?<![\w./-])(?:\.\.\/)+[\w@.-]*(?:\/[\w@.-]+)*\/?/g;

/** What git tracks, plus untracked files it does not ignore, relative to the root. */
export function repositoryFiles(root: string): string[] {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  });
  return listed.split('\n').filter((file) => file !== '');
}

/** Every folder that holds one of `files`, the root included as `.`. */
function foldersOf(files: readonly string[]): Set<string> {
  const folders = new Set<string>(['.']);
  for (const file of files) {
    for (let folder = dirname(file); folder !== '.'; folder = dirname(folder)) folders.add(folder);
  }
  return folders;
}

/** Whether the repository has what `target` (normalised, root-relative) names. */
function exists(target: string, files: Set<string>, folders: Set<string>): boolean {
  const bare = target.replace(/\/$/, '') || '.';
  const candidates = [bare];
  if (bare.startsWith('dist/')) candidates.push(bare.slice('dist/'.length));
  for (const candidate of [...candidates]) {
    if (candidate.endsWith('.js')) candidates.push(`${candidate.slice(0, -3)}.ts`);
  }
  return candidates.some((candidate) => files.has(candidate) || folders.has(candidate));
}

/** The references in `text` (the content of `file`) that lead outside or nowhere. */
export function strayReferences(
  file: string,
  text: string,
  files: Set<string>,
  folders: Set<string> = foldersOf([...files]),
): PathReference[] {
  const bases = [dirname(file), posix.join('dist', dirname(file))];
  const stray: PathReference[] = [];
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    for (const match of line.matchAll(RELATIVE_PATH)) {
      const path = match[0];
      const lands = bases.some((base) => {
        const target = posix.normalize(posix.join(base, path));
        return !target.startsWith('../') && target !== '..' && exists(target, files, folders);
      });
      if (!lands) stray.push({ file, line: index + 1, path });
    }
  }
  return stray;
}

/** Every stray reference in the repository's text files under `root`. */
export function strayReferencesIn(root: string): PathReference[] {
  const listed = repositoryFiles(root);
  const files = new Set(listed);
  const folders = foldersOf(listed);
  const stray: PathReference[] = [];
  for (const file of listed) {
    const bytes = readFileSync(posix.join(root, file));
    if (bytes.includes(0)) continue; // images and other binaries hold no paths
    stray.push(...strayReferences(file, bytes.toString('utf8'), files, folders));
  }
  return stray;
}
