/**
 * The visualizer following a real OverlaydClient against the simulated
 * overlayd on a real Unix socket: the page's buttons kill and restart the
 * server and send a request, and the highlight follows connect → backoff →
 * reconnect as it happens. Set VISUALIZER_DEMO_SCREENSHOT=docs/visualizer-backoff.png
 * to save the screenshot taken while the client backs off.
 */
import { writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OverlaydClient } from '../../src/client/client.js';
import { type RunningOverlayd, startOverlayd } from '../../src/server/overlayd.js';
import { startVisualizer, type Visualizer } from '../../visualizer/index.js';
import { launchChromium } from '../support/browser.js';
import { tempSocketPath } from '../support/scripted-server.js';

const leaf = (path: string) => `[data-state="overlaydConnection.${path}"].active.leaf`;

describe('visualizer page following a real client (Chromium)', () => {
  let browser: Browser;
  let page: Page;
  let viz: Visualizer;
  let client: OverlaydClient;
  let overlayd: RunningOverlayd | undefined;
  let socket: Awaited<ReturnType<typeof tempSocketPath>>;
  const served: string[] = [];

  const start = async () => {
    overlayd = await startOverlayd({
      socket: socket.path,
      serve: { group: null },
      onRequest: (entry) => served.push(entry.op),
    });
  };

  beforeAll(async () => {
    socket = await tempSocketPath();
    await start();
    viz = await startVisualizer({
      title: 'real overlayd',
      controls: {
        'kill overlayd': async () => {
          await overlayd?.close();
          overlayd = undefined;
          return 'killed';
        },
        'restart overlayd': async () => {
          await start();
          return 'listening';
        },
        'send status': async () => (await client.call({ op: 'status' })).result,
      },
    });
    // A slower schedule than the default, so the page is caught mid-backoff.
    client = new OverlaydClient(socket.path, {
      inspect: viz.inspect,
      backoff: { initialDelayMs: 400, maxDelayMs: 400 },
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1680, height: 1050 } });
    await page.goto(viz.url);
    await page.waitForSelector('html[data-ready="true"]');
  });

  afterAll(async () => {
    await client?.close();
    await browser?.close();
    await viz?.close();
    await overlayd?.close();
    const { rm } = await import('node:fs/promises');
    await rm(socket.dir, { recursive: true, force: true });
  });

  it('follows connect, a request, a kill with backoff, and the reconnect, driven by its buttons', async () => {
    await page.waitForSelector(leaf('idle'));
    await client.open(1);
    await page.waitForSelector(leaf('session.connected'));

    await page.click('button[data-control="send status"]');
    await page.waitForSelector('#control-log li[data-name="send status"][data-status="ok"]');
    expect(served).toEqual(['status']);

    await page.click('button[data-control="kill overlayd"]');
    await page.waitForSelector(leaf('backoff'));
    // Still down: the next attempt fails at once and the chart goes round
    // again (connecting is too brief to catch highlighted; the timeline has it).
    await page.waitForFunction(
      () => document.querySelectorAll('#timeline tr[data-to="session.connecting"]').length >= 2,
    );
    await page.waitForSelector(leaf('backoff'));
    const shot = process.env.VISUALIZER_DEMO_SCREENSHOT;
    if (shot) writeFileSync(shot, await page.screenshot({ fullPage: true }));

    await page.click('button[data-control="restart overlayd"]');
    await page.waitForSelector(leaf('session.connected'), { timeout: 5_000 });
    expect(client.state).toBe('connected');
    expect(client.stats.connections).toBe(2);

    const steps = await page.$$eval('#timeline tr', (rows) =>
      rows.map((row) => `${(row as HTMLElement).dataset.to}`).reverse(),
    );
    const order = ['session.connected', 'backoff', 'session.connecting', 'session.connected'];
    let at = 0;
    for (const step of steps) if (step === order[at]) at++;
    expect(at).toBe(order.length);
  });
});
