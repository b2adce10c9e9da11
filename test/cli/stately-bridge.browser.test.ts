/**
 * The Stately relay's bridge page in the Debian Chromium. The real inspector
 * (https://stately.ai/inspect) needs internet access, so the page embeds a
 * stand-in served from another origin that records what it is posted and
 * says '@statelyai.connected' when the test tells it to. The bridge must hold
 * messages until then, deliver them in order, and ignore a "connected" from
 * anything but the inspector frame.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type StatelyRelay, startStatelyRelay } from '../../src/cli/stately-relay.js';
import { launchChromium } from '../support/browser.js';

const STAND_IN = `<!doctype html>
<title>inspector stand-in</title>
<script>
  window.received = [];
  addEventListener('message', (event) => {
    window.received.push({ origin: event.origin, data: event.data });
  });
</script>
`;

interface Received {
  origin: string;
  data: { type: string; n: number };
}

describe('Stately relay bridge page (Chromium)', () => {
  let browser: Browser;
  let standIn: Server;
  let relay: StatelyRelay;
  let publisher: WebSocket;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    standIn = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(STAND_IN);
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    const standInPort = (standIn.address() as AddressInfo).port;
    relay = await startStatelyRelay({
      inspectorUrl: `http://127.0.0.1:${standInPort}/inspect`,
    });
    publisher = new WebSocket(relay.publishUrl);
    await new Promise((resolve, reject) => publisher.once('open', resolve).once('error', reject));
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    publisher?.terminate();
    await relay?.close();
    await new Promise((resolve) => standIn?.close(resolve));
  });

  const snapshot = (n: number) => ({ type: '@xstate.snapshot', n, _version: 'test' });

  function inspectorFrame(): Frame {
    const frame = page.frames().find((f) => f.url().endsWith('/inspect'));
    if (frame === undefined) throw new Error('no inspector frame on the page');
    return frame;
  }

  const received = (): Promise<Received[]> =>
    inspectorFrame().evaluate(() => (window as unknown as { received: Received[] }).received);

  it('holds messages until the inspector frame is ready, then delivers all in order', async () => {
    // Published before the page exists: the relay replays it.
    publisher.send(JSON.stringify(snapshot(1)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await page.goto(relay.url);
    await page.waitForFunction(() => document.getElementById('inspector') !== null);
    await inspectorFrame().waitForFunction(() => 'received' in window);
    publisher.send(JSON.stringify(snapshot(2)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // A "connected" that does not come from the inspector frame is ignored.
    await page.evaluate(() => window.postMessage({ type: '@statelyai.connected' }, '*'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await received()).toEqual([]);

    await inspectorFrame().evaluate(() =>
      window.parent.postMessage({ type: '@statelyai.connected' }, '*'),
    );
    await inspectorFrame().waitForFunction(
      () => (window as unknown as { received: unknown[] }).received.length >= 2,
    );
    publisher.send(JSON.stringify(snapshot(3)));
    await inspectorFrame().waitForFunction(
      () => (window as unknown as { received: unknown[] }).received.length >= 3,
    );
    const origin = new URL(relay.url).origin;
    expect(await received()).toEqual([
      { origin, data: snapshot(1) },
      { origin, data: snapshot(2) },
      { origin, data: snapshot(3) },
    ]);
    // The page's policy let it load its script, open its socket and frame the inspector.
    expect(problems).toEqual([]);
  });
});
