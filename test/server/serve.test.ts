import { lstat, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ClosedError,
  CodecError,
  FrameTooLargeError,
  IoError,
  OtherError,
  type OverlaydError,
} from '../../src/errors.js';
import type { OverlaydFrame } from '../../src/protocol/index.js';
import {
  type ConnectionHandler,
  type OverlaydServer,
  type ServeOptions,
  type ServerConnection,
  serve,
} from '../../src/server/serve.js';
import { encodeLengthPrefixed, FrameDecoder } from '../../src/transport/framing.js';
import { rejection } from '../support/rejection.js';

let dir: string;
const servers: OverlaydServer[] = [];
const sockets: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ovl-'));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

const statusRequest = (id: number): string =>
  `{"frame":"request","id":${id},"request":{"op":"status"}}`;

/** Answers every request with `ok`, echoing its id; ignores other frames. */
const okHandler: ConnectionHandler = async (conn) => {
  for await (const frame of conn) {
    if (frame.frame === 'request') {
      conn.send({ frame: 'response', id: frame.id, response: { result: 'ok' } } as OverlaydFrame);
    }
  }
};

async function start(
  handler: ConnectionHandler = okHandler,
  opts: ServeOptions = {},
  path = join(dir, 'run', 'overlayd.sock'),
): Promise<OverlaydServer> {
  const server = await serve(path, handler, { group: null, ...opts });
  servers.push(server);
  return server;
}

/** A raw client: writes bytes, collects decoded bodies (as text) and how the stream ended. */
interface RawClient {
  socket: Socket;
  bodies: string[];
  /** Resolves when the server side closes the connection. */
  closed: Promise<void>;
  send(body: string): void;
  write(bytes: Uint8Array): void;
  response(n: number): Promise<string[]>;
}

async function client(path: string): Promise<RawClient> {
  const socket = connect(path);
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const bodies: string[] = [];
  // Woken on each body and on the close: a wait for responses needs no polling.
  const wakes: Array<() => void> = [];
  const wake = () => {
    for (const w of wakes.splice(0)) w();
  };
  const decoder = new FrameDecoder((b) => {
    bodies.push(Buffer.from(b).toString('utf8'));
    wake();
  });
  socket.on('data', (c: Buffer) => decoder.push(c));
  socket.on('error', () => {});
  let ended = false;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true;
      wake();
      resolve();
    }),
  );
  return {
    socket,
    bodies,
    closed,
    send: (body) => socket.write(encodeLengthPrefixed(Buffer.from(body, 'utf8'))),
    write: (bytes) => socket.write(bytes),
    response: async (n) => {
      while (bodies.length < n) {
        if (ended) throw new Error(`the connection closed after ${bodies.length} of ${n} bodies`);
        await new Promise<void>((resolve) => wakes.push(resolve));
      }
      return bodies.slice(0, n);
    },
  };
}

const okResponse = (id: number): string =>
  `{"frame":"response","id":${id},"response":{"result":"ok"}}`;

const pipeHandles = (): number =>
  process.getActiveResourcesInfo().filter((r) => r.startsWith('Pipe')).length;

