/**
 * The manager's resync on `overlayd-client:resync`, subscribed directly,
 * against the simulated overlayd in a child process that is killed and
 * started again.
 */
import { describe, expect, it } from 'vitest';
import { type ResyncTraceContext, resyncChannel } from '../../src/diagnostics/channels.js';
import { traceResync } from '../../src/diagnostics/resync.js';
import { type ManagerNotice, OverlayManager } from '../../src/index.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { recordTrace } from '../support/diagnostics-recorder.js';
import { globalOverlay, wgKey } from '../support/manager-fixtures.js';
import { type OverlaydChild, overlaydChild } from '../support/overlayd-child.js';

const SETTLED_OK = ['start', 'end', 'asyncStart', 'asyncEnd'];
const SETTLED_ERROR = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

const cleanups = cleanupAfterEach();

/** overlayd in a child process, and a manager that declared a global overlay and one attachment. */
async function declaredManager(): Promise<{ overlayd: OverlaydChild; manager: OverlayManager }> {
  const overlayd = await overlaydChild();
  cleanups.push(() => overlayd.cleanup());
  overlayd.start();
  const manager = await OverlayManager.connect(overlayd.socket, { connectAttempts: 20 });
  cleanups.push(() => manager.close());
  await manager.setupGlobalOverlay(globalOverlay(wgKey()));
  await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
  await manager.attachContainer({
    handle: { platform: 'linux_pid', pid: 4242 },
    service: 'web',
    joinGlobal: true,
  });
  return { overlayd, manager };
}

/** Resolves at the manager's next notice of this kind. */
function next(manager: OverlayManager, kind: ManagerNotice['event']): Promise<void> {
  return new Promise((resolve) => {
    const off = manager.onEvent((event) => {
      if (event.event !== kind) return;
      off();
      resolve();
    });
  });
}

describe('overlayd-client:resync', () => {
  it('traces the resync after an overlayd restart, with the re-applied steps on the result', async () => {
    const { overlayd, manager } = await declaredManager();
    const resyncs = recordTrace(resyncChannel);
    const resynced = next(manager, 'resynced');
    await overlayd.kill();
    overlayd.start();
    await resynced;

    const [resync] = resyncs.traces() as [ResyncTraceContext];
    expect(resyncs.records[0]?.context).toEqual({
      endpoint: overlayd.socket,
      restarted: undefined,
    });
    expect(resyncs.lifecycleOf(resync)).toEqual(SETTLED_OK);
    expect(resync.restarted).toBe(true);
    expect(resync.result?.overlayd).toBe('restarted');
    expect(resync.result?.reapplied.map((step) => step.step)).toEqual([
      'set_local_node_id',
      'set_local_wg_pubkey',
      'setup_global_overlay prod',
      'setup_service_overlay web',
      'attach_container linux_pid 4242',
    ]);
    expect(resync.error).toBeUndefined();
  });

  it('ends a resync whose re-apply overlayd refused with a ResyncError naming the step', async () => {
    const { overlayd, manager } = await declaredManager();
    const resyncs = recordTrace(resyncChannel);
    const failed = next(manager, 'resyncFailed');
    const resynced = next(manager, 'resynced');
    await overlayd.kill();
    overlayd.start(['--refuse', 'attach_container:1']);
    await failed;
    await resynced;

    const [refused, retried] = resyncs.traces() as [ResyncTraceContext, ResyncTraceContext];
    expect(resyncs.lifecycleOf(refused)).toEqual(SETTLED_ERROR);
    expect(refused.restarted).toBeUndefined();
    expect(refused.error).toMatchObject({
      code: 'OVERLAYD_RESYNC',
      step: 'attach_container linux_pid 4242',
    });
    expect(refused.error?.message).toContain('overlayd answered err: refused by the test plan');
    expect(resyncs.lifecycleOf(retried)).toEqual(SETTLED_OK);
  });
});

describe('traceResync', () => {
  it('ends the trace with an error and passes on a resync that rejects', async () => {
    const resyncs = recordTrace(resyncChannel);
    const broken = new Error('resync threw');
    await expect(traceResync('/tmp/x.sock', () => Promise.reject(broken))).rejects.toBe(broken);
    const [resync] = resyncs.traces() as [ResyncTraceContext];
    expect(resyncs.lifecycleOf(resync)).toEqual(SETTLED_ERROR);
    expect(resync.error).toMatchObject({ code: 'OVERLAYD_RESYNC', step: 'resync', cause: broken });
  });
});
