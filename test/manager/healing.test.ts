/**
 * Healing an overlayd restart, against the simulated overlayd in a child
 * process that is SIGKILLed and started again (each start is a new "life"
 * with its own request log, the server's own record of what it received).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ManagerEvent,
  type OverlaydRequest,
  OverlayManager,
  ResyncError,
  type StatusResult,
} from '../../src/index.js';
import { next, untilState } from '../support/manager-events.js';
import { globalOverlay, globalPeer, wgKey } from '../support/manager-fixtures.js';
import { type OverlaydChild, overlaydChild } from '../support/overlayd-child.js';
import { rejection } from '../support/rejection.js';

const NODE_KEY = wgKey();
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PEER_B = wgKey();
const PEER_C = wgKey();
const PEER_D = wgKey();

let overlayd: OverlaydChild;
let manager: OverlayManager;

beforeEach(async () => {
  overlayd = await overlaydChild();
  overlayd.start();
  manager = await OverlayManager.connect(overlayd.socket, { connectAttempts: 20 });
});
afterEach(async () => {
  await manager.close();
  await overlayd.cleanup();
});

/** A node's whole declared state: every layer the manager records. */
async function declareEverything(m: OverlayManager): Promise<void> {
  await m.setupGlobalOverlay(globalOverlay(NODE_KEY));
  await m.setupServiceOverlay({ service: 'web', mode: 'shared' });
  await m.setupServiceOverlay({ service: 'db', mode: 'dedicated' });
  await m.addGlobalPeer(globalPeer(PEER_B));
  await m.addServicePeer({
    service: 'db',
    publicKey: PEER_C,
    endpoint: '203.0.113.9:51821',
    allowedIps: '',
    persistentKeepaliveSecs: 0,
    allowedIp: '10.201.0.9/32',
  });
  await m.addServicePeer({
    service: 'web',
    publicKey: PEER_D,
    endpoint: '',
    allowedIps: '10.200.1.0/24',
    persistentKeepaliveSecs: 0,
    allowedIp: '10.200.2.0/24',
  });
  await m.registerDns({ name: 'web.overlay.local', ip: '10.200.0.2' });
  await m.registerDns({ name: 'db.overlay.local', ip: '10.201.0.2' });
  await m.attachContainer({
    handle: { platform: 'linux_pid', pid: 4242 },
    service: 'web',
    joinGlobal: true,
  });
  await m.attachContainer({
    handle: { platform: 'windows_container', containerId: 'c1', ip: '10.200.0.9' },
    service: 'web',
    joinGlobal: false,
  });
  await m.attachContainer({
    handle: { platform: 'linux_pid', pid: 5151 },
    service: 'db',
    joinGlobal: false,
  });
  await m.attachContainerGuest({ id: 'vm-1', service: 'web', joinGlobal: true });
}

/** The re-apply, in dependency order, of everything `declareEverything` declared. */
const FULL_REAPPLY = [
  'set_local_node_id',
  'set_local_wg_pubkey',
  'setup_global_overlay prod',
  'setup_service_overlay web',
  'setup_service_overlay db',
  `add_peer global ${PEER_B}`,
  `add_peer service db ${PEER_C}`,
  `add_allowed_ip service db ${PEER_C} 10.201.0.9/32`,
  `add_peer service web ${PEER_D}`,
  `add_allowed_ip service web ${PEER_D} 10.200.2.0/24`,
  'register_dns web.overlay.local',
  'register_dns db.overlay.local',
  'attach_container linux_pid 4242',
  'attach_container windows_container c1',
  'attach_container linux_pid 5151',
  'attach_container guest_managed vm-1',
];

/**
 * What must be the same after a restart: everything but the clocks (handshake
 * times) and the keys a dedicated overlay generates for itself.
 */
function comparable(status: StatusResult) {
  return {
    ...status,
    peers: status.peers.map(({ last_handshake_unix_secs: _, ...peer }) => peer),
    dedicated_services: status.dedicated_services.map(({ public_key: _, ...d }) => d),
  };
}

function collect(m: OverlayManager): ManagerEvent[] {
  const events: ManagerEvent[] = [];
  m.onEvent((event) => events.push(event));
  return events;
}

function states(m: OverlayManager): string[] {
  const seen: string[] = [];
  m.actor.subscribe((snapshot) => {
    const value = String(snapshot.value);
    if (seen.at(-1) !== value) seen.push(value);
  });
  return seen;
}

