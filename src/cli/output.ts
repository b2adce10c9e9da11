/**
 * What overlayctl prints: the response as exact JSON (`--json`), or readable
 * aligned lines and small tables.
 */
import { encodeWire, type OverlaydResponse } from '../protocol/index.js';

export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** ANSI styles, applied only when the stream is a terminal and NO_COLOR is unset. */
export function styler(stream: OutputStream, env: NodeJS.ProcessEnv = process.env) {
  const on = stream.isTTY === true && (env.NO_COLOR ?? '') === '';
  const wrap = (open: number, close: number) => (text: string) =>
    on ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

export type Styler = ReturnType<typeof styler>;

/** The response exactly as overlayd's encoder writes it (u64s as bare JSON numbers). */
export function responseJson(response: OverlaydResponse): string {
  return encodeWire('OverlaydResponse', response);
}

/** JSON with bigints written as bare numbers. */
export function toJson(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    marks.push(v.toString());
    return `\u0000big${marks.length - 1}\u0000`;
  });
  // JSON.stringify writes the marks' NULs as `\u0000` escapes.
  return text.replace(/"\\u0000big(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)]!);
}

const label = (key: string): string => key.replaceAll('_', ' ');

function scalar(key: string, value: unknown): string {
  if (key === 'last_handshake_unix_secs') {
    const secs = Number(value);
    return secs === 0 ? 'never' : new Date(secs * 1000).toISOString().replace('.000Z', 'Z');
  }
  if (key === 'persistent_keepalive_secs') return Number(value) === 0 ? 'off' : `${value} s`;
  return String(value);
}

/** Aligned `key  value` lines. */
export function keyValues(rows: ReadonlyArray<readonly [string, string]>, indent = ''): string {
  const width = Math.max(0, ...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${indent}${key.padEnd(width)}  ${value}`).join('\n');
}

/** A table with a header row; every column padded to its widest cell. */
export function table(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  indent = '',
): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    `${indent}${cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A response for people: `ok`, or its fields as aligned lines, arrays as tables. */
export function formatResponse(response: OverlaydResponse): string {
  if (response.result === 'ok') return 'ok';
  if (response.result === 'err') return `error: ${response.message}`;
  const rows: Array<[string, string]> = [];
  const tables: string[] = [];
  for (const [key, value] of Object.entries(response)) {
    if (key === 'result' || value === undefined) continue;
    if (!Array.isArray(value)) {
      rows.push([label(key), scalar(key, value)]);
      continue;
    }
    // A status carries its counts already (peer_count, service_count).
    if (response.result !== 'status') rows.push([label(key), String(value.length)]);
    if (value.length === 0) continue;
    const columns = Object.keys(value[0] as object);
    const cells = value.map((item: Record<string, unknown>) =>
      columns.map((column) => scalar(column, item[column])),
    );
    tables.push(
      table(
        columns.map((c) => label(c.replace(/_unix_secs$|_secs$/, '')).toUpperCase()),
        cells,
        '  ',
      ),
    );
  }
  return [keyValues(rows), ...tables].join('\n\n');
}
