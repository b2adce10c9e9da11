/**
 * The demo with `--ui` (what `npm start -- --ui` runs): the visualizer page in
 * Chromium follows the demo's real client and its manager, and its buttons kill and restart
 * the demo's overlayd child process and send a request. Set
 * DEMO_SCREENSHOTS=docs to save the README's screenshots taken mid-run.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.js';
import { ROOT, startNode } from '../support/run-node.js';

const leaf = (path: string) => `[data-state="overlaydConnection.${path}"].active.leaf`;
const control = (name: string) => `button[data-control="${name}"]`;
const done = (name: string) => `#control-log li[data-name="${name}"][data-status="ok"]`;

describe('npm start -- --ui (Chromium)', () => {
  let browser: Browser | undefined;
  const demo = startNode(join(ROOT, 'dist/src/demo/main.js'), ['--ui']);

  afterAll(async () => {
    await browser?.close();
    if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
  });

  async function shot(page: Page, name: string): Promise<void> {
    const dir = process.env.DEMO_SCREENSHOTS;
    if (dir) writeFileSync(join(dir, name), await page.screenshot({ fullPage: true }));
  }

  it('shows the demo live, and its buttons kill, restart and query overlayd', async () => {
    await demo.until((out) => /visualizer: open (\S+)/.test(out.stderr));
    const url = /visualizer: open (\S+)/.exec(demo.output.stderr)?.[1] ?? '';
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1680, height: 1050 } });
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]');
    // The scripted part ends in the follow loop, after the demo's own kill and restart.
    await demo.until((out) => out.stdout.includes('follow:'), 20_000);
    await page.waitForSelector(leaf('session.connected'));
    await shot(page, 'demo-connected.png');

    await page.click(control('kill overlayd'));
    await page.waitForSelector(leaf('backoff'));
    await shot(page, 'demo-backoff.png');

    // The manager's chart, drawn beside the connection's, follows the kill too.
    await page.waitForSelector('.companion [data-state="overlayManager.reconnecting"].active.leaf');

    await page.click(control('restart overlayd'));
    await page.waitForSelector(leaf('session.connected'), { timeout: 5_000 });
    await page.waitForSelector('.companion [data-state="overlayManager.synced"].active.leaf', {
      timeout: 10_000,
    });
    await page.click(control('send status'));
    await page.waitForSelector(done('send status'));
    expect(await page.$$(done('kill overlayd'))).toHaveLength(1);
    expect(await page.$$(done('restart overlayd'))).toHaveLength(1);

    demo.child.kill('SIGINT');
    expect(await demo.exited).toEqual({ code: 0, signal: null });
    expect(demo.output.stdout).toMatch(/event +reconnected/);
  });
});
