/**
 * The visualizer server over real HTTP and WebSocket: the token, Host, Origin
 * and Sec-Fetch-Site checks, the loopback-only bind, the relay to the page,
 * and the control buttons.
 */
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { createActor } from 'xstate';
import { connectionMachine } from '../../machines/connection.machine.js';
import { startVisualizer, type Visualizer } from '../../visualizer/index.js';
import { createFakeSocket } from '../support/fake-socket.js';
import { get, openWs, tcpConnect } from '../support/loopback-http.js';

function nextMessage(
  ws: WebSocket,
  predicate: (message: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      if (predicate(message)) {
        ws.off('message', onMessage);
        resolve(message);
      }
    };
    ws.on('message', onMessage);
  });
}

describe('visualizer server', () => {
  let viz: Visualizer;
  let calls = 0;

  beforeAll(async () => {
    viz = await startVisualizer({
      controls: {
        'send status request': async () => {
          calls++;
          return { id: 7n, ok: true, fn: () => 1 };
        },
        'kill overlayd': async () => {
          throw Object.assign(new Error('no overlayd running'), { code: 'ESRCH' });
        },
      },
    });
  });

  afterAll(async () => {
    await viz.close();
  });

  const own = () => `127.0.0.1:${viz.port}`;
  const withToken = (path: string, token = viz.token) => `${path}?token=${token}`;

  it('listens on 127.0.0.1 with a 128-bit random token in the URL', () => {
    expect(viz.token).toMatch(/^[0-9a-f]{32}$/);
    expect(viz.url).toBe(`http://127.0.0.1:${viz.port}/?token=${viz.token}`);
  });

  it('binds the loopback address 127.0.0.1 only', async () => {
    expect(await tcpConnect('127.0.0.1', viz.port)).toBe('connected');
    // A server bound to 0.0.0.0 would accept these; one bound to 127.0.0.1 does not.
    expect(await tcpConnect('127.0.0.2', viz.port)).toBe('ECONNREFUSED');
    expect(await tcpConnect('::1', viz.port)).not.toBe('connected');
    const external = Object.values(networkInterfaces())
      .flat()
      .filter((address) => address !== undefined && !address.internal);
    for (const address of external) {
      if (address === undefined || address.address.startsWith('fe80')) continue;
      expect(await tcpConnect(address.address, viz.port), address.address).not.toBe('connected');
    }
  });

  it('serves the page, its assets and the graph with the token', async () => {
    const page = await get(viz, withToken('/'), { host: own() });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain(`/app.js?token=${viz.token}`);
    expect(page.body).toContain(`/app.css?token=${viz.token}`);

    const app = await get(viz, withToken('/app.js'), { host: own() });
    expect(app.status).toBe(200);
    expect(app.headers['content-type']).toBe('text/javascript; charset=utf-8');
    // The modules app.js imports are served too, their imports given the token.
    expect(app.body).toContain(`./draw.js?token=${viz.token}`);
    const draw = await get(viz, withToken('/draw.js'), { host: own() });
    expect(draw.status).toBe(200);
    expect(draw.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(draw.body).not.toContain('{{token}}');

    const graph = await get(viz, withToken('/graph.json'), { host: own() });
    expect(graph.status).toBe(200);
    const layout = JSON.parse(graph.body) as { graph: { nodes: unknown[] }; nodes: unknown[] };
    expect(layout.graph.nodes).toHaveLength(9);

    expect((await get(viz, withToken('/app.css'), { host: `localhost:${viz.port}` })).status).toBe(
      200,
    );
  });

  it('sets a strict Content-Security-Policy and loads nothing from elsewhere', async () => {
    const page = await get(viz, withToken('/'), { host: own() });
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/https?:/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    const app = await get(viz, withToken('/app.js'), { host: own() });
    const css = await get(viz, withToken('/app.css'), { host: own() });
    for (const text of [page.body, app.body, css.body]) {
      // The SVG namespace is an identifier, never fetched.
      const urls = (text.match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s'"`)]*/gi) ?? []).filter(
        (url) => !url.startsWith('http://www.w3.org/2000/svg'),
      );
      expect(urls).toEqual([]);
      expect(text).not.toMatch(/@import|url\(\s*['"]?https?:/i);
    }
  });

  it('refuses the page and every asset without the token, or with a wrong one', async () => {
    const wrong = 'f'.repeat(32);
    for (const path of [
      '/',
      '/app.js',
      '/draw.js',
      '/app.css',
      '/graph.json',
      '/state.json',
      '/nope',
    ]) {
      expect((await get(viz, path, { host: own() })).status, path).toBe(403);
      expect((await get(viz, withToken(path, wrong), { host: own() })).status, path).toBe(403);
      expect((await get(viz, withToken(path, viz.token.slice(1)), { host: own() })).status).toBe(
        403,
      );
      expect((await get(viz, `${path}?token=`, { host: own() })).status).toBe(403);
    }
  });

  it('refuses a foreign Host header (DNS rebinding), even with the token', async () => {
    for (const host of [
      `evil.example:${viz.port}`,
      'evil.example',
      `127.0.0.1:${viz.port + 1}`,
      `127.0.0.1.evil.example:${viz.port}`,
      `[::1]:${viz.port}`,
    ]) {
      const reply = await get(viz, withToken('/'), { host });
      expect(reply.status, host).toBe(403);
      expect(reply.body).not.toContain(viz.token);
    }
  });

  it('refuses a request with no Host header', async () => {
    const status = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: viz.port }, () => {
        socket.write(`GET /?token=${viz.token} HTTP/1.0\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (chunk) => {
        text += String(chunk);
      });
      socket.on('end', () => resolve(text.split('\r\n')[0] ?? ''));
    });
    expect(status).toMatch(/^HTTP\/1\.[01] 403/);
  });

  it('refuses a foreign Origin, and cross-site fetches, even with the token', async () => {
    for (const origin of [
      'http://evil.example',
      `http://evil.example:${viz.port}`,
      'null',
      `https://127.0.0.1:${viz.port}`,
      `http://localhost:${viz.port}`, // a different origin from the Host the request names
    ]) {
      expect(
        (await get(viz, withToken('/graph.json'), { host: own(), origin })).status,
        origin,
      ).toBe(403);
    }
    expect(
      (await get(viz, withToken('/graph.json'), { host: own(), origin: `http://${own()}` })).status,
    ).toBe(200);
    for (const site of ['cross-site', 'same-site']) {
      expect(
        (await get(viz, withToken('/graph.json'), { host: own(), 'sec-fetch-site': site })).status,
      ).toBe(403);
    }
    expect((await get(viz, withToken('/'), { host: own(), 'sec-fetch-site': 'none' })).status).toBe(
      200,
    );
  });

  it('answers only GET and HEAD', async () => {
    expect((await get(viz, withToken('/'), { host: own() }, 'POST')).status).toBe(405);
    const head = await get(viz, withToken('/'), { host: own() }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await get(viz, withToken('/missing'), { host: own() })).status).toBe(404);
  });

  it('refuses the WebSocket upgrade without the token, with a foreign Origin or Host', async () => {
    const base = `ws://127.0.0.1:${viz.port}`;
    expect(await openWs(`${base}/ws`)).toEqual({ status: 403 });
    expect(await openWs(`${base}/ws?token=${'0'.repeat(32)}`)).toEqual({ status: 403 });
    expect(
      await openWs(`${base}/ws?token=${viz.token}`, { origin: 'http://evil.example' }),
    ).toEqual({
      status: 403,
    });
    expect(
      await openWs(`${base}/ws?token=${viz.token}`, {
        headers: { host: `evil.example:${viz.port}` },
      }),
    ).toEqual({ status: 403 });
    expect(await openWs(`${base}/other?token=${viz.token}`)).toEqual({ status: 404 });
  });

  it('accepts the WebSocket with the token and its own Origin, and greets with the controls', async () => {
    const opened = await openWs(`ws://127.0.0.1:${viz.port}/ws?token=${viz.token}`, {
      origin: `http://127.0.0.1:${viz.port}`,
    });
    expect('ws' in opened).toBe(true);
    if (!('ws' in opened)) return;
    expect(opened.first).toMatchObject({
      type: 'viz.hello',
      machineId: 'overlaydConnection',
      controls: ['send status request', 'kill overlayd'],
      current: null,
      transitions: [],
    });
    opened.ws.close();
  });

  it('runs a control when the page asks, and reports the result or the error', async () => {
    const opened = await openWs(`ws://127.0.0.1:${viz.port}/ws?token=${viz.token}`);
    if (!('ws' in opened)) throw new Error('refused');
    const { ws } = opened;

    const ok = nextMessage(ws, (m) => m.type === 'viz.control' && m.status === 'ok');
    ws.send(JSON.stringify({ type: 'control', name: 'send status request', id: 'a1' }));
    expect(await ok).toMatchObject({
      id: 'a1',
      name: 'send status request',
      result: { id: '7', ok: true },
    });
    expect(calls).toBe(1);

    const failed = nextMessage(ws, (m) => m.type === 'viz.control' && m.status === 'error');
    ws.send(JSON.stringify({ type: 'control', name: 'kill overlayd', id: 'a2' }));
    expect(await failed).toMatchObject({
      id: 'a2',
      error: { name: 'Error', message: 'no overlayd running', code: 'ESRCH' },
    });

    const unknown = nextMessage(ws, (m) => m.type === 'viz.control' && m.id === 'a3');
    ws.send(JSON.stringify({ type: 'control', name: 'constructor', id: 'a3' }));
    expect(await unknown).toMatchObject({ status: 'error', error: { name: 'UnknownControl' } });
    ws.send('not json');
    ws.close();
  });

  it('relays a live actor, and greets a late page with the current state and recent transitions', async () => {
    const first = await openWs(`ws://127.0.0.1:${viz.port}/ws?token=${viz.token}`);
    if (!('ws' in first)) throw new Error('refused');
    const sockets = createFakeSocket();
    const actor = createActor(connectionMachine.provide({ actors: { socket: sockets.logic } }), {
      input: { endpoint: '/run/overlayd.sock' },
      inspect: viz.inspect,
    });
    const connected = nextMessage(
      first.ws,
      (m) =>
        m.type === '@xstate.snapshot' &&
        JSON.stringify((m.snapshot as { value: unknown }).value) === '{"session":"connected"}',
    );
    actor.start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    expect(await connected).toMatchObject({
      sessionId: actor.sessionId,
      machineId: 'overlaydConnection',
      event: { type: 'socket.connected' },
      snapshot: { status: 'active', context: { stats: { connections: 1 } } },
    });
    first.ws.close();

    const late = await openWs(`ws://127.0.0.1:${viz.port}/ws?token=${viz.token}`);
    if (!('ws' in late)) throw new Error('refused');
    const hello = late.first as {
      current: { snapshot: { value: unknown } };
      transitions: Array<{ from: string; to: string; event: string }>;
    };
    expect(hello.current.snapshot.value).toEqual({ session: 'connected' });
    expect(hello.transitions.map((t) => `${t.from} -> ${t.to} (${t.event})`)).toEqual([
      ' -> idle (xstate.init)',
      'idle -> session.connecting (connect)',
      'session.connecting -> session.connected (socket.connected)',
    ]);
    const state = await get(viz, withToken('/state.json'), { host: own() });
    expect(JSON.parse(state.body)).toMatchObject({ current: { sessionId: actor.sessionId } });
    late.ws.close();
    actor.stop();
  });

  it('caps what it sends when a context is huge', async () => {
    const opened = await openWs(`ws://127.0.0.1:${viz.port}/ws?token=${viz.token}`);
    if (!('ws' in opened)) throw new Error('refused');
    const huge = Array.from({ length: 100 }, () =>
      Array.from({ length: 100 }, () => 'x'.repeat(100)),
    );
    const received = nextMessage(opened.ws, (m) => m.type === '@xstate.event');
    const sizes: number[] = [];
    opened.ws.on('message', (data) => sizes.push(String(data).length));
    viz.inspect({
      type: '@xstate.event',
      rootId: 'r',
      actorRef: { id: 'big', sessionId: 'big:0', send: () => {} },
      sourceRef: undefined,
      event: { type: 'huge', huge },
    } as never);
    expect(await received).toMatchObject({
      event: { type: 'huge', '@truncated': expect.any(String) },
    });
    expect(Math.max(...sizes)).toBeLessThan(300 * 1024);
    opened.ws.close();
  });
});

describe('visualizer server lifecycle', () => {
  it('closes with pages connected, and ignores inspection after close', async () => {
    const viz = await startVisualizer({ port: 0 });
    const opened = await openWs(`ws://127.0.0.1:${viz.port}/ws?token=${viz.token}`);
    expect('ws' in opened).toBe(true);
    const closedByServer = new Promise<void>((resolve) => {
      if ('ws' in opened) opened.ws.once('close', () => resolve());
    });
    await viz.close();
    await closedByServer;
    await viz.close();
    expect(() =>
      viz.inspect({ type: '@xstate.event', actorRef: {}, rootId: '' } as never),
    ).not.toThrow();
    expect(await tcpConnect('127.0.0.1', viz.port)).toBe('ECONNREFUSED');
  });
});
