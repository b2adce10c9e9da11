/**
 * The live visualizer: an HTTP + WebSocket server on 127.0.0.1 that serves a
 * self-contained page drawing the statechart, and relays XState inspection
 * events to it.
 *
 * Every request must carry the random token (`?token=…`) and a Host header
 * naming this server by loopback address (`127.0.0.1:<port>` or
 * `localhost:<port>`, against DNS rebinding); an Origin header, when present,
 * must be this server's own origin, and a `Sec-Fetch-Site` header must say the
 * request came from this page or from the address bar. Anything else gets 403,
 * WebSocket upgrades included, so another web page can neither read the state
 * nor press the control buttons. The page loads nothing from elsewhere, and a
 * strict Content-Security-Policy holds it to that.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type WebSocket, WebSocketServer } from 'ws';
import type { AnyStateMachine, InspectionEvent } from 'xstate';
import { connectionMachine } from '../machines/connection.machine.js';
import {
  closeLoopbackServer,
  LOOPBACK_HOST as HOST,
  listenOnLoopback,
  newToken,
  pageSecurityHeaders,
  refusalOf,
  refuseUpgrade,
  splitTarget,
} from '../src/http/loopback-server.js';
import { machineGraph } from './graph.js';
import { type LayoutOptions, layoutMachine } from './layout.js';
import { InspectionRelay, type RelayMessage } from './relay.js';
import { errorJson, toSafeJson } from './serialize.js';

export type Control = () => Promise<unknown>;

export interface VisualizerOptions {
  /** The machine to draw (default: the overlayd connection machine). */
  machine?: AnyStateMachine;
  /**
   * Machines drawn below it, each highlighted live from the snapshots of the
   * actors that run it (e.g. the overlay manager's, beside the connection's).
   */
  companions?: AnyStateMachine[];
  /** 0 (default) picks a free port. */
  port?: number;
  /** Buttons on the page; clicking one runs its function here and reports the outcome. */
  controls?: Record<string, Control>;
  /** Page heading (default: the machine id). */
  title?: string;
  /** Transitions kept for a page that connects late (default 200). */
  transitionLimit?: number;
  /** How the chart is laid out. */
  layout?: LayoutOptions;
}

export interface Visualizer {
  /** `http://127.0.0.1:<port>/?token=<token>`: open this. */
  url: string;
  token: string;
  port: number;
  /** Pass as the actor's (or OverlaydClient's) `inspect` option. Never throws. */
  inspect: (inspectionEvent: InspectionEvent) => void;
  close(): Promise<void>;
}

