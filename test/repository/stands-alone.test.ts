/**
 * The repository stands alone: no file refers to a path outside it. A clone
 * in an empty folder must build, test and run with nothing beside it.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repositoryFiles, strayReferences, strayReferencesIn } from './path-references.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Built from pieces so that this file holds no such path itself.
const up = '..' + '/';

describe('the repository stands alone', () => {
  it('has no file referring to a path outside it, or to nothing in it', () => {
    expect(repositoryFiles(ROOT).length).toBeGreaterThan(100);
    expect(strayReferencesIn(ROOT)).toEqual([]);
  });
});

describe('strayReferences', () => {
  const files = new Set([
    'README.md',
    'src/errors.ts',
    'src/cli/main.ts',
    'test/vectors/valid.json',
    'visualizer/page/index.html',
  ]);

  it('reports a sibling folder of the clone, from the root and from deeper down', () => {
    expect(strayReferences('README.md', `see ${up}shared/PROTOCOL.md`, files)).toEqual([
      { file: 'README.md', line: 1, path: `${up}shared/PROTOCOL.md` },
    ]);
    const deep = `x\nreadFileSync(new URL('${up}${up}${up}shared/vectors/valid.json', import.meta.url))`;
    expect(strayReferences('test/protocol/codec.test.ts', deep, files)).toEqual([
      {
        file: 'test/protocol/codec.test.ts',
        line: 2,
        path: `${up}${up}${up}shared/vectors/valid.json`,
      },
    ]);
  });

  it('reports a path inside the root that names nothing the repository has', () => {
    // test/protocol → test/shared: inside the root, but there is no such folder.
    expect(
      strayReferences('test/protocol/vectors.ts', `(${up}shared/vectors)`, files),
    ).toHaveLength(1);
  });

  it('accepts imports of sources by their .js names, folders, and paths read from dist/', () => {
    const text = [
      `import { x } from '${up}${up}src/errors.js';`,
      `const dir = '${up}vectors/';`,
      `new URL('${up}${up}visualizer/page/', import.meta.url)`, // from dist/visualizer at run time
      `new URL('${up}${up}dist/src/cli/main.js', import.meta.url)`,
    ].join('\n');
    expect(strayReferences('test/protocol/a.test.ts', text.split('\n')[0] ?? '', files)).toEqual(
      [],
    );
    expect(strayReferences('test/protocol/a.test.ts', text.split('\n')[1] ?? '', files)).toEqual(
      [],
    );
    expect(strayReferences('visualizer/server.ts', text.split('\n')[2] ?? '', files)).toEqual([]);
    expect(strayReferences('src/demo/main.ts', text.split('\n')[3] ?? '', files)).toEqual([]);
  });

  it('ignores a ../ that is the middle of a longer path', () => {
    expect(strayReferences('README.md', `a/${up}shared and x${up}y`, files)).toEqual([]);
  });
});