describe('serve on a Unix socket', () => {
  it('creates the parent directory, sets mode 0660 and answers requests', async () => {
    const path = join(dir, 'a', 'b', 'run', 'overlayd.sock');
    const server = await start(okHandler, {}, path);
    expect(server.endpoint).toBe(path);
    const st = await lstat(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);

    const c = await client(path);
    c.send(statusRequest(7));
    expect(await c.response(1)).toEqual([okResponse(7)]);
    expect(server.connections).toBe(1);
  });

  it('uses the mode it is given', async () => {
    const server = await start(okHandler, { mode: 0o600 });
    expect((await lstat(server.endpoint)).mode & 0o777).toBe(0o600);
  });

  it('removes a stale socket file nobody listens on', async () => {
    const path = join(dir, 'stale.sock');
    // A socket file whose listener is gone: bind elsewhere, move it, close.
    const old = createServer();
    await new Promise<void>((resolve) => old.listen(join(dir, 'tmp.sock'), resolve));
    await rename(join(dir, 'tmp.sock'), path);
    await new Promise((resolve) => old.close(resolve));
    expect((await lstat(path)).isSocket()).toBe(true);

    await start(okHandler, {}, path);
    const c = await client(path);
    c.send(statusRequest(1));
    expect(await c.response(1)).toEqual([okResponse(1)]);
  });

  it('refuses to replace a regular file, and leaves it alone', async () => {
    const path = join(dir, 'not-a-socket');
    await writeFile(path, 'precious');
    const error = await rejection(serve(path, okHandler, { group: null }), IoError);
    expect(error.message).toBe(`refusing to replace ${path}: it exists and is not a socket`);
    expect(await readFile(path, 'utf8')).toBe('precious');
  });

  it('refuses a path where a live server listens (EADDRINUSE), without stealing it', async () => {
    const first = await start();
    const error = await rejection(serve(first.endpoint, okHandler, { group: null }), IoError);
    expect(error.message).toContain('address in use');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    const c = await client(first.endpoint);
    c.send(statusRequest(2));
    expect(await c.response(1)).toEqual([okResponse(2)]);
  });

  it('wraps other setup failures in IoError naming the endpoint', async () => {
    const before = pipeHandles();
    await writeFile(join(dir, 'file'), '');
    const path = join(dir, 'file', 'overlayd.sock');
    const error = await rejection(serve(path, okHandler), IoError);
    expect(error.message).toMatch(/^cannot serve on .*overlayd\.sock: /);
    expect(pipeHandles()).toBe(before);
  });

  it('reports a bind failure other than EADDRINUSE (here: a directory refusing new files)', async () => {
    // /proc refuses new files even to root.
    const error = await rejection(
      serve('/proc/ovl-test.sock', okHandler, { group: null }),
      IoError,
    );
    expect(error.message).toMatch(/^cannot serve on \/proc\/ovl-test\.sock: listen E/);
  });

  it('refuses a path too long for sun_path instead of binding a truncated one', async () => {
    const path = join(dir, `${'x'.repeat(120)}.sock`);
    const error = await rejection(serve(path, okHandler, { group: null }), IoError);
    expect(error.message).toMatch(/^socket path too long: \d+ bytes \(max \d+\): /);
    expect(await readdir(dir)).toEqual([]);
  });

  it('just listens on a Windows pipe name: no directory, mode or group work', async () => {
    // On Linux the name is an ordinary relative socket path; run from the temp
    // dir so it lands there, and check that nothing chmod-ed it.
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const name = '\\\\.\\pipe\\ovl-test';
      const server = await start(okHandler, { group: 'zlayer', mode: 0o604 }, name);
      expect(server.endpoint).toBe(name);
      const st = await lstat(join(dir, name));
      expect(st.mode & 0o777).not.toBe(0o604);
      const c = await client(name);
      c.send(statusRequest(1));
      expect(await c.response(1)).toEqual([okResponse(1)]);
      await server.close();
    } finally {
      process.chdir(cwd);
    }
  });

  it('gives the socket to the group when the group exists', async () => {
    const groupFile = join(dir, 'group');
    await writeFile(groupFile, 'root:x:0:\nbad line\nzlayer:x:4242:alice,bob\n');
    const server = await start(okHandler, { group: 'zlayer', groupFile });
    expect((await lstat(server.endpoint)).gid).toBe(4242);
  });

  it('skips the group silently when it does not exist or the group file is unreadable', async () => {
    const groupFile = join(dir, 'group');
    await writeFile(groupFile, 'root:x:0:\nzlayerx:x:17:\n');
    const a = await start(okHandler, { group: 'zlayer', groupFile }, join(dir, 'a.sock'));
    const b = await start(
      okHandler,
      { group: 'zlayer', groupFile: join(dir, 'missing') },
      join(dir, 'b.sock'),
    );
    const c = await serve(join(dir, 'c.sock'), okHandler); // defaults: zlayer, /etc/group
    servers.push(c);
    const own = process.getgid?.() ?? 0;
    expect((await lstat(a.endpoint)).gid).toBe(own);
    expect((await lstat(b.endpoint)).gid).toBe(own);
    expect((await lstat(c.endpoint)).isSocket()).toBe(true);
  });
});

