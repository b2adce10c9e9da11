/**
 * OverlayManager over a daemon's whole life, against the simulated overlayd
 * in a child process (SIGKILLed, frozen and started again; each start is a
 * new life with its own request log): a lazy start, calls that settle within
 * their deadline whatever they wait for, healing after an outage of any
 * length with no call made, and overlayd's contract where it differs from a
 * naive one (Windows detach by namespace GUID, idempotent detach, no NAT tick
 * with NAT off, DNS defaults, what the overlay is).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AbortedError,
  ConnectError,
  type ManagerState,
  OverlaydClient,
  type OverlaydRequest,
  OverlayManager,
  type OverlayManagerOptions,
  TimeoutError,
} from '../../src/index.js';
import { CountingClock } from '../support/counting-clock.js';
import { next, untilState } from '../support/manager-events.js';
import { globalOverlay, globalPeer, wgKey } from '../support/manager-fixtures.js';
import { type OverlaydChild, overlaydChild, untilListening } from '../support/overlayd-child.js';
import { rejection } from '../support/rejection.js';

/** A short schedule, so that whole connect cycles fail in a few tens of ms. */
const FAST: OverlayManagerOptions = {
  connectAttempts: 3,
  backoff: { initialDelayMs: 10, maxDelayMs: 40 },
};

let overlayd: OverlaydChild;
let manager: OverlayManager | undefined;

beforeEach(async () => {
  overlayd = await overlaydChild();
});
afterEach(async () => {
  await manager?.close();
  manager = undefined;
  await overlayd.cleanup();
});

const wire = (life?: number): OverlaydRequest[] =>
  overlayd.requests(life).map((entry) => entry.frame.request);

/** Start a life of overlayd and wait until it accepts connections. */
async function bootOverlayd(): Promise<number> {
  const life = overlayd.start();
  await untilListening(overlayd.socket);
  return life;
}

/** Every state the manager's chart enters from now on, in order. */
function statesOf(m: OverlayManager): ManagerState[] {
  const states: ManagerState[] = [];
  m.actor.subscribe((snapshot) => {
    const state = snapshot.value as ManagerState;
    if (states.at(-1) !== state) states.push(state);
  });
  return states;
}

/** overlayd's own `status`, asked on a connection of its own. */
async function overlaydStatus() {
  const client = await OverlaydClient.connect(overlayd.socket);
  try {
    return await client.call({ op: 'status' });
  } finally {
    await client.close();
  }
}

