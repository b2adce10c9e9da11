/**
 * The relay to the Stately inspector over real HTTP and WebSocket: loopback
 * only, the token, Host and Origin checks, publishing only from our process,
 * what a late page is sent, and a real XState actor's inspection reaching a
 * page through @statelyai/inspect's WebSocket client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createActor, setup } from 'xstate';
import { startStatelyInspector } from '../../src/cli/inspect.js';
import { type StatelyRelay, startStatelyRelay } from '../../src/cli/stately-relay.js';
import { get, openWs, tcpConnect } from '../support/loopback-http.js';

const relays: StatelyRelay[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const relay of relays.splice(0)) await relay.close();
});

async function relay(options: Parameters<typeof startStatelyRelay>[0] = {}) {
  const started = await startStatelyRelay(options);
  relays.push(started);
  return started;
}

const tokenOf = (r: StatelyRelay) => new URL(r.url).searchParams.get('token') ?? '';

/** Our process's side: a publisher (no Origin header). */
async function publisher(r: StatelyRelay): Promise<WebSocket> {
  const ws = new WebSocket(r.publishUrl);
  sockets.push(ws);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return ws;
}

/** The page's side: Origin is the relay's own; collects every message. */
async function page(r: StatelyRelay): Promise<{ ws: WebSocket; messages: string[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${r.port}/ws?token=${tokenOf(r)}`, {
    origin: `http://127.0.0.1:${r.port}`,
  });
  sockets.push(ws);
  const messages: string[] = [];
  ws.on('message', (data) => messages.push(String(data)));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return { ws, messages };
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A message as @statelyai/inspect sends it: `name` first, then `type`. */
const actorMessage = (name: string) =>
  JSON.stringify({ name, type: '@xstate.actor', sessionId: name, _version: 'test' });
const snapshotMessage = (n: number) =>
  JSON.stringify({ type: '@xstate.snapshot', sessionId: 'x:0', n, _version: 'test' });

