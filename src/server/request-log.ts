/**
 * The server's log of requests: one line per request as it began handling
 * it, `<connection> <request frame JSON>`, written synchronously so the lines
 * survive a SIGKILL. A test reads it to see what went over the wire and that
 * nothing ran twice.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { decodeFrame, encodeFrameToString, type RequestFrame } from '../protocol/index.js';
import type { RequestLogEntry } from './overlayd.js';

export interface LoggedRequest {
  connection: number;
  frame: RequestFrame;
}

export class RequestLog {
  readonly #fd: number;

  /** Appends to `path` (created when missing). */
  constructor(path: string) {
    this.#fd = openSync(path, 'a');
  }

  write(entry: RequestLogEntry): void {
    const frame = encodeFrameToString({ frame: 'request', id: entry.id, request: entry.request });
    writeSync(this.#fd, `${entry.connection} ${frame}\n`);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** Every request in a log file, in order. */
export function readRequestLog(path: string): LoggedRequest[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const space = line.indexOf(' ');
      const frame = decodeFrame(line.slice(space + 1));
      if (frame.frame !== 'request') throw new Error(`not a request in the log: ${line}`);
      return { connection: Number(line.slice(0, space)), frame };
    });
}
