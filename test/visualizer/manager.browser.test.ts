/**
 * The visualizer drawing the overlay manager's chart beside the connection's,
 * live, in the Debian Chromium: a real OverlayManager over a real socket to
 * the simulated overlayd (in process), which is stopped and started again on
 * the same path so the page follows the manager through reconnecting and
 * reconciling back to synced.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managerMachine } from '../../machines/manager.machine.js';
import { OverlayManager } from '../../src/manager/manager.js';
import { type RunningOverlayd, startOverlayd } from '../../src/server/overlayd.js';
import { startVisualizer, type Visualizer } from '../../visualizer/index.js';
import { launchChromium } from '../support/browser.js';

const companionLeaf = (state: string) =>
  `.companion [data-state="overlayManager.${state}"].active.leaf`;

describe('visualizer with the manager chart (Chromium)', () => {
  let dir: string;
  let socket: string;
  let overlayd: RunningOverlayd;
  let viz: Visualizer;
  let manager: OverlayManager;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'viz-manager-'));
    socket = join(dir, 'o.sock');
    overlayd = await startOverlayd({ socket, serve: { group: null } });
    viz = await startVisualizer({ companions: [managerMachine] });
    manager = await OverlayManager.connect(socket, { inspect: viz.inspect });
    await manager.registerDns({ name: 'web.local', ip: '10.0.0.2' });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1600, height: 1400 } });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    await page.goto(viz.url);
    await page.waitForSelector('html[data-ready="true"]');
  });

  afterAll(async () => {
    await browser?.close();
    await manager?.close();
    await viz?.close();
    await overlayd?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('draws every state of both charts, the manager one current on arrival', async () => {
    const states = await page.$$eval('.companion [data-state]', (els) =>
      els.map((el) => el.getAttribute('data-state')),
    );
    for (const state of [
      'connecting',
      'reconciling',
      'synced',
      'degraded',
      'reconnecting',
      'offline',
      'closed',
    ]) {
      expect(states).toContain(`overlayManager.${state}`);
    }
    // The connection chart is still the main one.
    expect(await page.$('#chart svg[data-machine="overlaydConnection"]')).not.toBeNull();
    // A page that connects late is told the manager's current state.
    await page.waitForSelector(companionLeaf('synced'));
    expect(await page.textContent('.companion .pill-state')).toBe('synced');
    expect(await page.textContent('.companion-context')).toContain('1 dns');
  });

  it('follows the manager live through a restart of overlayd', async () => {
    const resynced = new Promise<void>((resolve) => {
      manager.onEvent((event) => {
        if (event.event === 'resynced') resolve();
      });
    });
    await overlayd.close();
    await page.waitForSelector(companionLeaf('reconnecting'));
    overlayd = await startOverlayd({ socket, serve: { group: null } });
    await resynced;
    await page.waitForSelector(companionLeaf('synced'));
    const context = await page.textContent('.companion-context');
    expect(context).toContain('restarted, 1 re-applied');
    expect(problems).toEqual([]);
  });
});