describe('OverlayManager: starting', () => {
  it('connects on the first call of a manager made with new, and answers it', async () => {
    await bootOverlayd();
    manager = new OverlayManager(overlayd.socket);
    expect(manager.state).toBe('idle');
    expect(await manager.status()).toMatchObject({ result: 'status', peer_count: 0 });
    expect(manager.state).toBe('synced');
    expect(wire()).toEqual([{ op: 'status' }]);
  });

  /** A manager on the counting clock whose first call failed while overlayd was unreachable. */
  async function failedAtStart() {
    const clock = new CountingClock();
    const m = new OverlayManager(overlayd.socket, { ...FAST, clock });
    manager = m;
    const started = clock.now();
    const failing = rejection(m.status(), ConnectError);
    await clock.runUntil(failing);
    return { m, clock, failure: await failing, elapsed: clock.now() - started };
  }

  it('fails a call within the connect budget, not sent, while overlayd is unreachable at start', async () => {
    const { clock, failure, elapsed } = await failedAtStart();
    expect(failure).toMatchObject({ op: 'status', attempts: 3, delivery: 'not-sent' });
    // Three attempts with 10 + 20 ms between them: nowhere near the client's 20-attempt cycle,
    // nor the call's own 30 s deadline.
    expect(clock.delays.slice(0, 3)).toEqual([30_000, 10, 20]);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('answers the next call once overlayd is up, after a first call failed at start', async () => {
    const { m } = await failedAtStart();
    await bootOverlayd();
    // No open(): the call dials again if the background reconnect has not already.
    expect(await m.serviceCount()).toBe(0);
    expect(m.state).toBe('synced');
  });
});

describe('OverlayManager: every call settles within its deadline', () => {
  beforeEach(async () => {
    await bootOverlayd();
  });

  /** A manager on the counting clock, connected, whose overlayd was then killed. */
  async function afterOverlaydDied(options: OverlayManagerOptions = {}) {
    const clock = new CountingClock();
    const m = await OverlayManager.connect(overlayd.socket, { ...options, clock });
    manager = m;
    await m.registerDns({ name: 'a.local', ip: '10.0.0.1' });
    await overlayd.kill();
    await untilState(m, (state) => state !== 'synced');
    return { m, clock };
  }

  it('times out a call as not sent after requestTimeoutMs while overlayd is dead', async () => {
    const { m, clock } = await afterOverlaydDied({ requestTimeoutMs: 700 });
    const started = clock.now();
    const failing = rejection(m.addGlobalPeer(globalPeer(wgKey())), TimeoutError);
    await clock.runUntil(failing);
    const failure = await failing;
    const elapsed = clock.now() - started;
    expect(failure).toMatchObject({ op: 'add_peer', delivery: 'not-sent' });
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(1_200);
  });

  it('fails a call aborted by its signal as not sent while overlayd is dead', async () => {
    const { m, clock } = await afterOverlaydDied();
    const controller = new AbortController();
    const reason = new Error('the daemon is shutting down');
    setTimeout(() => controller.abort(reason), 200);
    // The clock stands still: neither the call's deadline nor a reconnect can settle it.
    const started = clock.now();
    const failure = await rejection(
      m.addGlobalPeer(globalPeer(wgKey()), { signal: controller.signal }),
      AbortedError,
    );
    expect(clock.now() - started).toBeLessThan(1_200);
    expect(failure).toMatchObject({ op: 'add_peer', delivery: 'not-sent', cause: reason });
  });

  it('fails at once, before anything is sent, a call whose signal aborted before it was made', async () => {
    const { m } = await afterOverlaydDied();
    const early = await rejection(m.status({ signal: AbortSignal.abort() }));
    expect(early).toMatchObject({ code: 'OVERLAYD_ABORTED', delivery: 'not-sent' });
  });

  it('times out a call waiting its turn behind one overlayd never answers, as not sent', async () => {
    const clock = new CountingClock();
    manager = await OverlayManager.connect(overlayd.socket, { clock });
    overlayd.freeze();
    const stuck = rejection(manager.status({ timeoutMs: 1_500 }));
    const started = clock.now();
    const waiting = rejection(
      manager.registerDns({ name: 'b.local', ip: '10.0.0.2' }, { timeoutMs: 300 }),
      TimeoutError,
    );
    await clock.runUntil(waiting);
    expect(clock.now() - started).toBeLessThan(1_200);
    // It never left the manager's line: it is named by the method it was.
    expect(await waiting).toMatchObject({ op: 'registerDns', delivery: 'not-sent' });
    // The one in flight was written: its outcome is unknown.
    await clock.runUntil(stuck);
    expect(await stuck).toMatchObject({ code: 'OVERLAYD_TIMEOUT', op: 'status', delivery: 'sent' });
  });
});

describe('OverlayManager: healing after any outage', () => {
  it('re-applies the record with no call after an outage longer than whole reconnect cycles, and fails calls fast meanwhile', async () => {
    await bootOverlayd();
    manager = await OverlayManager.connect(overlayd.socket, FAST);
    const nodeKey = wgKey();
    const peerKey = wgKey();
    await manager.setupGlobalOverlay(globalOverlay(nodeKey));
    await manager.addGlobalPeer(globalPeer(peerKey));
    await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
    await manager.attachContainer({
      handle: { platform: 'linux_pid', pid: 77 },
      service: 'web',
      joinGlobal: false,
    });
    const states = statesOf(manager);

    await overlayd.kill();
    // Several whole connect cycles fail (each 3 attempts): the manager is offline between them.
    await untilState(manager, () => states.filter((state) => state === 'offline').length >= 3);

    const lostPeer = wgKey();
    const started = performance.now();
    const duringOutage = await rejection(manager.addGlobalPeer(globalPeer(lostPeer)));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(duringOutage).toBeInstanceOf(ConnectError);
    expect(duringOutage).toMatchObject({ op: 'add_peer', delivery: 'not-sent' });

    const resynced = next(manager, 'resynced');
    const life = overlayd.start();
    // No call is made: the background reconnect finds the new overlayd and re-applies.
    const report = await resynced;
    expect(report.overlayd).toBe('restarted');
    expect(manager.state).toBe('synced');
    expect(states).toContain('reconnecting');

    const ops = wire(life).map((request) => request.op);
    expect(ops).toEqual([
      'status',
      'set_local_node_id',
      'set_local_wg_pubkey',
      'setup_global_overlay',
      'setup_service_overlay',
      'add_peer',
      'attach_container',
      'status',
    ]);
    // The peer whose call failed during the outage was never sent, so it is not re-applied.
    const peersSent = wire(life).filter((request) => request.op === 'add_peer');
    expect(peersSent).toEqual([expect.objectContaining({ public_key: peerKey })]);
    const status = await overlaydStatus();
    expect(status).toMatchObject({
      interface: 'zl-overlay0',
      public_key: nodeKey,
      peer_count: 1,
      service_count: 1,
      peers: [expect.objectContaining({ public_key: peerKey })],
    });
  });
});

describe("OverlayManager: overlayd's contract", () => {
  beforeEach(async () => {
    await bootOverlayd();
    manager = await OverlayManager.connect(overlayd.socket, FAST);
  });

  it('detaches a Windows container by its namespace GUID, named either way, and does not attach it again after a restart', async () => {
    const m = manager as OverlayManager;
    await m.setupGlobalOverlay(globalOverlay(wgKey()));
    await m.setupServiceOverlay({ service: 'web', mode: 'shared' });
    const windows = (containerId: string) => ({
      handle: { platform: 'windows_container' as const, containerId },
      service: 'web',
      joinGlobal: false,
    });
    const byGuid = await m.attachContainer(windows('c1'));
    const byId = await m.attachContainer(windows('c2'));
    const kept = await m.attachContainer(windows('c3'));

    // Named by the GUID its attach answered (upstream's way), or by container id.
    await m.detachContainer({ handle: windows(byGuid.namespace_guid as string).handle });
    await m.detachContainer({ handle: windows('c2').handle });
    const detaches = wire().filter((request) => request.op === 'detach_container');
    expect(detaches).toEqual([
      {
        op: 'detach_container',
        handle: { platform: 'windows_container', container_id: byGuid.namespace_guid },
      },
      {
        op: 'detach_container',
        handle: { platform: 'windows_container', container_id: byId.namespace_guid },
      },
    ]);

    const moved = next(m, 'attachmentMoved');
    const resynced = next(m, 'resynced');
    await overlayd.kill();
    const life = overlayd.start();
    const report = await resynced;
    // Only the container still attached comes back, in a new namespace the daemon is told of.
    const attaches = report.reapplied.filter((step) => step.layer === 'attachments');
    expect(attaches).toEqual([
      { layer: 'attachments', step: 'attach_container windows_container c3' },
    ]);
    const relocated = await moved;
    expect(relocated).toMatchObject({
      handle: { platform: 'windows_container', container_id: 'c3' },
      previousNamespaceGuid: kept.namespace_guid,
      previousIp: kept.ip,
      // The new overlayd holds only this one: it takes the slice's first free address.
      ip: '10.200.0.2',
    });
    expect(relocated.namespaceGuid).not.toBe(kept.namespace_guid);

    // Its detach now names the new namespace.
    await m.detachContainer({ handle: windows('c3').handle });
    expect(wire(life).at(-1)).toEqual({
      op: 'detach_container',
      handle: { platform: 'windows_container', container_id: relocated.namespaceGuid },
    });
  });

  it('detaches a handle overlayd does not hold: overlayd answers ok', async () => {
    const m = manager as OverlayManager;
    await m.detachContainer({ handle: { platform: 'linux_pid', pid: 4040 } });
    await m.detachContainerGuest({ id: 'vm-none' });
    expect(wire()).toEqual([
      { op: 'detach_container', handle: { platform: 'linux_pid', pid: 4040 } },
      { op: 'detach_container', handle: { platform: 'guest_managed', id: 'vm-none' } },
    ]);
  });

  it('sends no NAT tick when the declared global overlay has NAT off', async () => {
    const m = manager as OverlayManager;
    await m.setupGlobalOverlay({ ...globalOverlay(wgKey()), natEnabled: false });
    await m.natMaintenanceTick();
    await m.natMaintenanceTick();
    expect(wire().map((request) => request.op)).toEqual([
      'set_local_node_id',
      'set_local_wg_pubkey',
      'setup_global_overlay',
      'status',
    ]);
    expect(m.natEnabled).toBe(false);
  });

  it('forwards the DNS defaults on every attach that names none, and re-applies them', async () => {
    await (manager as OverlayManager).close();
    const m = await OverlayManager.connect(overlayd.socket, {
      ...FAST,
      dns: { server: '10.200.0.1', domain: 'overlay.local' },
    });
    manager = m;
    await m.setupGlobalOverlay(globalOverlay(wgKey()));
    await m.setupServiceOverlay({ service: 'web', mode: 'shared' });
    const guest = await m.attachContainerGuest({ id: 'vm-1', service: 'web', joinGlobal: true });
    expect(guest).toMatchObject({ dns_server: '10.200.0.1', dns_domain: 'overlay.local' });
    m.setDnsConfig({ server: '10.200.0.5' });
    expect(m.dnsConfig).toEqual({ server: '10.200.0.5' });
    await m.attachContainer({
      handle: { platform: 'linux_pid', pid: 5 },
      service: 'web',
      joinGlobal: false,
    });
    await m.attachContainer({
      handle: { platform: 'linux_pid', pid: 6 },
      service: 'web',
      joinGlobal: false,
      dnsDomain: 'own.local',
    });
    const attaches = (life?: number) =>
      wire(life)
        .filter((request) => request.op === 'attach_container')
        .map((request) => {
          const { dns_server, dns_domain } = request as {
            dns_server?: string;
            dns_domain?: string;
          };
          return { dns_server, dns_domain };
        });
    const sent = [
      { dns_server: '10.200.0.1', dns_domain: 'overlay.local' },
      { dns_server: '10.200.0.5', dns_domain: undefined },
      { dns_server: '10.200.0.5', dns_domain: 'own.local' },
    ];
    expect(attaches()).toEqual(sent);

    const resynced = next(m, 'resynced');
    await overlayd.kill();
    const life = overlayd.start();
    await resynced;
    // Re-applied as first sent: the defaults of the time, not today's.
    expect(attaches(life)).toEqual(sent);
  });

  it('tells what the overlay is, after setup and after a resync, and forgets it after cleanup', async () => {
    const m = manager as OverlayManager;
    const facts = () => ({
      nodeIp: m.nodeIp,
      globalInterface: m.globalInterface,
      overlayCidr: m.overlayCidr,
      sliceCidr: m.sliceCidr,
      clusterCidr: m.clusterCidr,
      overlayPort: m.overlayPort,
      natEnabled: m.natEnabled,
    });
    const unknown = {
      nodeIp: undefined,
      globalInterface: undefined,
      overlayCidr: undefined,
      sliceCidr: undefined,
      clusterCidr: undefined,
      overlayPort: undefined,
      natEnabled: undefined,
    };
    expect(facts()).toEqual(unknown);
    await m.setupGlobalOverlay(globalOverlay(wgKey()));
    const known = {
      nodeIp: '10.200.0.1',
      globalInterface: 'zl-overlay0',
      overlayCidr: '10.200.0.0/16',
      sliceCidr: '10.200.0.0/28',
      clusterCidr: '10.200.0.0/16',
      overlayPort: 51820,
      natEnabled: true,
    };
    expect(facts()).toEqual(known);

    const resynced = next(m, 'resynced');
    await overlayd.kill();
    await untilState(m, (state) => state !== 'synced');
    const life = overlayd.start();
    await resynced;
    // Read again from the new overlayd once its global overlay is set up again.
    expect(wire(life).map((request) => request.op)).toEqual([
      'status',
      'set_local_node_id',
      'set_local_wg_pubkey',
      'setup_global_overlay',
      'status',
    ]);
    expect(facts()).toEqual(known);

    await m.cleanup();
    expect(facts()).toEqual(unknown);
  });
});
