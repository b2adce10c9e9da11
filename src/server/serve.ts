/**
 * The reference server's accept loop: bind the endpoint the way overlayd does
 * (PROTOCOL.md, "Endpoint") and run one handler per connection.
 */
import { chmod, chown, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ClosedError, IoError, OtherError, OverlaydError } from '../errors.js';
import {
  decodeFrame,
  encodeFrame,
  type OverlaydFrame,
  type OverlaydFrameInput,
} from '../protocol/index.js';
import { isWindowsPipe, unixSocketPathLimit } from '../transport/endpoint.js';
import { FramedConnection } from '../transport/framed-connection.js';

export interface ServeOptions {
  /** Mode of the socket file. Default 0o660. */
  mode?: number;
  /** Group to give the socket file when it exists in `groupFile`; `null` skips. Default `zlayer`. */
  group?: string | null;
  /** Where groups are looked up. Default `/etc/group`. */
  groupFile?: string;
  /**
   * A connection failed: an undecodable frame (CodecError), an oversized or
   * truncated frame, a socket error, or its handler threw (OtherError with the
   * thrown value as `cause`). The connection is closed; the server keeps going.
   */
  onConnectionError?: (error: OverlaydError, conn: ServerConnection) => void;
  /** The listening socket itself failed (e.g. accept hit EMFILE). */
  onError?: (error: Error) => void;
}

export type ConnectionHandler = (conn: ServerConnection) => void | Promise<void>;

export interface OverlaydServer {
  readonly endpoint: string;
  /** Connections currently open. */
  readonly connections: number;
  /** Stop listening, destroy open connections, remove the socket file. Idempotent. */
  close(): Promise<void>;
}

/** Frames queued before the socket is paused, for a handler slower than its peer. */
const HIGH_WATER = 64;
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** How a ServerConnection tells its server that it failed or ended. */
export interface ServerConnectionHooks {
  onError(error: OverlaydError, conn: ServerConnection): void;
  onEnd(conn: ServerConnection): void;
}

/**
 * One client connection, at the level of decoded frames. Iterate it (one
 * consumer) to read frames in order; the iteration ends when the connection
 * does. A frame that cannot be decoded ends the connection without an answer,
 * when the iteration reaches it (like the reference server, which reads the
 * next frame only after answering the previous one).
 */
export class ServerConnection implements AsyncIterable<OverlaydFrame> {
  /** Resolves, never rejects, with the reason the connection ended, whichever side ended it. */
  readonly remoteClosed: Promise<OverlaydError>;
  readonly #conn: FramedConnection;
  readonly #hooks: ServerConnectionHooks;
  #resolveClosed!: (reason: OverlaydError) => void;
  #queue: Uint8Array[] = [];
  #paused = false;
  #waiter: ((result: IteratorResult<OverlaydFrame, undefined>) => void) | undefined;
  #ended = false;
  /** Set when we end the connection ourselves; its end is then not reported as an error. */
  #local = false;

  /** @internal — created by `serve`. */
  constructor(socket: Socket, hooks: ServerConnectionHooks) {
    this.#hooks = hooks;
    this.remoteClosed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#conn = new FramedConnection(socket, { onBody: this.#onBody, onEnd: this.#onEnd });
  }

  /** True once the connection has ended; `send` then drops frames. */
  get closed(): boolean {
    return this.#ended;
  }

