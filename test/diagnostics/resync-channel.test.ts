/**
 * The manager's channels, subscribed directly: its resync on
 * `overlayd-client:resync` and its chart's moves on
 * `overlayd-client:manager:state`, against the simulated overlayd in a child
 * process that is killed and started again.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  MANAGER_STATE_CHANNEL,
  type ManagerStateMessage,
  type ResyncTraceContext,
  resyncChannel,
} from '../../src/diagnostics/channels.js';
import { traceResync } from '../../src/diagnostics/resync.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { DECLARED_STEPS, declaredManager } from '../support/declared-manager.js';
import { recordChannel, recordTrace } from '../support/diagnostics-recorder.js';
import { next } from '../support/manager-events.js';

const SETTLED_OK = ['start', 'end', 'asyncStart', 'asyncEnd'];
const SETTLED_ERROR = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

const cleanups = cleanupAfterEach();

describe('overlayd-client:resync', () => {
  it('traces the resync after an overlayd restart, with the re-applied steps on the result', async () => {
    const { overlayd, manager } = await declaredManager(cleanups);
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
    expect(resync.result?.reapplied.map((step) => step.step)).toEqual(DECLARED_STEPS);
    expect(resync.error).toBeUndefined();
  });

  it('ends a resync whose re-apply overlayd refused with a ResyncError naming the step', async () => {
    const { overlayd, manager } = await declaredManager(cleanups);
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

  it('ends a resync that failed on its own (no overlayd answer) with that failure’s message', async () => {
    const resyncs = recordTrace(resyncChannel);
    const event = await traceResync('/tmp/x.sock', async () => ({
      type: 'resync.failed' as const,
      failure: { step: 'status', code: 'OVERLAYD_TIMEOUT', message: 'request timed out' },
    }));
    expect(event.type).toBe('resync.failed');
    const [resync] = resyncs.traces() as [ResyncTraceContext];
    expect(resyncs.lifecycleOf(resync)).toEqual(SETTLED_ERROR);
    expect(resync.error).toMatchObject({ code: 'OVERLAYD_RESYNC', step: 'status' });
    expect(resync.error?.message).toContain('status failed: request timed out');
  });

  it('runs the resync untraced while nobody listens', async () => {
    const start = vi.spyOn(resyncChannel.start, 'runStores');
    cleanups.push(async () => start.mockRestore());
    const done = {
      type: 'resync.done' as const,
      report: { overlayd: 'same' as const, reapplied: [], durationMs: 1 },
    };
    expect(await traceResync('/tmp/x.sock', async () => done)).toBe(done);
    expect(start).not.toHaveBeenCalled();
  });

  it('publishes each move of the manager chart on manager:state, through an outage and its resync', async () => {
    const { overlayd, manager } = await declaredManager(cleanups);
    const states = recordChannel<ManagerStateMessage>(MANAGER_STATE_CHANNEL);
    const resynced = next(manager, 'resynced');
    await overlayd.kill();
    overlayd.start();
    await resynced;
    await manager.close();
    expect(states.map(({ previous, state }) => `${previous} → ${state}`)).toEqual([
      'synced → reconnecting',
      'reconnecting → reconciling',
      'reconciling → synced',
      'synced → closed',
    ]);
    expect(new Set(states.map((message) => message.endpoint))).toEqual(new Set([overlayd.socket]));
  });
});
