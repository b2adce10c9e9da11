/**
 * Every OverlayManager method against the simulated overlayd in a child
 * process: the requests it put on the wire (from the server's own request
 * log) and the typed answer it gave.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ClosedError,
  CodecError,
  ConnectError,
  OverlayError,
  OverlayManager,
} from '../../src/index.js';
import { CountingClock } from '../support/counting-clock.js';
import { globalOverlay, globalPeer, wgKey } from '../support/manager-fixtures.js';
import { type OverlaydChild, overlaydChild } from '../support/overlayd-child.js';
import { rejection } from '../support/rejection.js';

const NODE_KEY = wgKey();
const ROTATED_KEY = wgKey();
const PEER_B = wgKey();
const PEER_C = wgKey();
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let overlayd: OverlaydChild;
let manager: OverlayManager | undefined;

beforeEach(async () => {
  overlayd = await overlaydChild();
  overlayd.start();
});
afterEach(async () => {
  await manager?.close();
  manager = undefined;
  await overlayd.cleanup();
});

const wire = () => overlayd.requests().map((entry) => entry.frame.request);

describe('OverlayManager methods', () => {
  it('sends what upstream sends for each method and answers typed results', async () => {
    manager = await OverlayManager.connect(overlayd.socket, { connectAttempts: 20 });
    expect(manager.state).toBe('synced');
    const m = manager;

    const global = await m.setupGlobalOverlay(globalOverlay(NODE_KEY));
    expect(global.bridgeName).toMatch(/^zl-br-[0-9a-f]{8}$/);
    expect(global.status).toMatchObject({
      result: 'status',
      interface: 'zl-overlay0',
      node_ip: '10.200.0.1',
      public_key: NODE_KEY,
      overlay_cidr: '10.200.0.0/16',
      slice_cidr: '10.200.0.0/28',
      peer_count: 0,
      service_count: 0,
    });
    expect(await m.setupServiceOverlay({ service: 'web', mode: 'shared' })).toEqual({
      result: 'service_overlay',
      name: 'web',
      mode: 'shared',
    });
    const db = await m.setupServiceOverlay({ service: 'db', mode: 'dedicated' });
    expect(db).toMatchObject({ result: 'service_overlay', mode: 'dedicated', wg_port: 51821 });
    await m.addGlobalPeer(globalPeer(PEER_B));
    await m.addServicePeer({
      service: 'db',
      publicKey: PEER_C,
      endpoint: '',
      allowedIps: '',
      persistentKeepaliveSecs: 0,
      allowedIp: '10.201.0.9/32',
    });
    expect(
      await m.attachContainer({
        handle: { platform: 'linux_pid', pid: 4242 },
        service: 'web',
        joinGlobal: true,
      }),
    ).toEqual({ result: 'attached', ip: '10.200.0.2' });
    const windows = await m.attachContainer({
      handle: { platform: 'windows_container', containerId: 'c1', ip: '10.200.0.9' },
      service: 'web',
      joinGlobal: false,
      dnsServer: '10.200.0.1',
    });
    expect(windows.ip).toBe('10.200.0.9');
    expect(windows.namespace_guid).toMatch(GUID);
    const guest = await m.attachContainerGuest({
      id: 'vm-1',
      service: 'web',
      joinGlobal: true,
      dnsDomain: 'overlay.local',
    });
    expect(guest).toMatchObject({
      result: 'guest_config',
      overlay_ip: '10.200.0.3',
      prefix_len: 28,
      listen_port: 51820,
      dns_domain: 'overlay.local',
      peers: [
        {
          public_key: PEER_B,
          endpoint: '198.51.100.7:51820',
          allowed_ips: '10.200.0.16/28',
          persistent_keepalive_secs: 25,
        },
      ],
    });
    await m.registerDns({ name: 'web.overlay.local', ip: '10.200.0.2' });
    await m.natMaintenanceTick();
    expect(await m.serviceCount()).toBe(2);
    const status = await m.status();
    expect(status.peers).toEqual([
      expect.objectContaining({ public_key: PEER_B, endpoint: '198.51.100.7:51821' }),
    ]);
    expect(status.dedicated_services).toEqual([
      expect.objectContaining({ service: 'db', peer_count: 1, subnet: '10.201.0.0/24' }),
    ]);
    await m.unregisterDns({ name: 'web.overlay.local' });
    await m.removeServicePeer({ service: 'db', publicKey: PEER_C });
    await m.detachContainer({ handle: { platform: 'linux_pid', pid: 4242 } });
    await m.detachContainer({ handle: { platform: 'windows_container', containerId: 'c1' } });
    await m.detachContainerGuest({ id: 'vm-1' });
    await m.teardownServiceOverlay({ service: 'db' });
    await m.removeGlobalPeer({ publicKey: PEER_B });
    await m.setWgPubkey({ wgPubkey: ROTATED_KEY });
    await m.cleanup();
    const after = await m.status();
    expect(after.interface).toBeUndefined();
    expect(after.public_key).toBe(ROTATED_KEY);
    expect(after.service_count).toBe(1);

    const global_ = { scope: 'global' };
    const dbScope = { scope: 'service', service: 'db' };
    expect(wire()).toEqual([
      { op: 'set_local_node_id', node_id: 9_007_199_254_740_993n },
      { op: 'set_local_wg_pubkey', pubkey: NODE_KEY },
      {
        op: 'setup_global_overlay',
        deployment: 'prod',
        instance_id: 'node-a',
        cluster_cidr: '10.200.0.0/16',
        slice_cidr: '10.200.0.0/28',
        wg_port: 51820,
        nat_enabled: true,
      },
      { op: 'status' },
      { op: 'setup_service_overlay', service: 'web', mode: 'shared' },
      { op: 'setup_service_overlay', service: 'db', mode: 'dedicated' },
      {
        op: 'add_peer',
        public_key: PEER_B,
        endpoint: '198.51.100.7:51820',
        allowed_ips: '10.200.0.16/28',
        persistent_keepalive_secs: 25,
        scope: global_,
      },
      {
        op: 'add_peer',
        public_key: PEER_C,
        endpoint: '',
        allowed_ips: '',
        persistent_keepalive_secs: 0,
        scope: dbScope,
      },
      { op: 'add_allowed_ip', pubkey: PEER_C, cidr: '10.201.0.9/32', scope: dbScope },
      {
        op: 'attach_container',
        handle: { platform: 'linux_pid', pid: 4242 },
        service: 'web',
        join_global: true,
      },
      {
        op: 'attach_container',
        handle: { platform: 'windows_container', container_id: 'c1', ip: '10.200.0.9' },
        service: 'web',
        join_global: false,
        dns_server: '10.200.0.1',
      },
      {
        op: 'attach_container',
        handle: { platform: 'guest_managed', id: 'vm-1' },
        service: 'web',
        join_global: true,
        dns_domain: 'overlay.local',
      },
      { op: 'register_dns', name: 'web.overlay.local', ip: '10.200.0.2' },
      { op: 'nat_tick' },
      { op: 'status' },
      { op: 'status' },
      { op: 'unregister_dns', name: 'web.overlay.local' },
      { op: 'remove_peer', pubkey: PEER_C, scope: dbScope },
      { op: 'detach_container', handle: { platform: 'linux_pid', pid: 4242 } },
      // Named by container id above; overlayd reads the namespace GUID, which the detach carries.
      {
        op: 'detach_container',
        handle: { platform: 'windows_container', container_id: windows.namespace_guid },
      },
      { op: 'detach_container', handle: { platform: 'guest_managed', id: 'vm-1' } },
      { op: 'teardown_service_overlay', service: 'db' },
      { op: 'remove_peer', pubkey: PEER_B, scope: global_ },
      { op: 'set_local_wg_pubkey', pubkey: ROTATED_KEY },
      { op: 'teardown_global_overlay' },
      { op: 'status' },
    ]);
    // One connection, opened lazily by connect; nothing sent behind the daemon's back.
    expect(new Set(overlayd.requests().map((entry) => entry.connection))).toEqual(new Set([1]));
  });

  it('fails as the client does on an err answer, records nothing, and stays usable', async () => {
    manager = await OverlayManager.connect(overlayd.socket, { connectAttempts: 20 });
    const attaching = manager.attachContainer({
      handle: { platform: 'linux_pid', pid: 7 },
      service: 'nope',
      joinGlobal: false,
    });
    const refused = await rejection(attaching, OverlayError);
    expect(refused).toMatchObject({
      code: 'OVERLAYD_OVERLAY',
      op: 'attach_container',
      delivery: 'sent',
      reason: expect.stringContaining('service nope has no service overlay'),
    });
    await expect(manager.unregisterDns({ name: 'ghost' })).rejects.toMatchObject({
      code: 'OVERLAYD_OVERLAY',
      reason: 'no DNS record for "ghost"',
    });
    // The refused calls left nothing to re-apply: the record is still empty.
    expect(manager.actor.getSnapshot().context.declared).toMatchObject({
      attachments: 0,
      dns: 0,
    });
    expect(await manager.serviceCount()).toBe(0);
  });

  it('refuses bad parameters before sending anything, naming the method or the field', async () => {
    manager = await OverlayManager.connect(overlayd.socket, { connectAttempts: 20 });
    const notObject = await rejection(manager.registerDns(undefined as never), CodecError);
    expect(notObject.message).toContain('registerDns: expected a parameters object');
    const badIp = await rejection(manager.registerDns({ name: 'a', ip: 'not-an-ip' }), CodecError);
    expect(badIp.path).toBe('request.ip');
    const settingUp = manager.setupGlobalOverlay({
      nodeId: 1,
      wgPubkey: NODE_KEY,
      deployment: 'd',
      instanceId: 'i',
      clusterCidr: '10.0.0.0/8',
      wgPort: 70_000,
      natEnabled: false,
    });
    const badPort = await rejection(settingUp);
    // The first request (node id) went; the bad one did not: it names the field.
    expect((badPort as CodecError).path).toBe('request.wg_port');
    await manager.registerDns({ name: 'a', ip: '10.0.0.1' });
    expect(wire().map((request) => request.op)).toEqual([
      'set_local_node_id',
      'set_local_wg_pubkey',
      'register_dns',
    ]);
  });

  it('connects lazily with the upstream budget and reports every attempt failing', async () => {
    await overlayd.kill();
    const clock = new CountingClock();
    const started = clock.now();
    const connecting = OverlayManager.connect(`${overlayd.socket}.absent`, { clock });
    const failing = rejection(connecting, ConnectError);
    await clock.runUntil(failing);
    const failure = await failing;
    const elapsed = clock.now() - started;
    expect(failure).toMatchObject({ attempts: 6 });
    // 100 + 200 + 400 + 800 + 1000 ms of sleeps between 6 attempts (generous upper margin).
    expect(clock.delays.slice(0, 5)).toEqual([100, 200, 400, 800, 1000]);
    expect(elapsed).toBeGreaterThanOrEqual(2_400);
    expect(elapsed).toBeLessThan(10_000);
  });

  /** A manager closed twice at once, with a call handed to the client and one queued behind it. */
  async function closedWithTwoCalls() {
    const m = await OverlayManager.connect(overlayd.socket, { connectAttempts: 20 });
    manager = m;
    const first = m.status();
    const queued = m.registerDns({ name: 'late', ip: '10.0.0.2' });
    const closing = m.close();
    await m.close();
    await closing;
    return { m, outcomes: await Promise.allSettled([first, queued]) };
  }

  it('close() settles queued calls as not sent, and is idempotent', async () => {
    const { m, outcomes } = await closedWithTwoCalls();
    const [firstOutcome, queuedOutcome] = outcomes;
    // The first was handed to the client already (it fails or answers as the client decides);
    // the queued one never left the manager.
    expect(['fulfilled', 'rejected']).toContain(firstOutcome.status);
    expect(queuedOutcome).toMatchObject({ status: 'rejected' });
    const reason = (queuedOutcome as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(ClosedError);
    expect(reason).toMatchObject({ delivery: 'not-sent', op: 'register_dns' });
    expect(m.state).toBe('closed');
    expect(wire().some((request) => request.op === 'register_dns')).toBe(false);
  });

  it('refuses calls, and waits for no sync, after close()', async () => {
    const { m } = await closedWithTwoCalls();
    await expect(m.status()).rejects.toMatchObject({
      code: 'OVERLAYD_CLOSED',
      delivery: 'not-sent',
    });
    await expect(m.whenSynced()).rejects.toBeInstanceOf(ClosedError);
  });
});
