/**
 * The local relay between our process and the Stately inspector: an HTTP +
 * WebSocket server on 127.0.0.1 that serves a small bridge page embedding
 * the inspector (https://stately.ai/inspect by default) and forwards to it
 * the inspection events our client sends over a WebSocket.
 *
 * It replaces `createInspectorServer` from `@statelyai/inspect/server`, which
 * listens on every interface with no token, so anyone on the network, and
 * any web page the developer visits (WebSockets ignore CORS), could read the
 * client's inspection events or inject fake ones. Here every request passes
 * the loopback guard (`src/http/loopback-server.ts`); only connections without
 * an Origin header (our process, not a browser) may publish; pages only
 * receive.
 *
 * A page that connects late is sent every actor's registration (what the
 * inspector needs to draw the machine) and the latest `replayLimit` other
 * messages.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  closeLoopbackServer,
  LOOPBACK_HOST,
  listenOnLoopback,
  newToken,
  pageSecurityHeaders,
  refusalOf,
  refuseUpgrade,
  splitTarget,
} from '../http/loopback-server.js';
import { MAX_FRAME_BYTES } from '../protocol/limits.js';

export const STATELY_INSPECTOR_URL = 'https://stately.ai/inspect';

export interface StatelyRelayOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** The inspector page the bridge embeds. */
  inspectorUrl?: string;
  /** Messages (besides actor registrations) replayed to a page that connects late (default 200). */
  replayLimit?: number;
}

export interface StatelyRelay {
  /** `http://127.0.0.1:<port>/?token=…`: the page to open. */
  url: string;
  /** `ws://127.0.0.1:<port>/ws?token=…`: where our process publishes. */
  publishUrl: string;
  port: number;
  close(): Promise<void>;
}

/** An inspection event carries a snapshot, whose events may hold a whole response frame. */
const MAX_MESSAGE_BYTES = 2 * MAX_FRAME_BYTES;
/** A page this far behind is dropped rather than buffered for without end. */
const MAX_BUFFERED_BYTES = 4 * MAX_FRAME_BYTES;
/** Actor registrations kept for late pages (a socket actor registers per connection attempt). */
const ACTORS_REMEMBERED = 64;
/** How far into a message its type is looked for (the inspector's messages put it near the start). */
const TYPE_WINDOW = 1024;

const BRIDGE_CSS = 'html, body, iframe { margin: 0; border: 0; width: 100%; height: 100%; }\n';

/**
 * The bridge page's script: take messages from the relay and post them into
 * the inspector frame, holding them until the inspector says it is ready.
 */
const BRIDGE_JS = `'use strict';
(() => {
  const frame = document.getElementById('inspector');
  const inspectorOrigin = new URL(frame.src).origin;
  const held = [];
  let ready = false;
  const post = (message) => frame.contentWindow.postMessage(message, inspectorOrigin);
  window.addEventListener('message', (event) => {
    if (event.origin !== inspectorOrigin || event.source !== frame.contentWindow) return;
    if (!event.data || event.data.type !== '@statelyai.connected' || ready) return;
    ready = true;
    for (const message of held.splice(0)) post(message);
  });
  const token = new URLSearchParams(location.search).get('token') || '';
  const socket = new WebSocket('ws://' + location.host + '/ws?token=' + encodeURIComponent(token));
  socket.addEventListener('message', (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (ready) post(message);
    else if (held.push(message) > 5000) held.shift();
  });
})();
`;

function escapeAttribute(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');
}