const text = (request: OverlaydRequest) =>
  JSON.stringify(request, (_key, value) => (typeof value === 'bigint' ? String(value) : value));

/** Each request of one life that is not a read: none may appear twice. */
function expectNoneTwice(requests: OverlaydRequest[]): void {
  const writes = requests.filter((request) => request.op !== 'status').map(text);
  expect(writes.length).toBe(new Set(writes).size);
}

describe('OverlayManager healing', () => {
  it('brings a SIGKILLed and restarted overlayd back to the status it had', async () => {
    await declareEverything(manager);
    const before = await manager.status();
    const events = collect(manager);
    const resynced = next(manager, 'resynced');
    await overlayd.kill();
    overlayd.start();
    const report = await resynced;

    expect(report.overlayd).toBe('restarted');
    expect(report.reapplied.map((step) => step.step)).toEqual(FULL_REAPPLY);
    expect(report.durationMs).toBeGreaterThan(0);
    expect(manager.state).toBe('synced');
    const after = await manager.status();
    expect(comparable(after)).toEqual(comparable(before));
    expect(after.peers).toHaveLength(1);
    expect(after.dedicated_services).toEqual([
      expect.objectContaining({ service: 'db', peer_count: 1 }),
    ]);
    // Same addresses as before; only the Windows container is in a new namespace (a new
    // GUID, which its detach must name), and that alone is reported.
    const moved = events.filter((event) => event.event === 'attachmentMoved');
    expect(moved).toEqual([
      expect.objectContaining({
        handle: expect.objectContaining({ platform: 'windows_container', container_id: 'c1' }),
        previousIp: '10.200.0.9',
        ip: '10.200.0.9',
        previousNamespaceGuid: expect.stringMatching(GUID),
        namespaceGuid: expect.stringMatching(GUID),
      }),
    ]);
    const [windows] = moved as Array<Extract<ManagerEvent, { event: 'attachmentMoved' }>>;
    expect(windows?.namespaceGuid).not.toBe(windows?.previousNamespaceGuid);
    // The guest got a new WireGuard config from the new overlayd: the daemon is handed it.
    expect(events.filter((event) => event.event === 'guestReattached')).toEqual([
      expect.objectContaining({
        id: 'vm-1',
        service: 'web',
        config: expect.objectContaining({ result: 'guest_config', overlay_ip: '10.200.0.3' }),
      }),
    ]);
    // The re-added peers come up again (overlayd's events); the manager's notices are these.
    expect(
      events.map((event) => event.event).filter((kind) => kind !== 'peer_health_changed'),
    ).toEqual(['reconnected', 'attachmentMoved', 'guestReattached', 'resynced']);

    // The new overlayd's own log: one status to observe, the re-apply, one status to read
    // what the overlay is now (the global overlay was set up again), then ours.
    const life2 = overlayd.requests().map((entry) => entry.frame.request);
    expect(life2[0]).toEqual({ op: 'status' });
    expect(life2.slice(1, -2).map((request) => request.op)).toEqual(
      FULL_REAPPLY.map((step) => step.split(' ')[0]),
    );
    expect(life2.at(-2)).toEqual({ op: 'status' });
    expectNoneTwice(life2);
    // DNS names and attachments are back as declared.
    expect(life2).toContainEqual({
      op: 'register_dns',
      name: 'db.overlay.local',
      ip: '10.201.0.2',
    });
    await manager.detachContainer({ handle: { platform: 'linux_pid', pid: 4242 } });
    await manager.detachContainerGuest({ id: 'vm-1' });
    await manager.unregisterDns({ name: 'web.overlay.local' });
  });

  it('survives a restart while a resync is running, and applies everything once on the next overlayd', async () => {
    await declareEverything(manager);
    const before = await manager.status();
    await overlayd.kill();
    // This overlayd refuses every attach: its resync cannot complete.
    overlayd.start(['--refuse', 'attach_container:1000']);
    await overlayd.until((requests) => requests.some((r) => r.op === 'setup_service_overlay'));
    await overlayd.kill();
    const resynced = next(manager, 'resynced');
    overlayd.start();
    const report = await resynced;

    expect(report.overlayd).toBe('restarted');
    expect(report.reapplied.map((step) => step.step)).toEqual(FULL_REAPPLY);
    expect(comparable(await manager.status())).toEqual(comparable(before));
    expectNoneTwice(overlayd.requests(3).map((entry) => entry.frame.request));
    // Nothing the resync sent to the killed overlayd was sent twice there either, but the
    // refused attach, which the retries try again (refused before the engine: it never ran).
    const life2 = overlayd.requests(2).map((entry) => entry.frame.request);
    expect(life2.some((request) => request.op === 'set_local_node_id')).toBe(true);
    expectNoneTwice(life2.filter((request) => request.op !== 'attach_container'));
  });

  it('goes degraded when a re-apply is refused, fails waiting calls as not sent, and syncs once overlayd accepts', async () => {
    await declareEverything(manager);
    const seen = states(manager);
    const failures: ManagerEvent[] = [];
    manager.onEvent((event) => {
      if (event.event === 'resyncFailed') failures.push(event);
    });
    await overlayd.kill();
    // Made once the manager has seen the drop: it waits behind the resync.
    await untilState(manager, (state) => state !== 'synced');
    const waiting = manager.registerDns({ name: 'waiting.local', ip: '10.200.0.5' });
    const firstFailure = next(manager, 'resyncFailed');
    const resynced = next(manager, 'resynced');
    overlayd.start(['--refuse', 'attach_container:2']);

    const waited = await rejection(waiting, ResyncError);
    expect(waited).toMatchObject({
      code: 'OVERLAYD_RESYNC',
      delivery: 'not-sent',
      op: 'register_dns',
      step: 'attach_container linux_pid 4242',
    });
    expect(waited.message).toContain('resync could not complete');
    expect(waited.message).toContain('refused by the test plan');
    await firstFailure;
    // Still the same turn as the failure: degraded, and a call now fails at once, unsent.
    expect(manager.state).toBe('degraded');
    await expect(manager.status()).rejects.toMatchObject({
      code: 'OVERLAYD_RESYNC',
      delivery: 'not-sent',
    });
    const report = await resynced;
    await manager.whenSynced();

    expect(failures).toEqual([
      expect.objectContaining({
        event: 'resyncFailed',
        step: 'attach_container linux_pid 4242',
        answer: 'refused by the test plan (attach_container, 1 more to refuse)',
        code: 'OVERLAYD_OVERLAY',
        retryInMs: 100,
      }),
      expect.objectContaining({
        step: 'attach_container linux_pid 4242',
        answer: 'refused by the test plan (attach_container, 0 more to refuse)',
        retryInMs: 200,
      }),
    ]);
    expect(seen.slice(seen.indexOf('reconnecting'))).toEqual([
      'reconnecting',
      'reconciling',
      'degraded',
      'reconciling',
      'degraded',
      'reconciling',
      'synced',
    ]);
    // The retries observed the same overlayd: only what was still missing was sent again.
    expect(report.overlayd).toBe('same');
    expect(report.reapplied.map((step) => step.step)).toEqual(FULL_REAPPLY.slice(-4));
    const life2 = overlayd.requests().map((entry) => entry.frame.request);
    expect(life2.map((request) => request.op)).toEqual([
      'status',
      ...FULL_REAPPLY.slice(0, -4).map((step) => step.split(' ')[0]),
      'attach_container',
      'status',
      'attach_container',
      'status',
      'attach_container',
      'attach_container',
      'attach_container',
      'attach_container',
    ]);
    expect(
      life2.some((request) => request.op === 'register_dns' && request.name === 'waiting.local'),
    ).toBe(false);
    await manager.registerDns({ name: 'after.local', ip: '10.200.0.6' });
  });

  it('reports an attachment that comes back with another address', async () => {
    await manager.setupGlobalOverlay(globalOverlay(NODE_KEY));
    await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
    const first = { platform: 'linux_pid' as const, pid: 1 };
    const second = { platform: 'linux_pid' as const, pid: 2 };
    expect(
      await manager.attachContainer({ handle: first, service: 'web', joinGlobal: false }),
    ).toEqual({
      result: 'attached',
      ip: '10.200.0.2',
    });
    expect(
      await manager.attachContainer({ handle: second, service: 'web', joinGlobal: false }),
    ).toEqual({
      result: 'attached',
      ip: '10.200.0.3',
    });
    await manager.detachContainer({ handle: first });
    const moved = next(manager, 'attachmentMoved');
    const resynced = next(manager, 'resynced');
    await overlayd.kill();
    overlayd.start();

    expect(await moved).toMatchObject({
      event: 'attachmentMoved',
      handle: { platform: 'linux_pid', pid: 2 },
      service: 'web',
      previousIp: '10.200.0.3',
      ip: '10.200.0.2',
      answer: { result: 'attached', ip: '10.200.0.2' },
    });
    expect((await resynced).reapplied.at(-1)).toEqual({
      layer: 'attachments',
      step: 'attach_container linux_pid 2',
    });
  });

  it('holds a call the client still had queued at the drop until the resync is done, and runs it once', async () => {
    await manager.close();
    manager = await OverlayManager.connect(overlayd.socket, {
      connectAttempts: 20,
      maxInFlight: 1,
    });
    await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
    await manager.registerDns({ name: 'before.local', ip: '10.200.0.5' });
    // A frozen overlayd holds someone's request unanswered, so the window of 1 is full
    // and the manager's next call waits, unwritten, in the client's queue.
    overlayd.freeze();
    const blocker = rejection(manager.client.call({ op: 'status' }));
    const queued = manager.registerDns({ name: 'queued.local', ip: '10.200.0.6' });
    const client = manager.client;
    await new Promise<void>((resolve) => {
      const subscription = client.actor.subscribe((snapshot) => {
        if (snapshot.context.queue.length === 0) return;
        subscription.unsubscribe();
        resolve();
      });
    });
    expect(manager.client.actor.getSnapshot().context.queue).toHaveLength(1);
    const resynced = next(manager, 'resynced');
    await overlayd.kill();
    overlayd.start();

    await queued;
    expect(await blocker).toMatchObject({ name: 'ClosedError', delivery: 'sent' });
    expect((await resynced).reapplied.map((step) => step.step)).toEqual([
      'setup_service_overlay web',
      'register_dns before.local',
    ]);
    // The queued call went out once, after the re-apply, not ahead of it.
    expect(overlayd.requests(2).map((entry) => text(entry.frame.request))).toEqual([
      text({ op: 'status' }),
      text({ op: 'setup_service_overlay', service: 'web', mode: 'shared' }),
      text({ op: 'register_dns', name: 'before.local', ip: '10.200.0.5' }),
      text({ op: 'register_dns', name: 'queued.local', ip: '10.200.0.6' }),
    ]);
  });

  it('loses no call across a restart and runs none twice on one overlayd', async () => {
    await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
    const names = Array.from({ length: 60 }, (_, i) => `svc-${i}.local`);
    const calls = names.map((name, i) =>
      manager.registerDns({ name, ip: `10.200.${Math.floor(i / 200)}.${(i % 200) + 1}` }).then(
        () => 'ok' as const,
        (error: { delivery?: string }) => error,
      ),
    );
    await overlayd.until((requests) => requests.filter((r) => r.op === 'register_dns').length >= 6);
    await overlayd.kill();
    overlayd.start();
    const outcomes = await Promise.all(calls);

    const failed = outcomes.filter((outcome) => outcome !== 'ok');
    // At most the one in flight at the kill fails, as sent (it may have run); it is never re-sent.
    expect(failed.length).toBeLessThanOrEqual(1);
    for (const failure of failed) expect(failure).toMatchObject({ delivery: 'sent' });
    const life1 = overlayd.requests(1).map((entry) => entry.frame.request);
    const life2 = overlayd.requests(2).map((entry) => entry.frame.request);
    expectNoneTwice(life1);
    expectNoneTwice(life2);
    const dnsOn = (life: OverlaydRequest[]) =>
      new Set(life.flatMap((request) => (request.op === 'register_dns' ? [request.name] : [])));
    // Every call that succeeded is on the overlayd running now: re-applied or sent there.
    for (const [i, name] of names.entries()) {
      if (outcomes[i] === 'ok') expect(dnsOn(life2).has(name)).toBe(true);
      else expect(dnsOn(life2).has(name)).toBe(false);
    }
    // No wire id was used twice: the client never re-sent a written request.
    const ids = [...overlayd.requests(1), ...overlayd.requests(2)].map((entry) =>
      String(entry.frame.id),
    );
    expect(ids.length).toBe(new Set(ids).size);
    // The calls went out in the order they were made.
    const order = [...life1, ...life2].flatMap((request) =>
      request.op === 'register_dns' ? [names.indexOf(request.name)] : [],
    );
    const daemonOrder = order.filter((index, at) => order.indexOf(index) === at);
    expect(daemonOrder).toEqual([...daemonOrder].sort((a, b) => a - b));
  });
});