describe('connections', () => {
  it('answers pipelined requests strictly in order', async () => {
    const server = await start(async (conn) => {
      for await (const frame of conn) {
        if (frame.frame !== 'request') continue;
        // Later requests finish faster; order must still hold.
        await new Promise((r) => setTimeout(r, 10 - Number(frame.id)));
        conn.send({ frame: 'response', id: frame.id, response: { result: 'ok' } } as OverlaydFrame);
      }
    });
    const c = await client(server.endpoint);
    c.write(
      Buffer.concat(
        [1, 2, 3, 4, 5].map((id) => encodeLengthPrefixed(Buffer.from(statusRequest(id)))),
      ),
    );
    expect(await c.response(5)).toEqual([1, 2, 3, 4, 5].map(okResponse));
  });

  it('ignores non-request frames when the handler does, and accepts trailing whitespace', async () => {
    const server = await start();
    const c = await client(server.endpoint);
    c.send('{"frame":"response","id":9,"response":{"result":"ok"}}');
    c.send(`${statusRequest(3)}\n `);
    expect(await c.response(1)).toEqual([okResponse(3)]);
  });

  it.each([
    ['garbage JSON', encodeLengthPrefixed(Buffer.from('{not json')), CodecError],
    ['a zero-length body', encodeLengthPrefixed(new Uint8Array(0)), CodecError],
    ['an unknown frame tag', encodeLengthPrefixed(Buffer.from('{"frame":"nope"}')), CodecError],
    ['an oversized length prefix', new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]), FrameTooLargeError],
    ['a truncated body', new Uint8Array([9, 0, 0, 0, 1]), IoError],
  ])(
    'closes a connection that sends %s without answering; others keep working',
    async (_, bytes, kind) => {
      const errors: OverlaydError[] = [];
      const server = await start(okHandler, { onConnectionError: (e) => errors.push(e) });
      const good = await client(server.endpoint);
      const bad = await client(server.endpoint);
      bad.send(statusRequest(1));
      expect(await bad.response(1)).toEqual([okResponse(1)]);
      if (kind === IoError) bad.socket.end(bytes);
      else bad.write(bytes);
      await bad.closed;
      expect(bad.bodies).toHaveLength(1);
      await vi.waitFor(() => expect(errors).toHaveLength(1));
      expect(errors[0]).toBeInstanceOf(kind);

      good.send(statusRequest(2));
      expect(await good.response(1)).toEqual([okResponse(2)]);
      await vi.waitFor(() => expect(server.connections).toBe(1));
    },
  );

  it('answers the frames before an undecodable one, then closes (reference order)', async () => {
    const errors: OverlaydError[] = [];
    const server = await start(
      async (conn) => {
        for await (const frame of conn) {
          await new Promise((r) => setTimeout(r, 5));
          if (frame.frame === 'request') {
            conn.send({
              frame: 'response',
              id: frame.id,
              response: { result: 'ok' },
            } as OverlaydFrame);
          }
        }
      },
      { onConnectionError: (e) => errors.push(e) },
    );
    const c = await client(server.endpoint);
    c.write(
      Buffer.concat([
        encodeLengthPrefixed(Buffer.from(statusRequest(1))),
        encodeLengthPrefixed(Buffer.from(statusRequest(2))),
        encodeLengthPrefixed(Buffer.from('nonsense')),
        encodeLengthPrefixed(Buffer.from(statusRequest(3))),
      ]),
    );
    await c.closed;
    expect(c.bodies).toEqual([okResponse(1), okResponse(2)]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CodecError);
  });

  it.each([
    [
      'throws',
      (() => {
        throw new Error('sync boom');
      }) as ConnectionHandler,
      'sync boom',
    ],
    [
      'rejects',
      (async (conn: ServerConnection) => {
        await conn.next();
        throw new Error('async boom');
      }) as ConnectionHandler,
      'async boom',
    ],
    [
      'throws a non-Error',
      (() => {
        throw 'string boom';
      }) as ConnectionHandler,
      'string boom',
    ],
    [
      'throws an OverlaydError',
      (() => {
        throw new CodecError('codec boom');
      }) as ConnectionHandler,
      'codec boom',
    ],
  ])('contains a handler that %s to its own connection', async (_, bad, message) => {
    const errors: OverlaydError[] = [];
    let n = 0;
    const server = await start((conn) => (n++ === 0 ? bad(conn) : okHandler(conn)), {
      onConnectionError: (e) => errors.push(e),
    });
    const first = await client(server.endpoint);
    first.send(statusRequest(1));
    await first.closed;
    expect(first.bodies).toEqual([]);
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]!.message).toContain(message);
    if (!(errors[0] instanceof CodecError)) {
      expect(errors[0]).toBeInstanceOf(OtherError);
      const cause = errors[0]!.cause;
      expect(cause instanceof Error ? cause.message : cause).toBe(message);
    }
    const second = await client(server.endpoint);
    second.send(statusRequest(2));
    expect(await second.response(1)).toEqual([okResponse(2)]);
  });

  it('a throwing onConnectionError hook becomes a warning; the server goes on', async () => {
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    let n = 0;
    const server = await start(
      async (conn) => {
        if (n++ === 0) throw new Error('handler failed');
        await okHandler(conn);
      },
      {
        onConnectionError: () => {
          throw new Error('hook failed');
        },
      },
    );
    const first = await client(server.endpoint);
    await first.closed;
    expect((await warned).message).toBe('onConnectionError threw: hook failed');
    const second = await client(server.endpoint);
    second.send(statusRequest(1));
    expect(await second.response(1)).toEqual([okResponse(1)]);
  });

  it('a handler failing after its connection ended is still reported', async () => {
    const errors: OverlaydError[] = [];
    let conn!: ServerConnection;
    const server = await start(
      async (c) => {
        conn = c;
        await c.remoteClosed;
        throw new Error('late');
      },
      { onConnectionError: (e) => errors.push(e) },
    );
    const c = await client(server.endpoint);
    c.socket.end();
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(await conn.remoteClosed).toBeInstanceOf(ClosedError);
    expect(conn.closed).toBe(true);
  });

  it('hands out frames read before the peer left, but their answers are dropped', async () => {
    const seen: OverlaydFrame[] = [];
    const sent: boolean[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let conn!: ServerConnection;
    const server = await start(async (c) => {
      conn = c;
      await gate;
      for await (const frame of c) {
        seen.push(frame);
        sent.push(
          c.send({ frame: 'response', id: 1, response: { result: 'ok' } } as OverlaydFrame),
        );
      }
    });
    const c = await client(server.endpoint);
    c.socket.end(
      Buffer.concat([
        encodeLengthPrefixed(Buffer.from(statusRequest(1))),
        encodeLengthPrefixed(Buffer.from(statusRequest(2))),
      ]),
    );
    await c.closed;
    await vi.waitFor(() => expect(conn?.closed).toBe(true));
    release();
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    expect(sent).toEqual([false, false]);
    expect(await conn.remoteClosed).toBeInstanceOf(ClosedError);
  });

  it('keeps order under backpressure from a slow handler', async () => {
    const server = await start(async (conn) => {
      for await (const frame of conn) {
        if (frame.frame !== 'request') continue;
        if (Number(frame.id) % 50 === 0) await new Promise((r) => setTimeout(r, 5));
        conn.send({ frame: 'response', id: frame.id, response: { result: 'ok' } } as OverlaydFrame);
      }
    });
    const c = await client(server.endpoint);
    const ids = Array.from({ length: 300 }, (_, i) => i + 1);
    c.write(Buffer.concat(ids.map((id) => encodeLengthPrefixed(Buffer.from(statusRequest(id))))));
    expect(await c.response(300)).toEqual(ids.map(okResponse));
  });

  it('refuses a second concurrent read of one connection', async () => {
    let result: unknown;
    const server = await start(async (conn) => {
      const first = conn.next();
      result = await rejection(conn.next());
      await first;
    });
    const c = await client(server.endpoint);
    await vi.waitFor(() => expect(result).toBeInstanceOf(OtherError));
    c.send(statusRequest(1));
  });

  it('close() flushes what the handler sent; send after close returns false', async () => {
    let after: boolean | undefined;
    const server = await start(async (conn) => {
      const first = await conn.next();
      if (first.done === true || first.value.frame !== 'request') return;
      conn.send({
        frame: 'response',
        id: first.value.id,
        response: { result: 'ok' },
      } as OverlaydFrame);
      conn.close();
      conn.close();
      after = conn.send({ frame: 'response', id: 0, response: { result: 'ok' } } as OverlaydFrame);
      expect(await conn.next()).toEqual({ done: true, value: undefined });
    });
    const c = await client(server.endpoint);
    c.write(
      Buffer.concat([
        encodeLengthPrefixed(Buffer.from(statusRequest(4))),
        encodeLengthPrefixed(Buffer.from(statusRequest(5))),
      ]),
    );
    await c.closed;
    expect(c.bodies).toEqual([okResponse(4)]);
    expect(after).toBe(false);
    expect(server.connections).toBe(0);
  });

  it('a frame too large to send throws to the handler and writes nothing', async () => {
    let thrown: unknown;
    const server = await start(async (conn) => {
      await conn.next();
      try {
        conn.send({
          frame: 'response',
          id: 1,
          response: { result: 'err', message: 'x'.repeat(8 * 1024 * 1024) },
        } as OverlaydFrame);
      } catch (error) {
        thrown = error;
      }
      conn.send({ frame: 'response', id: 1, response: { result: 'ok' } } as OverlaydFrame);
    });
    const c = await client(server.endpoint);
    c.send(statusRequest(1));
    expect(await c.response(1)).toEqual([okResponse(1)]);
    expect(thrown).toBeInstanceOf(FrameTooLargeError);
  });
});

