/**
 * The built package as a consumer sees it: resolved by name through
 * `exports` (a temporary project whose node_modules links to this one), and
 * packed with the files it needs.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/run-node.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('the built package', () => {
  it('imports decodeFrame, OverlaydClient, OverlayManager, the channel names, the simulated overlayd, the visualizer and the OpenTelemetry instrumentation by package name', async () => {
    const project = await mkdtemp(join(tmpdir(), 'ovl-consumer-'));
    dirs.push(project);
    await mkdir(join(project, 'node_modules'));
    await symlink(ROOT, join(project, 'node_modules', 'overlayd-client'), 'dir');
    const script = [
      "import { decodeFrame, OverlaydClient, OverlayManager, PROTOCOL_VERSION, MAX_FRAME_BYTES } from 'overlayd-client';",
      "import { startVisualizer } from 'overlayd-client/visualizer';",
      "import { instrument } from 'overlayd-client/otel';",
      "import { REQUEST_CHANNEL, CONNECT_CHANNEL, RESYNC_CHANNEL } from 'overlayd-client';",
      "import { Engine, serve, startOverlayd } from 'overlayd-client/server';",
      "import * as main from 'overlayd-client';",
      'const frame = decodeFrame(\'{"frame":"response","id":18446744073709551615,"response":{"result":"ok"}}\');',
      'console.log(JSON.stringify({ id: String(frame.id), client: typeof OverlaydClient, manager: typeof OverlayManager, viz: typeof startVisualizer, otel: typeof instrument, server: [typeof Engine, typeof serve, typeof startOverlayd], serverInMain: ["Engine", "serve", "startOverlayd"].filter((name) => name in main), channels: [REQUEST_CHANNEL, CONNECT_CHANNEL, RESYNC_CHANNEL], PROTOCOL_VERSION, MAX_FRAME_BYTES }));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: project,
    });
    expect(JSON.parse(stdout)).toEqual({
      id: '18446744073709551615',
      client: 'function',
      manager: 'function',
      viz: 'function',
      otel: 'function',
      server: ['function', 'function', 'function'],
      serverInMain: [],
      channels: ['overlayd-client:request', 'overlayd-client:connect', 'overlayd-client:resync'],
      PROTOCOL_VERSION: 1,
      MAX_FRAME_BYTES: 8 * 1024 * 1024,
    });
  });

  it('packs its code, type declarations, the CLI, the visualizer page and the changelog', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
    });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map(
      (f) => f.path,
    );
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/src/index.js',
        'dist/src/index.d.ts',
        'dist/src/cli/main.js',
        'dist/machines/connection.machine.js',
        'dist/visualizer/index.js',
        'dist/src/otel/index.js',
        'dist/src/otel/index.d.ts',
        'dist/src/server/index.js',
        'dist/src/server/index.d.ts',
        'dist/src/diagnostics/channels.js',
        'visualizer/page/index.html',
        'visualizer/page/app.js',
        'visualizer/page/draw.js',
        'visualizer/page/wire.js',
        'README.md',
        'CHANGELOG.md',
      ]),
    );
    expect(files?.some((path) => path.startsWith('test/') || path.startsWith('dist/test'))).toBe(
      false,
    );
  });
});
