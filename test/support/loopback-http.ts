/**
 * Probing our loopback developer servers (the visualizer, the Stately relay)
 * from the outside: raw HTTP with any headers, WebSocket upgrades with any
 * Origin, and bare TCP connects to tell which addresses a server listens on.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function get(
  server: { port: number },
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a WebSocket; resolves with the socket and its first message, or the refusal status. */
export function openWs(
  url: string,
  options: { origin?: string; headers?: Record<string, string> } = {},
): Promise<{ ws: WebSocket; first: Record<string, unknown> } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      ...(options.origin !== undefined ? { origin: options.origin } : {}),
      ...(options.headers !== undefined ? { headers: options.headers } : {}),
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once('message', (data) => resolve({ ws, first: JSON.parse(String(data)) }));
    ws.once('error', (error) => {
      if (!String(error.message).includes('Unexpected server response')) reject(error);
    });
  });
}

export function tcpConnect(host: string, port: number): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
