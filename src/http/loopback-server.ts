/**
 * The rules and plumbing shared by our two local developer servers (the visualizer, and
 * the relay to the Stately inspector): listen on 127.0.0.1 only, and answer
 * only requests that carry the server's random token and come from this
 * machine's own address bar or pages.
 *
 * - Host must name the server by loopback address (`127.0.0.1:<port>` or
 *   `localhost:<port>`): a DNS-rebinding page cannot reach it under its own
 *   host name.
 * - Origin, when present (browsers send it on WebSocket upgrades and
 *   cross-origin fetches), must be the server's own origin: another web
 *   page can open `ws://127.0.0.1:<port>` (WebSockets ignore CORS), but is
 *   refused here.
 * - Sec-Fetch-Site, when present, must be `same-origin` or `none` (typed in
 *   the address bar).
 * - `?token=` must match, compared in constant time.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';

export const LOOPBACK_HOST = '127.0.0.1';

export type Refusal = 'host' | 'origin' | 'fetch-site' | 'token';

/** A fresh random token for a server's URLs. */
export function newToken(): string {
  return randomBytes(16).toString('hex');
}

export function tokensMatch(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(token, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A request target split into path and query; null when it is not origin-form (`/…`). */
export function splitTarget(
  url: string | undefined,
): { path: string; query: URLSearchParams } | null {
  if (url === undefined || !url.startsWith('/')) return null;
  const mark = url.indexOf('?');
  return mark < 0
    ? { path: url, query: new URLSearchParams() }
    : { path: url.slice(0, mark), query: new URLSearchParams(url.slice(mark + 1)) };
}

/** Why `req` is refused by the server on `port` holding `token`, or null when it may proceed. */
export function refusalOf(
  req: IncomingMessage,
  query: URLSearchParams,
  port: number,
  token: string,
): Refusal | null {
  const host = req.headers.host?.toLowerCase();
  if (host === undefined || (host !== `${LOOPBACK_HOST}:${port}` && host !== `localhost:${port}`)) {
    return 'host';
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) return 'origin';
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return 'fetch-site';
  if (!tokensMatch(query.get('token'), token)) return 'token';
  return null;
}

/** Answer a WebSocket upgrade with `status` (e.g. `403 Forbidden`) and hang up. */
export function refuseUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

/** Listen on 127.0.0.1:`port` (0 picks a free one); resolves with the port taken. */
export function listenOnLoopback(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK_HOST, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stop the WebSocket server and the HTTP server under it, dropping open connections. */
export async function closeLoopbackServer(server: Server, wss: WebSocketServer): Promise<void> {
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Response headers for the pages of the loopback server on `port`: nothing
 * loaded from elsewhere unless `directives` allows it (e.g. `frame-src …`),
 * sockets only back to this server, never framed, no Referer (our URLs hold
 * the token), never cached.
 */
export function pageSecurityHeaders(
  port: number,
  directives: readonly string[] = [],
): Record<string, string> {
  return {
    'Content-Security-Policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      ...directives,
      `connect-src 'self' ws://${LOOPBACK_HOST}:${port} ws://localhost:${port}`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}
