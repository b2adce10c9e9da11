/**
 * OverlayManager at its edges, against a scripted server on a real socket
 * (answers the simulated engine never gives: an older server's, a misfit, a
 * request left unanswered), a server that stays away until the client gives
 * up reconnecting, and an in-process overlayd whose engine outlives a dropped
 * connection (also scripted in front of an Engine, to drop a connection right
 * after a request ran).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClosedError,
  ConnectError,
  type ManagerEvent,
  type OverlaydRequest,
  OverlayManager,
  ProtocolError,
  ResyncError,
} from '../../src/index.js';
import { Engine } from '../../src/server/engine/engine.js';
import { startOverlayd } from '../../src/server/overlayd.js';
import { next, untilState } from '../support/manager-events.js';
import { globalOverlay, wgKey } from '../support/manager-fixtures.js';
import { rejection } from '../support/rejection.js';
import {
  answer,
  type ScriptedServer,
  startScriptedServer,
  successFor,
} from '../support/scripted-server.js';

let server: ScriptedServer | undefined;
let manager: OverlayManager | undefined;
afterEach(async () => {
  await manager?.close();
  await server?.dispose();
  manager = undefined;
  server = undefined;
});

const DECLARE_DNS = { name: 'a.local', ip: '10.0.0.1' };

/**
 * The engine holds no attachment of `handle` (any more): attaching it anew
 * is not refused as "already attached". Detach is idempotent, so its answer
 * cannot tell.
 */
function expectNotAttached(
  engine: Engine,
  handle: Extract<OverlaydRequest, { op: 'attach_container' }>['handle'],
): void {
  const attach = { op: 'attach_container' as const, handle, service: 'web', join_global: false };
  expect(engine.handle(attach).response).toMatchObject({ result: 'attached' });
}

/**
 * An Engine behind a scripted server that can hang up right after running an
 * attach, before its answer; a manager on it with the global overlay and a
 * shared `web` overlay set up. A "restart" is a new `engine`.
 */
async function attachHangingUp() {
  const overlayd = { engine: new Engine(), hangUpAfterAttach: false };
  server = await startScriptedServer((frame) => {
    const { response } = overlayd.engine.handle(frame.request);
    if (frame.request.op === 'attach_container' && overlayd.hangUpAfterAttach) {
      overlayd.hangUpAfterAttach = false;
      return { hangUp: true };
    }
    return { frames: [{ frame: 'response', id: frame.id, response }] };
  });
  manager = await OverlayManager.connect(server.endpoint, {
    backoff: { initialDelayMs: 5, maxDelayMs: 20 },
  });
  await manager.setupGlobalOverlay(globalOverlay(wgKey()));
  await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
  return { overlayd, scripted: server, daemon: manager };
}