/** Messages larger than this are sent with their context and event elided. */
const MAX_MESSAGE_BYTES = 256 * 1024;
/** A page this far behind is dropped rather than buffered for without end. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_INBOUND_BYTES = 4 * 1024;

function pageDirectory(): URL {
  // From source, the page sits next to this file; from dist/visualizer, it is in the source tree.
  const candidates = [
    new URL('./page/', import.meta.url),
    new URL('../../visualizer/page/', import.meta.url),
  ];
  for (const candidate of candidates) {
    try {
      readFileSync(new URL('index.html', candidate));
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    `visualizer page not found (looked in ${candidates.map((c) => fileURLToPath(c)).join(', ')})`,
  );
}

function encode(message: unknown): string {
  const text = JSON.stringify(message);
  if (text.length <= MAX_MESSAGE_BYTES) return text;
  const elided = { ...(message as Record<string, unknown>) };
  for (const key of ['event', 'snapshot', 'action', 'result', 'current', 'events']) {
    if (!(key in elided)) continue;
    const part = JSON.stringify(elided[key]) ?? '';
    const type = (elided[key] as { type?: unknown } | null)?.type;
    elided[key] = {
      ...(typeof type === 'string' ? { type } : {}),
      '@truncated': `${part.length} bytes`,
    };
  }
  return JSON.stringify(elided);
}

export async function startVisualizer(options: VisualizerOptions = {}): Promise<Visualizer> {
  const machine = options.machine ?? connectionMachine;
  const controls = new Map(Object.entries(options.controls ?? {}));
  const token = newToken();
  const graph = machineGraph(machine);
  const layout = await layoutMachine(graph, options.layout);
  const title = options.title ?? machine.id;
  const companionLayouts = await Promise.all(
    (options.companions ?? []).map((companion) =>
      layoutMachine(machineGraph(companion), options.layout),
    ),
  );
  const companionIds = new Set(companionLayouts.map((layout) => layout.graph.id));
  /** The newest snapshot of each companion machine, for a page that connects late. */
  const companionSnapshots = new Map<string, RelayMessage>();

  const directory = pageDirectory();
  const read = (name: string): string => readFileSync(new URL(name, directory), 'utf8');
  const indexHtml = read('index.html');
  const script = (name: string) => ({
    type: 'text/javascript; charset=utf-8',
    // The page's modules import each other with the token in the URL, as every request needs it.
    body: read(name).replaceAll('{{token}}', token),
  });
  const scripts = readdirSync(directory).filter((name) => name.endsWith('.js'));
  const assets: Record<string, { type: string; body: string }> = {
    ...Object.fromEntries(scripts.map((name) => [`/${name}`, script(name)])),
    '/app.css': { type: 'text/css; charset=utf-8', body: read('app.css') },
    '/graph.json': { type: 'application/json; charset=utf-8', body: JSON.stringify(layout) },
    '/companions.json': {
      type: 'application/json; charset=utf-8',
      body: JSON.stringify(companionLayouts),
    },
  };

  const clients = new Set<WebSocket>();
  let closed = false;

  const broadcast = (message: unknown): void => {
    if (clients.size === 0) return;
    const text = encode(message);
    for (const client of clients) {
      if (client.readyState !== client.OPEN) continue;
      if (client.bufferedAmount > MAX_BUFFERED_BYTES) {
        client.terminate();
        continue;
      }
      client.send(text);
    }
  };

  const relay = new InspectionRelay({
    machineId: machine.id,
    ...(options.transitionLimit !== undefined ? { transitionLimit: options.transitionLimit } : {}),
    emit: (message) => {
      const machineId = (message as { machineId?: unknown }).machineId;
      if (message.type === '@xstate.snapshot' && companionIds.has(machineId as string)) {
        companionSnapshots.set(machineId as string, message);
      }
      broadcast(message);
    },
  });

  let port = 0;
  /** Why a request is refused, or null when it may proceed. Same rules for HTTP and WebSocket. */
  const refusal = (req: IncomingMessage, query: URLSearchParams) =>
    refusalOf(req, query, port, token);

  const securityHeaders = () => pageSecurityHeaders(port, ["img-src 'self' data:"]);

  const send = (res: ServerResponse, status: number, type: string, body: string, head = false) => {
    res.writeHead(status, {
      ...securityHeaders(),
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(head ? undefined : body);
  };

  const server = createServer((req, res) => {
    const target = splitTarget(req.url);
    if (target === null) return send(res, 400, 'text/plain; charset=utf-8', 'bad request\n');
    const why = refusal(req, target.query);
    if (why !== null) return send(res, 403, 'text/plain; charset=utf-8', `forbidden (${why})\n`);
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    if (target.path === '/' || target.path === '/index.html') {
      const html = indexHtml
        .replaceAll('{{token}}', token)
        .replaceAll('{{title}}', escapeHtml(title));
      return send(res, 200, 'text/html; charset=utf-8', html, head);
    }
    if (target.path === '/state.json') {
      return send(res, 200, 'application/json; charset=utf-8', encode(hello()), head);
    }
    const asset = assets[target.path];
    if (asset) return send(res, 200, asset.type, asset.body, head);
    return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  });

  const hello = () => ({
    type: 'viz.hello',
    title,
    machineId: machine.id,
    controls: [...controls.keys()],
    ...relay.state(),
    companions: [...companionSnapshots.values()],
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_INBOUND_BYTES,
    perMessageDeflate: false,
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const target = splitTarget(req.url);
    if (target === null || target.path !== '/ws') return refuseUpgrade(socket, '404 Not Found');
    if (refusal(req, target.query) !== null || closed)
      return refuseUpgrade(socket, '403 Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => clients.delete(ws));
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        void onClientMessage(ws, data.toString());
      });
      ws.send(encode(hello()));
    });
  });

  const onClientMessage = async (ws: WebSocket, text: string): Promise<void> => {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const { type, name, id } = (message ?? {}) as { type?: unknown; name?: unknown; id?: unknown };
    if (type !== 'control' || typeof name !== 'string') return;
    const requestId = typeof id === 'string' && id.length <= 64 ? id : null;
    const control = controls.get(name);
    if (control === undefined) {
      if (ws.readyState === ws.OPEN) {
        ws.send(
          encode({
            type: 'viz.control',
            id: requestId,
            name: name.slice(0, 64),
            status: 'error',
            error: { name: 'UnknownControl', message: 'no such control' },
          }),
        );
      }
      return;
    }
    broadcast({ type: 'viz.control', id: requestId, name, status: 'started', at: Date.now() });
    try {
      const result = await control();
      broadcast({
        type: 'viz.control',
        id: requestId,
        name,
        status: 'ok',
        at: Date.now(),
        result: toSafeJson(result) ?? null,
      });
    } catch (error) {
      broadcast({
        type: 'viz.control',
        id: requestId,
        name,
        status: 'error',
        at: Date.now(),
        error: errorJson(error),
      });
    }
  };

  port = await listenOnLoopback(server, options.port ?? 0);

  return {
    url: `http://${HOST}:${port}/?token=${token}`,
    token,
    port,
    inspect: (inspectionEvent) => {
      if (!closed) relay.inspect(inspectionEvent);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const client of clients) client.terminate();
      clients.clear();
      await closeLoopbackServer(server, wss);
    },
  };
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
