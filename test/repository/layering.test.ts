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

/** What a source imports: root-relative files (`.ts`) and package names. */
function importsOf(file: string, text: string): { files: string[]; packages: string[] } {
  const files: string[] = [];
  const packages: string[] = [];
  for (const [, specifier] of text.matchAll(SPECIFIER)) {
    if (specifier === undefined) continue;
    if (!specifier.startsWith('.')) {
      packages.push(specifier);
      continue;
    }
    files.push(relative(ROOT, join(dirname(file), specifier)).replace(/\.js$/, '.ts'));
  }
  return { files, packages };
}

/** Root-relative files that a protocol source imports, outside src/protocol/ and not allowed. */
function foreignImports(file: string, text: string): string[] {
  return importsOf(file, text).files.filter(
    (target) => !target.startsWith('src/protocol/') && !ALLOWED_OUTSIDE.has(target),
  );
}

/** The `.ts` sources under a src/ folder. */
function sourcesIn(folder: string): string[] {
  const dir = join(ROOT, 'src', folder);
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(dir, name));
}

/** Every import of the folder's sources that `allowed` refuses, as `file → target`. */
function refusedImports(
  folder: string,
  allowed: (target: string, kind: 'file' | 'package') => boolean,
): string[] {
  return sourcesIn(folder).flatMap((file) => {
    const { files, packages } = importsOf(file, readFileSync(file, 'utf8'));
    const refused = [
      ...files.filter((target) => !allowed(target, 'file')),
      ...packages.filter((name) => !allowed(name, 'package')),
    ];
    return refused.map((target) => `${relative(ROOT, file)} → ${target}`);
  });
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

describe('src/diagnostics/ is a leaf the client, transport and manager publish through', () => {
  it('imports only Node, its own files, the errors, the state names, and types of the protocol and the machines', () => {
    expect(sourcesIn('diagnostics').length).toBeGreaterThanOrEqual(3);
    const refused = refusedImports('diagnostics', (target, kind) =>
      kind === 'package'
        ? target.startsWith('node:')
        : target.startsWith('src/diagnostics/') ||
          target === 'src/errors.ts' ||
          target === 'src/client/state.ts' ||
          target.startsWith('src/protocol/') ||
          target.startsWith('machines/'),
    );
    expect(refused).toEqual([]);
  });
});

describe('src/otel/ is built on the diagnostics channels alone', () => {
  it('imports the OpenTelemetry API but never an SDK, and nothing of the client, manager or transport but the endpoint', () => {
    expect(sourcesIn('otel').length).toBeGreaterThanOrEqual(3);
    const refused = refusedImports('otel', (target, kind) =>
      kind === 'package'
        ? target.startsWith('node:') || target === '@opentelemetry/api'
        : target.startsWith('src/otel/') ||
          target.startsWith('src/diagnostics/') ||
          target === 'src/transport/endpoint.ts',
    );
    expect(refused).toEqual([]);
  });
});

describe('the main entry leaves the simulated overlayd to overlayd-client/server', () => {
  /** Every root-relative source `entry` loads, itself included, following relative imports. */
  function reachable(entry: string): Set<string> {
    const seen = new Set<string>();
    const pending = [entry];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (seen.has(file)) continue;
      seen.add(file);
      const { files } = importsOf(join(ROOT, file), readFileSync(join(ROOT, file), 'utf8'));
      pending.push(...files);
    }
    return seen;
  }

  it('loads nothing from src/server/', () => {
    const loaded = [...reachable('src/index.ts')];
    expect(loaded).toContain('src/manager/manager.ts');
    expect(loaded.filter((file) => file.startsWith('src/server/'))).toEqual([]);
  });

  it('is where the server entry takes the engine, the accept loop and startOverlayd from', () => {
    expect([...reachable('src/server/index.ts')]).toEqual(
      expect.arrayContaining([
        'src/server/engine/engine.ts',
        'src/server/serve.ts',
        'src/server/overlayd.ts',
      ]),
    );
  });
});