describe('OverlayManager edges', () => {
  it("accepts an older server's bridge_name for a service overlay, and refuses misfit attach answers", async () => {
    server = await startScriptedServer((request) => {
      const { id } = request;
      switch (request.request.op) {
        case 'setup_service_overlay':
          return {
            frames: [{ frame: 'response', id, response: { result: 'bridge_name', name: 'web' } }],
          };
        case 'attach_container':
          // A guest's answer to a pid handle, and a pid's answer to a guest handle.
          return request.request.handle.platform === 'guest_managed'
            ? { frames: [successFor(request)] }
            : {
                frames: [
                  {
                    frame: 'response',
                    id,
                    response: {
                      result: 'guest_config',
                      overlay_ip: '10.0.0.2',
                      prefix_len: 24,
                      private_key: 'k',
                      public_key: 'p',
                      listen_port: 1,
                      peers: [],
                    },
                  },
                ],
              };
        default:
          return answer(request, 1);
      }
    });
    manager = await OverlayManager.connect(server.endpoint);
    expect(await manager.setupServiceOverlay({ service: 'web', mode: 'shared' })).toEqual({
      result: 'bridge_name',
      name: 'web',
    });
    const attaching = manager.attachContainer({
      handle: { platform: 'linux_pid', pid: 1 },
      service: 'web',
      joinGlobal: false,
    });
    const pid = await rejection(attaching, ProtocolError);
    expect(pid.message).toContain(
      'overlayd answered op attach_container with result guest_config (expected attached)',
    );
    const guest = await rejection(
      manager.attachContainerGuest({ id: 'vm', service: 'web', joinGlobal: false }),
    );
    expect((guest as Error).message).toContain('with result attached (expected guest_config)');
  });

  it('goes degraded on a resync request that times out, then syncs on the retry', async () => {
    let statusOnSecond = 0;
    server = await startScriptedServer((request, connection) => {
      if (connection === 2 && request.request.op === 'status' && ++statusOnSecond === 1) {
        return { silent: true };
      }
      return answer(request, connection);
    });
    manager = await OverlayManager.connect(server.endpoint, { requestTimeoutMs: 300 });
    await manager.registerDns(DECLARE_DNS);
    const events: ManagerEvent[] = [];
    manager.onEvent((event) => events.push(event));
    manager.onEvent(() => {
      throw new Error('a listener that throws changes nothing');
    });
    await server.stop();
    await server.restart();
    await next(manager, 'resynced');
    const failed = events.find((event) => event.event === 'resyncFailed');
    expect(failed).toMatchObject({ step: 'status', code: 'OVERLAYD_TIMEOUT', retryInMs: 100 });
    expect(failed).not.toHaveProperty('answer');
    // The scripted status is empty: a "restarted" overlayd, so the name went again.
    expect(events.find((event) => event.event === 'resynced')).toMatchObject({
      overlayd: 'restarted',
      reapplied: [{ layer: 'dns', step: 'register_dns a.local' }],
    });
    expect(manager.state).toBe('synced');
  });

  /** A manager whose client gave up reconnecting while a status call waited; the call's error. */
  async function gaveUpWhileWaiting() {
    const scripted = await startScriptedServer();
    server = scripted;
    const m = await OverlayManager.connect(scripted.endpoint, { reconnect: { attempts: 2 } });
    manager = m;
    await m.registerDns(DECLARE_DNS);
    await scripted.stop();
    // Made once the manager knows the connection dropped: it waits for the reconnect.
    await untilState(m, (state) => state !== 'synced');
    const gaveUp = await rejection(m.status(), ConnectError);
    return { scripted, m, gaveUp };
  }

  it('fails waiting calls when the client gives up', async () => {
    const { m, gaveUp } = await gaveUpWhileWaiting();
    expect(gaveUp).toMatchObject({ delivery: 'not-sent', op: 'status', attempts: 2 });
    expect(gaveUp.message).toContain('could not connect to overlayd after 2 attempts');
    expect(m.state).toBe('offline');
  });

  it('reconnects on the next call after the client gave up, behind the resync', async () => {
    const { scripted, m } = await gaveUpWhileWaiting();
    await scripted.restart();
    // A call while offline starts a new connect cycle and waits behind the resync.
    const status = await m.status();
    expect(status.result).toBe('status');
    const ops = scripted.received.filter((entry) => entry.connection === 2);
    expect(ops.map((entry) => entry.frame.request.op)).toEqual([
      'status',
      'register_dns',
      'status',
    ]);
  });

  it('does not resync when nothing was declared', async () => {
    server = await startScriptedServer();
    manager = await OverlayManager.connect(server.endpoint);
    await server.stop();
    await server.restart();
    await manager.status();
    expect(server.received.map((entry) => entry.frame.request.op)).toEqual(['status']);
    expect(manager.actor.getSnapshot().context.resyncs).toBe(0);
  });

  it('fails a call made while degraded at once, and whenSynced waits for the retry', async () => {
    let refuse = true;
    server = await startScriptedServer((request, connection) => {
      if (connection === 2 && request.request.op === 'register_dns' && refuse) {
        refuse = false;
        return {
          frames: [
            { frame: 'response', id: request.id, response: { result: 'err', message: 'busy' } },
          ],
        };
      }
      return answer(request, connection);
    });
    manager = await OverlayManager.connect(server.endpoint, {
      retryBackoff: { initialDelayMs: 400 },
    });
    await manager.registerDns(DECLARE_DNS);
    const degraded = next(manager, 'resyncFailed');
    await server.stop();
    await server.restart();
    await degraded;
    const refused = await rejection(manager.natMaintenanceTick(), ResyncError);
    expect(refused).toMatchObject({
      step: 'register_dns a.local',
      delivery: 'not-sent',
      op: 'nat_tick',
    });
    expect(refused.message).toContain('overlayd answered err: busy');
    await manager.whenSynced();
    expect(manager.state).toBe('synced');
  });

  it('with reconnect off, goes offline at the drop and reconnects once, for the next call', async () => {
    server = await startScriptedServer();
    manager = await OverlayManager.connect(server.endpoint, { reconnect: false });
    await manager.registerDns(DECLARE_DNS);
    await server.stop();
    await untilState(manager, (state) => state === 'offline');
    await server.restart();
    await manager.natMaintenanceTick();
    const ops = server.received.filter((entry) => entry.connection === 2);
    expect(ops.map((entry) => entry.frame.request.op)).toEqual([
      'status',
      'register_dns',
      'nat_tick',
    ]);
    expect(manager.state).toBe('synced');
  });

  it('holds calls made before the first connection until it is up', async () => {
    server = await startScriptedServer();
    const early = new OverlayManager(server.endpoint);
    manager = early;
    expect(early.state).toBe('idle');
    const waiting = early.serviceCount();
    const synced = early.whenSynced();
    await early.open();
    await synced;
    expect(await waiting).toBe(0);
  });

  it('settles the calls it holds, as not sent, on close() while connecting, and opens no more', async () => {
    server = await startScriptedServer();
    const never = new OverlayManager(`${server.endpoint}.absent`);
    const held = rejection(never.status());
    const unsynced = rejection(never.whenSynced(), ClosedError);
    await never.close();
    expect(await held).toMatchObject({
      code: 'OVERLAYD_CLOSED',
      delivery: 'not-sent',
      op: 'status',
    });
    await unsynced;
    await expect(never.open()).rejects.toBeInstanceOf(ClosedError);
  });

  it('re-applies nothing after a dropped connection to the same overlayd (its state kept)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'manager-same-'));
    const socket = join(dir, 'o.sock');
    const engine = new Engine();
    const ops: string[] = [];
    const start = () =>
      startOverlayd({ socket, engine, serve: { group: null }, onRequest: (e) => ops.push(e.op) });
    let overlayd = await start();
    try {
      manager = await OverlayManager.connect(socket);
      await manager.setupGlobalOverlay(globalOverlay(wgKey()));
      await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
      await manager.attachContainer({
        handle: { platform: 'linux_pid', pid: 9 },
        service: 'web',
        joinGlobal: false,
      });
      await manager.registerDns(DECLARE_DNS);
      const resynced = next(manager, 'resynced');
      // The connection drops; the overlayd (its engine) lives on.
      await overlayd.close();
      ops.length = 0;
      overlayd = await start();
      expect(await resynced).toMatchObject({ overlayd: 'same', reapplied: [] });
      expect(ops).toEqual(['status']);
    } finally {
      await overlayd.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('detaches, then re-attaches, an attachment whose re-apply ran but was never answered', async () => {
    const { overlayd, scripted, daemon } = await attachHangingUp();
    const handle = { platform: 'linux_pid' as const, pid: 7 };
    await daemon.attachContainer({ handle, service: 'web', joinGlobal: false });
    const notices: ManagerEvent[] = [];
    daemon.onEvent((event) => notices.push(event));
    // The first resync outcome after the one the drop interrupted.
    const settled = new Promise<ManagerEvent>((resolve) => {
      daemon.onEvent((event) => {
        if (event.event === 'resynced' || event.event === 'resyncFailed') resolve(event);
      });
    });

    // overlayd restarts; the re-attach runs on the new one, and the connection drops before its answer.
    await scripted.stop();
    overlayd.engine = new Engine();
    overlayd.hangUpAfterAttach = true;
    scripted.received.length = 0;
    await scripted.restart();

    // The next resync finds the same overlayd, holding the attachment the record could not confirm.
    expect(await settled).toMatchObject({
      event: 'resynced',
      overlayd: 'same',
      reapplied: [
        { layer: 'attachments', step: 'detach_container linux_pid 7' },
        { layer: 'attachments', step: 'attach_container linux_pid 7' },
      ],
    });
    expect(daemon.state).toBe('synced');
    const attaches = scripted.received.filter((r) => r.frame.request.op === 'attach_container');
    expect(attaches.map((r) => r.connection)).toEqual([2, 3]);
    // overlayd holds it once: the daemon's detach works, and nothing is left attached after it.
    expect(notices.filter((event) => event.event === 'attachmentMoved')).toEqual([]);
    await daemon.detachContainer({ handle });
    expectNotAttached(overlayd.engine, handle);
  });

  it('detaches first when the daemon retries an attach that ran but whose answer never came', async () => {
    const { overlayd, scripted, daemon } = await attachHangingUp();
    const handle = { platform: 'linux_pid' as const, pid: 8 };
    const attach = { handle, service: 'web', joinGlobal: false };

    // overlayd runs the attach, and the connection drops before its answer.
    overlayd.hangUpAfterAttach = true;
    const lost = await rejection(daemon.attachContainer(attach), ClosedError);
    expect(lost).toMatchObject({ op: 'attach_container', delivery: 'sent' });
    await daemon.whenSynced();
    scripted.received.length = 0;

    // The retry is not refused as "already attached": the manager detaches first.
    expect(await daemon.attachContainer(attach)).toMatchObject({ result: 'attached' });
    expect(scripted.received.map((r) => r.frame.request.op)).toEqual([
      'detach_container',
      'attach_container',
    ]);
    // Once answered, the handle is known: a later attach goes alone (and overlayd refuses it).
    scripted.received.length = 0;
    await expect(daemon.attachContainer(attach)).rejects.toMatchObject({
      op: 'attach_container',
      delivery: 'sent',
    });
    expect(scripted.received.map((r) => r.frame.request.op)).toEqual(['attach_container']);
    // overlayd holds the container once: one detach leaves nothing attached.
    await daemon.detachContainer({ handle });
    expectNotAttached(overlayd.engine, handle);
  });

  it('brings back a shared overlay torn down behind its back, with its peers and attachments', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'manager-shared-'));
    const socket = join(dir, 'o.sock');
    const engine = new Engine();
    const start = () => startOverlayd({ socket, engine, serve: { group: null } });
    let overlayd = await start();
    try {
      manager = await OverlayManager.connect(socket);
      await manager.setupGlobalOverlay(globalOverlay(wgKey()));
      await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
      await manager.setupServiceOverlay({ service: 'api', mode: 'shared' });
      const peer = wgKey();
      await manager.addServicePeer({
        service: 'web',
        publicKey: peer,
        endpoint: '',
        allowedIps: '10.200.1.0/24',
        persistentKeepaliveSecs: 0,
        allowedIp: '10.200.2.0/24',
      });
      const web = { platform: 'linux_pid' as const, pid: 9 };
      const api = { platform: 'linux_pid' as const, pid: 10 };
      await manager.attachContainer({ handle: web, service: 'web', joinGlobal: false });
      await manager.attachContainer({ handle: api, service: 'api', joinGlobal: false });
      const notices: ManagerEvent[] = [];
      manager.onEvent((event) => notices.push(event));
      const resynced = new Promise<ManagerEvent>((resolve) => {
        manager?.onEvent((event) => {
          if (event.event === 'resynced' || event.event === 'resyncFailed') resolve(event);
        });
      });
      // Someone else tears web down (its peer and container go with it); then the connection drops.
      expect(engine.handle({ op: 'teardown_service_overlay', service: 'web' }).response).toEqual({
        result: 'ok',
      });
      await overlayd.close();
      overlayd = await start();

      expect(await resynced).toMatchObject({
        event: 'resynced',
        overlayd: 'same',
        reapplied: [
          { step: 'setup_service_overlay web' },
          { step: 'setup_service_overlay api' },
          { step: `add_peer service web ${peer}` },
          { step: `add_allowed_ip service web ${peer} 10.200.2.0/24` },
          { step: 'detach_container linux_pid 9' },
          { step: 'attach_container linux_pid 9' },
          { step: 'detach_container linux_pid 10' },
          { step: 'attach_container linux_pid 10' },
        ],
      });
      // overlayd has them all again: the peer with both its allowed IPs, both containers once.
      const scope = { scope: 'service' as const, service: 'web' };
      for (const cidr of ['10.200.1.0/24', '10.200.2.0/24']) {
        expect(
          engine.handle({ op: 'remove_allowed_ip', pubkey: peer, cidr, scope }).response,
        ).toEqual({ result: 'ok' });
      }
      expect(manager.state).toBe('synced');
      // Each came back at its address (a move would be reported), and overlayd holds each once.
      expect(notices.filter((event) => event.event === 'attachmentMoved')).toEqual([]);
      await manager.detachContainer({ handle: web });
      await manager.detachContainer({ handle: api });
      for (const handle of [web, api]) expectNotAttached(engine, handle);
    } finally {
      await overlayd.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