  /**
   * Send one frame. Returns false (and drops it) when the connection has
   * already ended. Throws FrameTooLargeError, or the codec's error, for a frame
   * that cannot be sent; nothing is written then.
   */
  send(frame: OverlaydFrameInput): boolean {
    if (this.#ended) return false;
    this.#conn.send(encodeFrame(frame));
    return true;
  }

  /** Flush what was sent, then close. Frames not yet read are dropped. Idempotent. */
  close(): void {
    this.#local = true;
    this.#conn.close();
  }

  /** Close at once. Idempotent. */
  destroy(reason?: OverlaydError): void {
    this.#local = true;
    this.#conn.destroy(reason);
  }

  /** The next frame, or `done` once the connection has ended. One waiter at a time. */
  next(): Promise<IteratorResult<OverlaydFrame, undefined>> {
    if (this.#waiter !== undefined) {
      return Promise.reject(new OtherError('a read of this connection is already pending'));
    }
    const ready = this.#take();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<OverlaydFrame, undefined> {
    return { next: () => this.next() };
  }

  /** Report `error` to the server's `onConnectionError`, and destroy the connection if still open. */
  abort(error: OverlaydError): void {
    this.#hooks.onError(error, this);
    if (this.#ended) return;
    this.#local = true;
    this.#conn.destroy(error);
  }

  #take(): IteratorResult<OverlaydFrame, undefined> | undefined {
    const body = this.#queue.shift();
    if (body === undefined) return this.#ended ? DONE : undefined;
    if (this.#paused && this.#queue.length === 0) {
      this.#paused = false;
      this.#conn.resume();
    }
    try {
      return { done: false, value: decodeFrame(body) };
    } catch (error) {
      this.abort(asOverlaydError(error, 'frame decoder failed'));
      this.#queue.length = 0;
      return DONE;
    }
  }

  readonly #onBody = (body: Uint8Array): void => {
    this.#queue.push(body);
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter(this.#take()!);
    } else if (!this.#paused && this.#queue.length >= HIGH_WATER) {
      this.#paused = true;
      this.#conn.pause();
    }
  };

