/**
 * A hostile or broken overlayd: a raw `node:net` server on a temporary Unix
 * socket that decodes requests with the project's framing and codec, and
 * answers each one with whatever steps the test scripts — a valid frame, raw
 * bytes, a body of any content behind a correct length prefix, bytes trickled
 * one at a time, a hang-up, or nothing at all. It can also stop reading a
 * connection, and restart on the same path.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeFrame,
  encodeFrame,
  type OverlaydFrameInput,
  type RequestFrame,
} from '../../src/protocol/index.js';
import { encodeLengthPrefixed, FrameDecoder } from '../../src/transport/framing.js';
import { successFor } from './scripted-server.js';

/** One thing the server does, in order, on the connection a request came on. */
export type Step =
  /** A valid frame, encoded by the project's codec, in one write. */
  | { frame: OverlaydFrameInput }
  /** These bytes exactly, in one write. */
  | { raw: Uint8Array }
  /** A correct length prefix followed by this body, whatever it holds. */
  | { body: Uint8Array | string }
  /** These bytes one at a time, pausing `pauseMs` between them. */
  | { trickle: Uint8Array; pauseMs: number }
  | { waitMs: number }
  /** Destroy the socket at once. */
  | 'hangUp'
  /** Stop reading this connection (socket.pause()): the client's writes back up. */
  | 'stopReading';

export type ChaosScript = (request: RequestFrame, connection: number) => Step[];

/** The usual answer: one valid success response. */
export const answer: ChaosScript = (request) => [{ frame: successFor(request) }];

/** Wire bytes of one frame: length prefix and body. */
export function frameBytes(frame: OverlaydFrameInput): Buffer {
  return Buffer.from(encodeLengthPrefixed(encodeFrame(frame)));
}

/** Wire bytes of a body of any content behind a correct length prefix. */
export function bodyBytes(body: Uint8Array | string): Buffer {
  return Buffer.from(encodeLengthPrefixed(typeof body === 'string' ? Buffer.from(body) : body));
}

export interface ChaosServer {
  readonly endpoint: string;
  /** Every request decoded, with the connection (1, 2, …) it came on. */
  readonly received: Array<{ connection: number; id: RequestFrame['id']; op: string }>;
  /** Connections accepted so far. */
  readonly accepted: number;
  script: ChaosScript;
  /** Resume reading every connection that stopped. */
  resumeReading(): void;
  /** Stop listening and destroy every connection; the path stays free for `restart`. */
  stop(): Promise<void>;
  /** Listen again on the same path. */
  restart(): Promise<void>;
  /** Stop and remove the temporary directory. */
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function write(socket: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.write(bytes, () => resolve());
  });
}

async function run(socket: Socket, steps: Step[]): Promise<void> {
  for (const step of steps) {
    if (socket.destroyed) return;
    if (step === 'hangUp') socket.destroy();
    else if (step === 'stopReading') socket.pause();
    else if ('frame' in step) await write(socket, frameBytes(step.frame));
    else if ('raw' in step) await write(socket, step.raw);
    else if ('body' in step) await write(socket, bodyBytes(step.body));
    else if ('waitMs' in step) await sleep(step.waitMs);
    else {
      for (const byte of step.trickle) {
        if (socket.destroyed) return;
        await write(socket, Uint8Array.of(byte));
        await sleep(step.pauseMs);
      }
    }
  }
}

export async function startChaosServer(script: ChaosScript = answer): Promise<ChaosServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ovl-'));
  const endpoint = join(dir, 'overlayd.sock');
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let accepted = 0;

  const onConnection = (socket: Socket): void => {
    const connection = ++accepted;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // the client may vanish at any point
    // Like the reference server: one request at a time, in order.
    let chain = Promise.resolve();
    const decoder = new FrameDecoder((body) => {
      let frame: ReturnType<typeof decodeFrame>;
      try {
        frame = decodeFrame(body);
      } catch {
        socket.destroy(); // the reference closes on a frame it cannot decode
        return;
      }
      if (frame.frame !== 'request') return;
      chaos.received.push({ connection, id: frame.id, op: frame.request.op });
      const steps = chaos.script(frame, connection);
      chain = chain.then(() => run(socket, steps));
    });
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk);
      } catch {
        socket.destroy();
      }
    });
  };

  const chaos: ChaosServer = {
    endpoint,
    received: [],
    get accepted() {
      return accepted;
    },
    script,
    resumeReading() {
      for (const socket of sockets) socket.resume();
    },
    async stop() {
      const s = server;
      server = undefined;
      if (s === undefined) return;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    async restart() {
      await chaos.stop();
      await rm(endpoint, { force: true });
      const s = createServer(onConnection);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(endpoint, () => {
          s.off('error', reject);
          resolve();
        });
      });
      server = s;
    },
    async dispose() {
      await chaos.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await chaos.restart();
  return chaos;
}
