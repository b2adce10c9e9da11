/**
 * The package as someone installing it gets it: a copy of the checkout
 * without dist/ is packed (so `prepack` has to build), the tarball is
 * installed into a new TypeScript project, that project is compiled with
 * `--strict` for Node (`nodenext`) and for bundlers (`bundler`), and the Node
 * build is run: a round trip over a Unix socket with the client, the manager
 * and the visualizer.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repositoryFiles } from '../repository/path-references.js';
import { ROOT } from '../support/run-node.js';

const run = promisify(execFile);
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** What a fresh clone has: the files git knows (edits included), no dist/, our node_modules. */
async function cleanCheckout(): Promise<string> {
  const checkout = await tempDir('ovl-checkout-');
  for (const file of repositoryFiles(ROOT)) {
    await mkdir(dirname(join(checkout, file)), { recursive: true });
    // A file deleted from the worktree but still in git's index is not part of the checkout.
    await copyFile(join(ROOT, file), join(checkout, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  await symlink(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  return checkout;
}

const CONSUMER = `
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectionMachine,
  type OverlaydRequest,
  OverlaydClient,
  OverlayManager,
  type ResultFor,
  decodeFrame,
  encodeFrameToString,
} from 'overlayd-client';
import { startOverlayd } from 'overlayd-client/server';
import { machineGraph, startVisualizer } from 'overlayd-client/visualizer';

const dir = mkdtempSync(join(tmpdir(), 'ovl-consumer-run-'));
const overlayd = await startOverlayd({ socket: join(dir, 'overlayd.sock') });
const viz = await startVisualizer();
const client = await OverlaydClient.connect(overlayd.endpoint, { inspect: viz.inspect });
const manager = await OverlayManager.connect(overlayd.endpoint);
try {
  const request: OverlaydRequest = { op: 'setup_service_overlay', service: 'web', mode: 'shared' };
  const frame = decodeFrame(encodeFrameToString({ frame: 'request', id: 7n, request }));
  const setup: ResultFor<'setup_service_overlay'> = await client.call(request);
  const status = await manager.status();
  const page = await fetch(viz.url);
  console.log(JSON.stringify({
    frame: frame.frame,
    setup: setup.result,
    services: status.service_count,
    page: page.status,
    states: machineGraph(connectionMachine).nodes.length > 0,
  }));
} finally {
  await manager.close();
  await client.close();
  await viz.close();
  await overlayd.close();
  rmSync(dir, { recursive: true, force: true });
}
`;

/** Compile the project with --strict under one module resolution; tsc's report on failure. */
async function compile(project: string, module: string, moduleResolution: string, outDir: string) {
  await run(
    process.execPath,
    [
      TSC,
      '--strict',
      '--target',
      'es2022',
      '--lib',
      'es2023',
      '--types',
      'node',
      '--module',
      module,
      '--moduleResolution',
      moduleResolution,
      '--outDir',
      outDir,
      'index.ts',
    ],
    { cwd: project },
  ).catch((error: { stdout?: string }) => {
    throw new Error(`tsc (${moduleResolution}) failed:\n${error.stdout}`);
  });
}

describe('the packed package', () => {
  it('packs from a clean checkout, installs, compiles under nodenext and bundler, and runs', {
    timeout: 240_000,
  }, async () => {
    const checkout = await cleanCheckout();
    const packed = await tempDir('ovl-packed-');
    // No --ignore-scripts: prepack must build dist/, which the checkout does not have.
    await run('npm', ['pack', '--silent', '--pack-destination', packed], { cwd: checkout });
    const [tarball] = await readdir(packed);
    expect(tarball).toMatch(/^overlayd-client-.*\.tgz$/);

    const project = await tempDir('ovl-consumer-');
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    await writeFile(join(project, 'index.ts'), CONSUMER);
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(packed, tarball!),
        '@types/node@20',
      ],
      { cwd: project },
    );

    await compile(project, 'nodenext', 'nodenext', 'out-nodenext');
    await compile(project, 'esnext', 'bundler', 'out-bundler');
    const { stdout } = await run(process.execPath, ['out-nodenext/index.js'], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({
      frame: 'request',
      setup: 'service_overlay',
      services: 1,
      page: 200,
      states: true,
    });
  });
});