  readonly #onEnd = (reason: OverlaydError): void => {
    this.#ended = true;
    // Frames already read are still handed out after the peer leaves, like
    // the reference; after a local close they are dropped.
    if (this.#local) this.#queue.length = 0;
    else if (!(reason instanceof ClosedError)) this.#hooks.onError(reason, this);
    this.#resolveClosed(reason);
    const waiter = this.#waiter;
    if (waiter !== undefined && this.#queue.length === 0) {
      this.#waiter = undefined;
      waiter(DONE);
    }
    this.#hooks.onEnd(this);
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function asOverlaydError(error: unknown, what: string): OverlaydError {
  if (error instanceof OverlaydError) return error;
  return new OtherError(`${what}: ${messageOf(error)}`, { cause: error });
}

/**
 * Listen on `endpoint` and run `handler` for each connection. On a Unix
 * socket path: create the parent directory, remove a stale socket file (one
 * nobody answers on; a live one fails with EADDRINUSE, anything that is not a
 * socket is refused), bind, chmod to `mode`, and give it `group` when that
 * group exists. A Windows pipe name is simply listened on.
 */
export async function serve(
  endpoint: string,
  handler: ConnectionHandler,
  opts: ServeOptions = {},
): Promise<OverlaydServer> {
  const server = createServer();
  const running = new RunningServer(endpoint, server, handler, opts);
  try {
    if (isWindowsPipe(endpoint)) await listen(server, endpoint);
    else await bindUnixSocket(server, endpoint, opts);
  } catch (error) {
    await running.close();
    if (error instanceof OverlaydError) throw error;
    throw new IoError(`cannot serve on ${endpoint}: ${messageOf(error)}`, { cause: error });
  }
  running.watchErrors();
  return running;
}

class RunningServer implements OverlaydServer {
  readonly endpoint: string;
  readonly #server: Server;
  readonly #conns = new Set<ServerConnection>();
  readonly #handler: ConnectionHandler;
  readonly #opts: ServeOptions;
  readonly #hooks: ServerConnectionHooks;
  #closing: Promise<void> | undefined;

  constructor(endpoint: string, server: Server, handler: ConnectionHandler, opts: ServeOptions) {
    this.endpoint = endpoint;
    this.#server = server;
    this.#handler = handler;
    this.#opts = opts;
    this.#hooks = {
      onError: (error, conn) => {
        try {
          opts.onConnectionError?.(error, conn);
        } catch (hookError) {
          process.emitWarning(`onConnectionError threw: ${messageOf(hookError)}`);
        }
      },
      onEnd: (conn) => this.#conns.delete(conn),
    };
    server.on('connection', this.#onConnection);
  }

  get connections(): number {
    return this.#conns.size;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const server = this.#server;
    const closed = new Promise<void>((resolve) => {
      // Resolves once every connection is gone; errors (not listening) are moot.
      server.close(() => resolve());
    });
    for (const conn of this.#conns) conn.destroy();
    await closed;
    // 'close' is emitted before libuv has released the listening handle; it
    // goes in the next close phase, which two check phases bracket.
    await nextCheckPhase();
    await nextCheckPhase();
    server.off('connection', this.#onConnection);
    server.off('error', this.#onServerError);
  }

  readonly #onServerError = (error: Error): void => {
    this.#opts.onError?.(error);
  };

  readonly #onConnection = (socket: Socket): void => {
    // server.close() closes the listening handle at once: no connection
    // arrives after it.
    const conn = new ServerConnection(socket, this.#hooks);
    this.#conns.add(conn);
    try {
      const result: unknown = this.#handler(conn);
      if (result instanceof Promise) {
        result.then(undefined, (error: unknown) =>
          conn.abort(asOverlaydError(error, 'connection handler failed')),
        );
      }
    } catch (error) {
      conn.abort(asOverlaydError(error, 'connection handler failed'));
    }
  };

  /** Once bound, errors of the listening socket go to `onError`. */
  watchErrors(): void {
    this.#server.on('error', this.#onServerError);
  }
}

function nextCheckPhase(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function listen(server: Server, endpoint: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(endpoint);
  });
}

async function bindUnixSocket(server: Server, endpoint: string, opts: ServeOptions): Promise<void> {
  // Node silently truncates a path that does not fit sun_path: refuse it instead.
  const bytes = Buffer.byteLength(endpoint);
  const max = unixSocketPathLimit(process.platform) - 1;
  if (bytes > max) {
    throw new IoError(`socket path too long: ${bytes} bytes (max ${max}): ${endpoint}`);
  }
  await mkdir(dirname(endpoint), { recursive: true });
  await listenReplacingStale(server, endpoint);
  await chmod(endpoint, opts.mode ?? 0o660);
  const group = opts.group === undefined ? 'zlayer' : opts.group;
  if (group !== null) await chownToGroup(endpoint, group, opts.groupFile ?? '/etc/group');
}

async function listenReplacingStale(server: Server, endpoint: string): Promise<void> {
  try {
    await listen(server, endpoint);
    return;
  } catch (error) {
    if (!isErrno(error, 'EADDRINUSE')) throw error;
  }
  // If the file cannot be examined (or vanished), the second listen reports why.
  const stat = await lstat(endpoint).catch(() => undefined);
  if (stat !== undefined) {
    if (!stat.isSocket()) {
      throw new IoError(`refusing to replace ${endpoint}: it exists and is not a socket`);
    }
    if (await isLive(endpoint)) {
      throw new IoError(`address in use: a server is already listening on ${endpoint}`, {
        cause: Object.assign(new Error(`listen EADDRINUSE: ${endpoint}`), { code: 'EADDRINUSE' }),
      });
    }
    await unlink(endpoint);
  }
  await listen(server, endpoint);
}

/** Whether something accepts connections on the socket at `path`. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error) => {
      probe.destroy();
      if (isErrno(error, 'ECONNREFUSED') || isErrno(error, 'ENOENT')) resolve(false);
      else
        reject(
          new IoError(`cannot tell whether ${path} is in use: ${error.message}`, { cause: error }),
        );
    });
  });
}

async function chownToGroup(path: string, group: string, groupFile: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(groupFile, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name !== group || gid === undefined || !/^\d+$/.test(gid)) continue;
    await chown(path, -1, Number(gid));
    return;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