describe('server.close()', () => {
  it('stops listening, destroys connections, removes the socket file, leaves no handle', async () => {
    const handlesBefore = pipeHandles();
    const ends: OverlaydError[] = [];
    const server = await serve(
      join(dir, 'x', 'overlayd.sock'),
      (conn) => {
        void conn.remoteClosed.then((r) => ends.push(r));
      },
      { group: null },
    );
    const a = await client(server.endpoint);
    const b = await client(server.endpoint);
    await vi.waitFor(() => expect(server.connections).toBe(2));
    expect(pipeHandles()).toBe(handlesBefore + 5);

    const closing = server.close();
    expect(server.close()).toBe(closing);
    await closing;
    await Promise.all([a.closed, b.closed]);
    expect(server.connections).toBe(0);
    expect(ends.map((e) => e.constructor)).toEqual([ClosedError, ClosedError]);
    expect(pipeHandles()).toBe(handlesBefore);
    await expect(lstat(server.endpoint)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(client(server.endpoint)).rejects.toMatchObject({ code: 'ENOENT' });
    await server.close();
  });

  it('closes promptly with no connections', async () => {
    const before = pipeHandles();
    const server = await serve(join(dir, 'y.sock'), okHandler, { group: null });
    await server.close();
    expect(pipeHandles()).toBe(before);
    await expect(lstat(server.endpoint)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