/** The page; its assets are fetched with the token too (every request must carry it). */
function bridgeHtml(inspectorUrl: string, token: string): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<title>Stately inspector (overlayd-client)</title>',
    `<link rel="stylesheet" href="/bridge.css?token=${token}">`,
    '</head>',
    '<body>',
    `<iframe id="inspector" src="${escapeAttribute(inspectorUrl)}"></iframe>`,
    `<script src="/bridge.js?token=${token}"></script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** The last `limit` messages, plus every actor registration (the newest `ACTORS_REMEMBERED`). */
class ReplayBuffer {
  readonly #actors: string[] = [];
  readonly #recent: string[] = [];
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(message: string): void {
    const kept = message.slice(0, TYPE_WINDOW).includes('"type":"@xstate.actor"')
      ? this.#actors
      : this.#recent;
    kept.push(message);
    if (kept.length > (kept === this.#actors ? ACTORS_REMEMBERED : this.#limit)) kept.shift();
  }

  /** Registrations first: the inspector must know an actor before its snapshots. */
  messages(): string[] {
    return [...this.#actors, ...this.#recent];
  }
}

export async function startStatelyRelay(options: StatelyRelayOptions = {}): Promise<StatelyRelay> {
  const inspectorUrl = options.inspectorUrl ?? STATELY_INSPECTOR_URL;
  const inspectorOrigin = new URL(inspectorUrl).origin;
  const token = newToken();
  const replay = new ReplayBuffer(options.replayLimit ?? 200);
  const pages = new Set<WebSocket>();
  const publishers = new Set<WebSocket>();
  let port = 0;
  let closed = false;

  // The page frames the inspector; the Referer it would send holds the token, hence no-referrer.
  const securityHeaders = () => pageSecurityHeaders(port, [`frame-src ${inspectorOrigin}`]);

  const send = (res: ServerResponse, status: number, type: string, body: string): void => {
    res.writeHead(status, {
      ...securityHeaders(),
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  const assets: Record<string, { type: string; body: string }> = {
    '/': { type: 'text/html; charset=utf-8', body: bridgeHtml(inspectorUrl, token) },
    '/bridge.js': { type: 'text/javascript; charset=utf-8', body: BRIDGE_JS },
    '/bridge.css': { type: 'text/css; charset=utf-8', body: BRIDGE_CSS },
  };

  const server = createServer((request, res) => {
    const target = splitTarget(request.url);
    if (target === null) return send(res, 400, 'text/plain; charset=utf-8', 'bad request\n');
    const why = refusalOf(request, target.query, port, token);
    if (why !== null) return send(res, 403, 'text/plain; charset=utf-8', `forbidden (${why})\n`);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const asset = assets[target.path];
    if (asset === undefined) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return send(res, 200, asset.type, asset.body);
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
  });

  const publish = (text: string): void => {
    replay.add(text);
    for (const page of pages) {
      if (page.readyState !== page.OPEN) continue;
      if (page.bufferedAmount > MAX_BUFFERED_BYTES) page.terminate();
      else page.send(text);
    }
  };

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const target = splitTarget(request.url);
    if (target === null || target.path !== '/ws') return refuseUpgrade(socket, '404 Not Found');
    if (closed || refusalOf(request, target.query, port, token) !== null) {
      return refuseUpgrade(socket, '403 Forbidden');
    }
    // Browsers always send Origin on a WebSocket upgrade; our process does not.
    const isPage = request.headers.origin !== undefined;
    wss.handleUpgrade(request, socket, head, (ws) => {
      const group = isPage ? pages : publishers;
      group.add(ws);
      ws.on('close', () => group.delete(ws));
      ws.on('error', () => group.delete(ws));
      if (isPage) {
        for (const message of replay.messages()) ws.send(message);
      } else {
        ws.on('message', (data, isBinary) => {
          if (!isBinary) publish(data.toString());
        });
      }
    });
  });

  try {
    port = await listenOnLoopback(server, options.port ?? 0);
  } catch (error) {
    throw new Error(
      `cannot start the Stately inspector relay on port ${options.port ?? 0}: ${(error as Error).message}`,
    );
  }

  return {
    url: `http://${LOOPBACK_HOST}:${port}/?token=${token}`,
    publishUrl: `ws://${LOOPBACK_HOST}:${port}/ws?token=${token}`,
    port,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const ws of [...pages, ...publishers]) ws.terminate();
      await closeLoopbackServer(server, wss);
    },
  };
}
