/**
 * overlayctl with its stdout closed by the reader (`| head -n 1`): it ends
 * quietly, as Unix tools do, instead of dying on an unhandled EPIPE.
 */
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { endWhenOutputCloses } from '../../src/cli/closed-output.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { CLI } from '../support/run-node.js';

interface Ended {
  code: number | null;
  firstLine: string;
  stderr: string;
}

/** Run `overlayctl --help`, closing our end of its stdout when `closeWhen` says so. */
function helpWithStdoutClosed(closeWhen: 'before-any-output' | 'after-first-line'): Promise<Ended> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    if (closeWhen === 'before-any-output') {
      child.stdout.destroy(); // Node takes far longer to start than this line does
    } else {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('\n')) child.stdout.destroy();
      });
    }
    child.on('close', (code) => resolve({ code, firstLine: stdout.split('\n')[0] ?? '', stderr }));
  });
}

describe('overlayctl with a closed stdout', () => {
  it('ends at once with the SIGPIPE status and prints nothing when the reader is gone', async () => {
    const ended = await helpWithStdoutClosed('before-any-output');
    expect(ended.stderr).toBe('');
    expect(ended.code).toBe(EXIT.closedOutput);
  });

  it('prints no stack trace when the reader leaves after the first line', async () => {
    for (let run = 0; run < 3; run += 1) {
      const ended = await helpWithStdoutClosed('after-first-line');
      expect(ended.firstLine).toMatch(/^Usage: overlayctl /);
      expect(ended.stderr).toBe('');
      // All of --help may be in the pipe before the reader leaves (0), or not (141).
      expect([EXIT.ok, EXIT.closedOutput]).toContain(ended.code);
    }
  });

  it('ends quietly inside a real `| head -n 1` pipeline', () => {
    for (let run = 0; run < 3; run += 1) {
      const shell = spawnSync(
        'bash',
        [
          '-c',
          `"${process.execPath}" "${CLI}" --help | head -n 1; echo "status=\${PIPESTATUS[0]}"`,
        ],
        { encoding: 'utf8' },
      );
      const [line, status] = shell.stdout.trim().split('\n');
      expect(line).toMatch(/^Usage: overlayctl /);
      expect(shell.stderr).toBe('');
      expect(['status=0', `status=${EXIT.closedOutput}`]).toContain(status);
    }
  });
});

describe('endWhenOutputCloses', () => {
  const streams = () => {
    const written: string[] = [];
    const stderr = Object.assign(new EventEmitter(), {
      write: (text: string) => written.push(text),
    });
    return { stdout: new EventEmitter(), stderr, written };
  };
  const failure = (code: string, message = `write ${code}`) =>
    Object.assign(new Error(message), { code });

  it('exits with the SIGPIPE status, writing nothing, when either stream loses its reader', () => {
    for (const which of ['stdout', 'stderr'] as const) {
      for (const code of ['EPIPE', 'ERR_STREAM_DESTROYED']) {
        const io = streams();
        const exits: number[] = [];
        endWhenOutputCloses(io, (status) => exits.push(status));
        io[which].emit('error', failure(code));
        expect(exits).toEqual([EXIT.closedOutput]);
        expect(io.written).toEqual([]);
      }
    }
  });

  it('reports any other stdout failure on stderr and exits as a failure', () => {
    const io = streams();
    const exits: number[] = [];
    endWhenOutputCloses(io, (status) => exits.push(status));
    io.stdout.emit('error', failure('EIO', 'write EIO'));
    expect(exits).toEqual([EXIT.failure]);
    expect(io.written).toEqual(['overlayctl: output failed: write EIO\n']);
  });

  it('does not write to a stderr that itself failed', () => {
    const io = streams();
    const exits: number[] = [];
    endWhenOutputCloses(io, (status) => exits.push(status));
    io.stderr.emit('error', failure('EIO'));
    expect(exits).toEqual([EXIT.failure]);
    expect(io.written).toEqual([]);
  });
});
