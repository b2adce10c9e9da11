/**
 * A real overlayd-protocol server on a temporary Unix socket whose answers a
 * test scripts per request: answer, answer with extra frames first, stay
 * silent, or hang up. It logs every request it received, per connection.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OverlaydFrameInput, RequestFrame } from '../../src/protocol/index.js';
import { type OverlaydServer, type ServerConnection, serve } from '../../src/server/serve.js';

/** What the server does with one request. */
export type Reply =
  /** Write these frames, in order (use `answer()` for the usual response). */
  | { frames: OverlaydFrameInput[] }
  /** Read it and never answer. */
  | { silent: true }
  /** Close the connection without answering. */
  | { hangUp: true };

export type Script = (request: RequestFrame, connection: number) => Reply | Promise<Reply>;

/** The success answer a real overlayd gives for each op. */
export function successFor(request: RequestFrame): OverlaydFrameInput {
  const id = request.id;
  switch (request.request.op) {
    case 'allocate_ip':
      return { frame: 'response', id, response: { result: 'ip', ip: '10.200.0.2' } };
    case 'setup_global_overlay':
      return { frame: 'response', id, response: { result: 'bridge_name', name: 'zl-overlay0' } };
    case 'setup_service_overlay':
      return {
        frame: 'response',
        id,
        response: { result: 'service_overlay', name: request.request.service, mode: 'shared' },
      };
    case 'attach_container':
      return { frame: 'response', id, response: { result: 'attached', ip: '10.200.0.3' } };
    case 'status':
      return {
        frame: 'response',
        id,
        response: { result: 'status', peer_count: 0, service_count: 0 },
      };
    default:
      return { frame: 'response', id, response: { result: 'ok' } };
  }
}

export const answer: Script = (request) => ({ frames: [successFor(request)] });

export interface ScriptedServer {
  endpoint: string;
  /** Every request received, with the connection (1, 2, …) it came on. */
  received: Array<{ connection: number; frame: RequestFrame }>;
  connections: ServerConnection[];
  script: Script;
  /** Resolves once `count` requests have been received in all (at once if they have). */
  untilReceived(count: number): Promise<void>;
  /** Stop listening and drop every connection; the path stays free for a restart. */
  stop(): Promise<void>;
  /** Listen again on the same path. */
  restart(): Promise<void>;
  /** Stop and remove the temporary directory. */
  dispose(): Promise<void>;
}

export async function tempSocketPath(
  name = 'overlayd.sock',
): Promise<{ path: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ovl-'));
  return { path: join(dir, name), dir };
}

export async function startScriptedServer(script: Script = answer): Promise<ScriptedServer> {
  const { path, dir } = await tempSocketPath();
  let server: OverlaydServer | undefined;
  let connectionCount = 0;
  const receivedWaiters: Array<{ count: number; wake(): void }> = [];
  const state: ScriptedServer = {
    endpoint: path,
    received: [],
    connections: [],
    script,
    untilReceived: (count) =>
      new Promise((wake) => {
        if (state.received.length >= count) wake();
        else receivedWaiters.push({ count, wake });
      }),
    stop: async () => {
      await server?.close();
      server = undefined;
    },
    restart: async () => {
      server = await serve(path, handle, { group: null });
    },
    dispose: async () => {
      await state.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  async function handle(conn: ServerConnection): Promise<void> {
    const connection = ++connectionCount;
    state.connections.push(conn);
    for await (const frame of conn) {
      if (frame.frame !== 'request') continue;
      state.received.push({ connection, frame });
      for (const waiter of receivedWaiters.filter((w) => w.count <= state.received.length)) {
        receivedWaiters.splice(receivedWaiters.indexOf(waiter), 1);
        waiter.wake();
      }
      const reply = await state.script(frame, connection);
      if ('hangUp' in reply) {
        conn.destroy();
        return;
      }
      if ('frames' in reply) for (const out of reply.frames) conn.send(out);
    }
  }
  await state.restart();
  return state;
}
