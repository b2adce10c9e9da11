/**
 * The visualizer page in the Debian Chromium, driven through playwright-core:
 * it draws every state of the machine, follows a live actor (the connection
 * machine with the scripted fake socket), runs the control buttons, and lists
 * the transitions. Set VISUALIZER_SCREENSHOT=docs/visualizer.png to save the
 * README screenshot taken mid-run.
 */
import { writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, createActor } from 'xstate';
import { connectionMachine } from '../../machines/connection.machine.js';
import { machineGraph } from '../../visualizer/graph.js';
import { startVisualizer, type Visualizer } from '../../visualizer/index.js';
import { launchChromium } from '../support/browser.js';
import { createFakeSocket, type FakeSocketHarness } from '../support/fake-socket.js';

const ID = 'overlaydConnection';
const graph = machineGraph(connectionMachine);

const leaf = (path: string) => `[data-state="${ID}.${path}"].active.leaf`;

async function activeLeaves(page: Page): Promise<string[]> {
  return page.$$eval('[data-state].active.leaf', (els) =>
    els.map((el) => el.getAttribute('data-state') ?? ''),
  );
}

async function timeline(page: Page): Promise<string[]> {
  const rows = await page.$$eval('#timeline tr', (trs) =>
    trs.map((tr) => {
      const d = (tr as HTMLElement).dataset;
      return `${d.from || '·'} -> ${d.to} (${d.event})`;
    }),
  );
  return rows.reverse();
}

