/**
 * A reader that goes away (`overlayctl --help | head -n 1`) closes our end of
 * the pipe, and the next write fails with EPIPE. Unix tools are killed by
 * SIGPIPE then, silently; Node ignores SIGPIPE and raises the EPIPE as an
 * 'error' event, which nobody handles, so the process died with a stack
 * trace. Here it ends the process at once, printing nothing, with the status
 * a shell reports for a tool ended by SIGPIPE, so `set -o pipefail` scripts
 * still see that the output was cut short.
 */
import type { EventEmitter } from 'node:events';
import { EXIT } from './exit-codes.js';

/** The errors that mean "the reader of this stream has gone". */
const READER_GONE = new Set(['EPIPE', 'ERR_STREAM_DESTROYED']);

export interface OutputStreams {
  stdout: EventEmitter;
  stderr: EventEmitter & { write(text: string): unknown };
}

/**
 * Ends the process (through `exit`) when stdout or stderr loses its reader.
 * Any other write error is reported in one line (on stderr, when it can still
 * be written) and ends the process as a failure.
 */
export function endWhenOutputCloses(streams: OutputStreams, exit: (code: number) => void): void {
  const onError = (stream: EventEmitter) => (error: NodeJS.ErrnoException) => {
    if (READER_GONE.has(error.code ?? '')) {
      exit(EXIT.closedOutput);
      return;
    }
    if (stream !== streams.stderr)
      streams.stderr.write(`overlayctl: output failed: ${error.message}\n`);
    exit(EXIT.failure);
  };
  streams.stdout.on('error', onError(streams.stdout));
  streams.stderr.on('error', onError(streams.stderr));
}