describe('Stately inspector relay', () => {
  it('listens on 127.0.0.1 only, with a 128-bit token in its URLs', async () => {
    const r = await relay();
    expect(r.url).toBe(`http://127.0.0.1:${r.port}/?token=${tokenOf(r)}`);
    expect(r.publishUrl).toBe(`ws://127.0.0.1:${r.port}/ws?token=${tokenOf(r)}`);
    expect(tokenOf(r)).toMatch(/^[0-9a-f]{32}$/);
    expect(await tcpConnect('127.0.0.1', r.port)).toBe('connected');
    // Bound to 0.0.0.0 (as @statelyai/inspect/server is) it would accept these.
    expect(await tcpConnect('127.0.0.2', r.port)).toBe('ECONNREFUSED');
    expect(await tcpConnect('::1', r.port)).not.toBe('connected');
  });

  it('serves the bridge page with the token only, under a strict policy', async () => {
    const r = await relay({ inspectorUrl: 'https://inspector.example/inspect?x=1&y="2"' });
    const own = { host: `127.0.0.1:${r.port}` };
    const html = await get(r, `/?token=${tokenOf(r)}`, own);
    expect(html.status).toBe(200);
    expect(html.body).toContain(
      '<iframe id="inspector" src="https://inspector.example/inspect?x=1&amp;y=&quot;2&quot;">',
    );
    const csp = String(html.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain('frame-src https://inspector.example');
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${r.port} ws://localhost:${r.port}`);
    // The page URL holds the token: no Referer may carry it to the inspector.
    expect(html.headers['referrer-policy']).toBe('no-referrer');
    const script = await get(r, `/bridge.js?token=${tokenOf(r)}`, own);
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.body).toContain("'@statelyai.connected'");

    expect((await get(r, '/', own)).status).toBe(403);
    expect((await get(r, '/?token=0123', own)).status).toBe(403);
    // DNS rebinding: the right token under another host name.
    expect((await get(r, `/?token=${tokenOf(r)}`, { host: `evil.example:${r.port}` })).status).toBe(
      403,
    );
    expect(
      (await get(r, `/?token=${tokenOf(r)}`, { ...own, origin: 'http://evil.example' })).status,
    ).toBe(403);
    expect((await get(r, `/nothing?token=${tokenOf(r)}`, own)).status).toBe(404);
    expect((await get(r, `/?token=${tokenOf(r)}`, own, 'POST')).status).toBe(405);
  });

  it('refuses WebSockets without the token, from another origin, or off /ws', async () => {
    const r = await relay();
    const base = `ws://127.0.0.1:${r.port}`;
    expect(await openWs(`${base}/ws`)).toEqual({ status: 403 });
    expect(await openWs(`${base}/ws?token=${'0'.repeat(32)}`)).toEqual({ status: 403 });
    // Any web page can open ws://127.0.0.1:<port>; its Origin gives it away.
    expect(
      await openWs(`${base}/ws?token=${tokenOf(r)}`, { origin: 'http://evil.example' }),
    ).toEqual({ status: 403 });
    expect(await openWs(`${base}/?token=${tokenOf(r)}`)).toEqual({ status: 404 });
  });

  it('forwards what our process publishes to every page, and nothing a page sends', async () => {
    const r = await relay();
    const pub = await publisher(r);
    const [a, b] = [await page(r), await page(r)];
    pub.send(snapshotMessage(1));
    await until(() => a.messages.length === 1 && b.messages.length === 1, 'both pages');
    expect(a.messages).toEqual([snapshotMessage(1)]);
    // A page cannot inject events into the other page, nor into what late pages get.
    a.ws.send(snapshotMessage(666));
    pub.send(snapshotMessage(2));
    await until(() => b.messages.length === 2, 'the second message');
    expect(b.messages).toEqual([snapshotMessage(1), snapshotMessage(2)]);
    const late = await page(r);
    await until(() => late.messages.length === 2, 'the replay');
    expect(late.messages).toEqual([snapshotMessage(1), snapshotMessage(2)]);
  });

  it('sends a late page every actor registration and the latest messages', async () => {
    const r = await relay({ replayLimit: 3 });
    const pub = await publisher(r);
    pub.send(actorMessage('overlaydConnection'));
    for (let n = 1; n <= 10; n++) pub.send(snapshotMessage(n));
    pub.send(actorMessage('socket'));
    const first = await page(r);
    // Let every published message reach the relay first.
    pub.send(snapshotMessage(11));
    await until(() => first.messages.includes(snapshotMessage(11)), 'the last message');
    const late = await page(r);
    await until(() => late.messages.length === 5, 'the replay');
    expect(late.messages).toEqual([
      actorMessage('overlaydConnection'),
      actorMessage('socket'),
      snapshotMessage(9),
      snapshotMessage(10),
      snapshotMessage(11),
    ]);
  });

  it('says which port it could not take', async () => {
    const r = await relay();
    await expect(startStatelyRelay({ port: r.port })).rejects.toThrow(
      new RegExp(`^cannot start the Stately inspector relay on port ${r.port}: listen EADDRINUSE`),
    );
  });

  it('refuses new connections once closed', async () => {
    const r = await startStatelyRelay();
    const pub = await publisher(r);
    const closedPub = new Promise((resolve) => pub.once('close', resolve));
    await r.close();
    await closedPub;
    expect(await tcpConnect('127.0.0.1', r.port)).toBe('ECONNREFUSED');
    await r.close(); // idempotent
  });
});

describe('startStatelyInspector', () => {
  it("carries a real actor's inspection events to a page, in the inspector's format", async () => {
    const inspection = await startStatelyInspector(0);
    try {
      const machine = setup({}).createMachine({
        id: 'relayProbe',
        initial: 'off',
        states: { off: { on: { flip: 'on' } }, on: {} },
      });
      const actor = createActor(machine, { inspect: inspection.inspect }).start();
      actor.send({ type: 'flip' });
      const url = new URL(inspection.url);
      const ws = new WebSocket(`ws://${url.host}/ws${url.search}`, { origin: url.origin });
      sockets.push(ws);
      const messages: Array<Record<string, unknown>> = [];
      ws.on('message', (data) => messages.push(JSON.parse(String(data))));
      await until(
        () =>
          messages.some((m) => m.type === '@xstate.snapshot' && JSON.stringify(m).includes('"on"')),
        'the snapshot after flip',
      );
      const registration = messages.find((m) => m.type === '@xstate.actor');
      expect(registration).toMatchObject({ name: 'relayProbe' });
      expect(messages.indexOf(registration!)).toBe(0);
      actor.stop();
    } finally {
      await inspection.stop();
    }
  });
});
