/**
 * The fast benchmark server: answers every length-prefixed request frame with
 * one fixed `status` response frame from precomputed bytes, carrying the
 * request's id (spliced in as bytes; nothing is parsed but the digits after
 * `"id":`), so its own turn is well under a microsecond, as the real
 * overlayd's is. Like the reference server it answers in order, each
 * response in a write of its own. In `silent` mode it reads and discards
 * everything and never answers.
 *
 * It uses nothing from src/transport, so optimizing the client's framing
 * cannot move the floor. Run in this process (`startEchoServer`) or as a
 * child process (`spawnEchoServer`, which runs this file):
 *
 *   node dist/bench/echo-server.js /tmp/x.sock [echo|silent]   # prints "ready"
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  decodeFrame,
  encodeFrame,
  encodeFrameToString,
  type OverlaydResponseInput,
} from '../src/protocol/index.js';

export type EchoMode = 'echo' | 'silent';

/** The response every request gets (a small status snapshot). */
export const STATUS_RESPONSE: OverlaydResponseInput = {
  result: 'status',
  interface: 'zl-overlay0',
  node_ip: '10.200.0.1',
  public_key: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
  overlay_cidr: '10.200.0.0/16',
  peer_count: 0,
  service_count: 0,
};

/** The request the clients send. */
export const STATUS_REQUEST = { op: 'status' } as const;

/** The request frame body for `id` (no prefix), as the client encodes it. */
export function requestBody(id: number): Uint8Array {
  return encodeFrame({ frame: 'request', id, request: STATUS_REQUEST });
}

/** The response frame body for `id` (no prefix), as this server sends it. */
export function responseBody(id: number): Uint8Array {
  return encodeFrame({ frame: 'response', id, response: STATUS_RESPONSE });
}

/** `u32 LE length || body`. */
export function prefixed(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  out.set(body, 4);
  return out;
}

const ID_KEY = Buffer.from('"id":');

/** The response bytes around the id, checked against the codec once. */
function responseTemplate(): { head: Buffer; tail: Buffer } {
  const marker = 987654321;
  const text = encodeFrameToString({ frame: 'response', id: marker, response: STATUS_RESPONSE });
  const [head, tail] = text.split(String(marker));
  if (head === undefined || tail === undefined) throw new Error('bad response template');
  decodeFrame(text);
  return { head: Buffer.from(head), tail: Buffer.from(tail) };
}

/** The part of a socket the server uses (so an in-memory pair can stand in). */
export type EchoSocket = Pick<Socket, 'on' | 'write' | 'destroy'>;

/** Answers one connection. */
export function answerConnection(socket: EchoSocket, mode: EchoMode = 'echo'): void {
  socket.on('error', () => socket.destroy());
  if (mode === 'silent') {
    socket.on('data', () => {});
    return;
  }
  const { head, tail } = responseTemplate();
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (buf.length - off - 4 < len) break;
      const bodyStart = off + 4;
      off = bodyStart + len;
      let at = buf.indexOf(ID_KEY, bodyStart) + ID_KEY.length;
      const idStart = at;
      while (at < off && buf[at]! >= 0x30 && buf[at]! <= 0x39) at++;
      // One write for each answer, as the reference server does (read one
      // request, answer it, write and flush): answering a read's frames in
      // one write would make the pipelined floor several times faster than
      // any real overlayd lets a client be (docs/BENCHMARKS.md).
      const bodyLength = head.length + (at - idStart) + tail.length;
      const out = Buffer.allocUnsafe(4 + bodyLength);
      out.writeUInt32LE(bodyLength, 0);
      let filled = 4;
      filled += head.copy(out, filled);
      filled += buf.copy(out, filled, idStart, at);
      tail.copy(out, filled);
      socket.write(out);
    }
    if (off < buf.length) pending = buf.subarray(off);
  });
}

export interface EchoServer {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Listen on `endpoint` in this process. */
export function startEchoServer(endpoint: string, mode: EchoMode = 'echo'): Promise<EchoServer> {
  rmSync(endpoint, { force: true });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    answerConnection(socket, mode);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint, () => {
      resolve({
        endpoint,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * Run a benchmark server script as a child process (`node <script> <endpoint>
 * ...args`), which prints a line once it listens and stops when its stdin
 * ends; resolves once it listens.
 */
export function spawnServerScript(
  script: string,
  endpoint: string,
  args: readonly string[] = [],
): Promise<EchoServer> {
  const child: ChildProcess = spawn(process.execPath, [script, endpoint, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${script} exited early (${code})`)));
    child.stdout?.once('data', () => {
      child.removeAllListeners('exit');
      resolve({
        endpoint,
        close: () =>
          new Promise<void>((done) => {
            child.once('exit', () => done());
            child.stdin?.end();
          }),
      });
    });
  });
}

/** Run this file as a child process listening on `endpoint`; resolves once it listens. */
export function spawnEchoServer(endpoint: string, mode: EchoMode = 'echo'): Promise<EchoServer> {
  return spawnServerScript(fileURLToPath(import.meta.url), endpoint, [mode]);
}

/** In a server script run as a child: say it listens, and stop when the parent closes stdin. */
export function serveUntilStdinEnds(server: EchoServer): void {
  process.stdout.write('ready\n');
  // The parent closes our stdin to stop us (and so does its death).
  process.stdin.resume();
  process.stdin.once('end', () => {
    void server.close().then(() => process.exit(0));
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const endpoint = process.argv[2];
  if (endpoint === undefined) throw new Error('usage: echo-server.js <socket path> [echo|silent]');
  const mode: EchoMode = process.argv[3] === 'silent' ? 'silent' : 'echo';
  serveUntilStdinEnds(await startEchoServer(endpoint, mode));
}
