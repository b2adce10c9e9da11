/**
 * The simulated overlayd: the engine behind the reference accept loop.
 *
 * Like the reference server, each connection's requests are handled strictly
 * in order (read one request, handle it, write its response); frames that are
 * not requests are ignored. Events a request causes are pushed, after its
 * response, to every open connection. `shutdown` is answered `ok`, then its
 * connection is closed and the server stops.
 */
import { IoError, type OverlaydError } from '../errors.js';
import type { Op, OverlaydEvent, OverlaydRequest, U64 } from '../protocol/index.js';
import { Engine } from './engine/engine.js';
import { type OverlaydServer, type ServeOptions, type ServerConnection, serve } from './serve.js';

/** One request as the server began handling it. */
export interface RequestLogEntry {
  /** Which connection sent it: 1 for the first accepted, and so on. */
  connection: number;
  id: U64;
  op: Op;
  request: OverlaydRequest;
  /** When handling began, in ms since the epoch. */
  at: number;
}

export interface StartOverlaydOptions {
  /** The Unix socket path (or Windows pipe name) to listen on. */
  socket: string;
  /** The engine to serve; a fresh one by default. */
  engine?: Engine;
  /** Diagnostics (connection failures). Silent by default. */
  log?: (message: string) => void;
  /** Called for each request just before it is handled. */
  onRequest?: (entry: RequestLogEntry) => void;
  /**
   * Called for each request before the engine: a message answers it `err`
   * without reaching the engine (tests of recovery, e.g. a RefusalPlan).
   */
  refuse?: (request: OverlaydRequest) => string | undefined;
  /** Socket file mode and group, as for `serve`. */
  serve?: Pick<ServeOptions, 'mode' | 'group' | 'groupFile'>;
}

export interface RunningOverlayd {
  readonly endpoint: string;
  readonly engine: Engine;
  /** Resolves once the server has stopped (after `shutdown` or `close()`). */
  readonly closed: Promise<void>;
  /** Stop: close every connection and remove the socket file. Idempotent. */
  close(): Promise<void>;
}

export async function startOverlayd(options: StartOverlaydOptions): Promise<RunningOverlayd> {
  const engine = options.engine ?? new Engine();
  const { log, onRequest, refuse } = options;
  const open = new Set<ServerConnection>();
  let connections = 0;
  let stopping: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });

  const broadcast = (event: OverlaydEvent): void => {
    for (const conn of open) conn.send({ frame: 'event', ...event });
  };

  const handleConnection = async (conn: ServerConnection): Promise<void> => {
    const connection = ++connections;
    open.add(conn);
    try {
      for await (const frame of conn) {
        if (frame.frame !== 'request') continue;
        const { id, request } = frame;
        onRequest?.({ connection, id, op: request.op, request, at: Date.now() });
        const refusal = refuse?.(request);
        const { response, events } =
          refusal === undefined
            ? engine.handle(request)
            : { response: { result: 'err' as const, message: refusal }, events: [] };
        conn.send({ frame: 'response', id, response });
        for (const event of events) broadcast(event);
        if (request.op === 'shutdown') {
          conn.close();
          void stop();
          return;
        }
      }
    } finally {
      open.delete(conn);
    }
  };

  const onConnectionError = (error: OverlaydError): void => {
    const left = clientLeft(error);
    log?.(
      left === undefined
        ? `overlayd: connection failed: ${error.message}`
        : `overlayd: client hung up before its answer was written (${left})`,
    );
  };
  const server: OverlaydServer = await serve(options.socket, handleConnection, {
    ...options.serve,
    onConnectionError,
    onError: (error) => log?.(`overlayd: listener failed: ${error.message}`),
  });

  const stop = (): Promise<void> => {
    stopping ??= server.close().then(resolveClosed);
    return stopping;
  };

  return { endpoint: server.endpoint, engine, closed, close: stop };
}

/**
 * The OS error code when `error` only means the client went away while we
 * were writing to it (EPIPE) or reading from it (ECONNRESET): a one-shot
 * `overlayctl` that exits as an event is pushed, say. Nothing on our side
 * failed, so it is not logged as a failure.
 */
function clientLeft(error: OverlaydError): string | undefined {
  if (!(error instanceof IoError)) return undefined;
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ECONNRESET' ? code : undefined;
}