describe('visualizer page (Chromium)', () => {
  let browser: Browser;
  let viz: Visualizer;
  let page: Page;
  let sockets: FakeSocketHarness;
  let actor: Actor<typeof connectionMachine> | undefined;
  let token = 0;
  const problems: string[] = [];
  const requested: string[] = [];

  const enqueue = (op = 'status') => {
    token++;
    actor?.send({ type: 'request.enqueue', requests: [{ token, id: String(token), op }] });
    return token;
  };

  beforeAll(async () => {
    sockets = createFakeSocket();
    viz = await startVisualizer({
      controls: {
        'send status request': async () => ({ token: enqueue() }),
        'kill overlayd': async () => {
          sockets.current.fail('read ECONNRESET');
          return 'killed';
        },
        'restart overlayd': async () => {
          sockets.current.connect();
          return 'listening';
        },
      },
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1680, height: 1050 } });
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('request', (req) => requested.push(req.url()));
    await page.goto(viz.url);
    await page.waitForSelector('html[data-ready="true"]');
  });

  afterAll(async () => {
    actor?.stop();
    await browser?.close();
    await viz?.close();
  });

  it('draws every state of the machine, every transition, and loads nothing from elsewhere', async () => {
    const drawn = await page.$$eval('svg [data-state]', (els) =>
      els.map((el) => el.getAttribute('data-state')),
    );
    expect(drawn.sort()).toEqual(graph.nodes.map((node) => node.id).sort());
    for (const node of graph.nodes) {
      expect(await page.locator(`svg g[data-state="${node.id}"] > rect.body`).count()).toBe(1);
    }
    // The compound session contains its children.
    const box = async (id: string) => {
      const rect = await page.locator(`g[data-state="${id}"] > rect.body`).boundingBox();
      if (!rect) throw new Error(`no box for ${id}`);
      return rect;
    };
    const session = await box(`${ID}.session`);
    for (const child of ['connecting', 'connected', 'awaitingResponse']) {
      const inner = await box(`${ID}.session.${child}`);
      expect(inner.x).toBeGreaterThan(session.x);
      expect(inner.y).toBeGreaterThan(session.y);
      expect(inner.x + inner.width).toBeLessThan(session.x + session.width);
      expect(inner.y + inner.height).toBeLessThan(session.y + session.height);
    }
    for (const edge of graph.edges) {
      expect(await page.locator(`[data-edge="${edge.id}"]`).count(), edge.id).toBeGreaterThan(0);
    }
    const labels = await page.$$eval('g.edge .label text', (els) =>
      els.map((el) => el.textContent),
    );
    expect(labels).toContain('after backoffDelay');
    expect(labels).toContain('socket.closed[hasAttemptsLeft]');
    const origin = new URL(viz.url).origin;
    expect(requested.length).toBeGreaterThan(0);
    for (const url of requested)
      expect(url.startsWith(`${origin}/`) || url.startsWith('data:')).toBe(true);
    expect(await page.locator('#link').getAttribute('data-link')).toBe('live');
  });

  it('highlights the active state as a live actor moves, and runs the control buttons', async () => {
    actor = createActor(connectionMachine.provide({ actors: { socket: sockets.logic } }), {
      input: { endpoint: '/run/overlayd/overlayd.sock', backoff: { initialDelayMs: 700 } },
      inspect: viz.inspect,
    });
    actor.start();
    await page.waitForSelector(leaf('idle'));

    actor.send({ type: 'connect' });
    await page.waitForSelector(leaf('session.connecting'));
    expect(await page.locator(`[data-state="${ID}.session"]`).getAttribute('class')).toContain(
      'active',
    );
    expect(await activeLeaves(page)).toEqual([`${ID}.session.connecting`]);

    sockets.current.connect();
    await page.waitForSelector(leaf('session.connected'));
    expect(await page.textContent('#current-state')).toBe('session.connected');

    // A control button: the server runs it, the actor moves, the page reports the outcome.
    await page.click('button[data-control="send status request"]');
    await page.waitForSelector(leaf('session.awaitingResponse'));
    await page.waitForSelector(
      '#control-log li[data-name="send status request"][data-status="ok"]',
    );
    expect(await page.textContent('#context')).toContain('#1 status');

    sockets.current.send({
      type: 'socket.responses',
      responses: [{ id: '1', response: { ok: true } as never }],
    });
    await page.waitForSelector(leaf('session.connected'));
    await page.waitForFunction(
      () => document.querySelector('[data-stat="answered"] b')?.textContent === '1',
    );

    await page.click('button[data-control="kill overlayd"]');
    await page.waitForSelector(leaf('backoff'));
    await page.waitForFunction(() =>
      /^in \d+ ms/.test(document.getElementById('next-retry')?.textContent ?? ''),
    );
    expect(await page.textContent('#context')).toContain('read ECONNRESET');
    expect(await page.getAttribute('#current-state', 'data-tone')).toBe('warn');

    // The backoff timer fires by itself; the page follows.
    await page.waitForSelector(leaf('session.connecting'), { timeout: 5000 });
    await page.click('button[data-control="restart overlayd"]');
    await page.waitForSelector(leaf('session.connected'));
    await page.waitForSelector(
      `g.edge.last[data-edge="${ID}.session.connecting::socket.connected::0"]`,
    );

    expect(await timeline(page)).toEqual([
      '· -> idle (xstate.init)',
      'idle -> session.connecting (connect)',
      'session.connecting -> session.connected (socket.connected)',
      'session.connected -> session.awaitingResponse (request.enqueue)',
      // The responses settle the window, then the always transition returns to connected.
      'session.awaitingResponse -> session.awaitingResponse (socket.responses)',
      'session.awaitingResponse -> session.connected (socket.responses)',
      // A live connection dropped: the transient `dropped` decides to reconnect.
      'session.connected -> dropped (socket.closed)',
      'dropped -> backoff (socket.closed)',
      `backoff -> session.connecting (xstate.after.backoffDelay.${ID}.backoff)`,
      'session.connecting -> session.connected (socket.connected)',
    ]);
    expect(await page.textContent('#timeline')).toContain('after backoffDelay');

    // Mid-flight, with two requests written and unanswered: the README picture.
    enqueue('list_peers');
    enqueue('status');
    await page.waitForSelector(leaf('session.awaitingResponse'));
    await page.waitForFunction(() =>
      document.getElementById('context')?.textContent?.includes('#2 list_peers'),
    );
    // Let the flashes fade, leaving the last transition marked.
    await page.waitForFunction(() => document.querySelectorAll('.taken').length === 0);
    const png = await page.screenshot({ fullPage: true });
    expect(png.length).toBeGreaterThan(20_000);
    const target = process.env.VISUALIZER_SCREENSHOT;
    if (target) writeFileSync(target, png);

    sockets.current.send({
      type: 'socket.responses',
      responses: [{ id: '2', response: { ok: true } as never }],
    });
    sockets.current.send({
      type: 'socket.responses',
      responses: [{ id: '3', response: { ok: true } as never }],
    });
    await page.waitForSelector(leaf('session.connected'));
    await page.waitForFunction(
      () => document.querySelector('[data-stat="answered"] b')?.textContent === '3',
    );
  });

  it('reports a failing control', async () => {
    const failing = await startVisualizer({
      controls: {
        'kill overlayd': async () => {
          throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
        },
      },
    });
    const other = await browser.newPage();
    try {
      await other.goto(failing.url);
      await other.waitForSelector('html[data-ready="true"]');
      await other.click('button[data-control="kill overlayd"]');
      await other.waitForSelector('#control-log li[data-status="error"]');
      expect(await other.textContent('#control-log')).toContain('Error: kill ESRCH');
      expect(await other.getAttribute('button[data-control="kill overlayd"]', 'data-busy')).toBe(
        'false',
      );
    } finally {
      await other.close();
      await failing.close();
    }
  });

  it('shows a page that opens late the current state and the timeline so far', async () => {
    const late = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      await late.goto(viz.url);
      await late.waitForSelector('html[data-ready="true"]');
      await late.waitForSelector(leaf('session.connected'));
      expect(await timeline(late)).toEqual(await timeline(page));
      expect(await late.textContent('#events')).toContain('socket.response');
      expect(await late.textContent('#events')).toContain('← socket');
    } finally {
      await late.close();
    }
  });

  it('refuses the page without the token', async () => {
    const other = await browser.newPage();
    try {
      const response = await other.goto(viz.url.replace(/token=.*/, 'token=nope'));
      expect(response?.status()).toBe(403);
    } finally {
      await other.close();
    }
    expect(problems).toEqual([]);
  });
});
