/**
 * The main job: drive a simulated overlayd (a child process) through a node's
 * life with the OverlayManager, kill it, and show the client backing off and
 * reconnecting, the manager bringing the new (empty) overlayd back to the
 * declared state, and the call that waited meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { InspectionEvent } from 'xstate';
import { BACKOFF_ATTEMPTS } from '../../machines/backoff.js';
import { formatResponse, type OutputStream } from '../cli/output.js';
import type { OverlaydClient } from '../client/client.js';
import { OverlayManager, type StatusResult } from '../manager/manager.js';
import type { OverlaydResponse } from '../protocol/index.js';
import { Narrator, short } from './narrator.js';
import { OverlaydProcess } from './overlayd-process.js';

export interface DemoOptions {
  out: OutputStream;
  /** Keep running (periodic nat_tick + status) until `stop` resolves. */
  follow?: Promise<unknown>;
  /** Inspection observers (the Stately inspector, the visualizer). */
  inspect?: (event: InspectionEvent) => void;
  /** Called once overlayd and the client exist (the visualizer's controls use them). */
  onReady?: (handles: DemoHandles) => void;
  /** How long overlayd stays down (default 1500 ms). */
  downMs?: number;
  /** Period of the follow loop (default 2000 ms). */
  tickMs?: number;
}

export interface DemoHandles {
  overlayd: OverlaydProcess;
  manager: OverlayManager;
  client: OverlaydClient;
  narrator: Narrator;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const wgKey = () => randomBytes(32).toString('base64');

/** A one-line summary of an answer. */
export function summary(response: OverlaydResponse): string {
  switch (response.result) {
    case 'ok':
      return 'ok';
    case 'ip':
      return response.ip;
    case 'bridge_name':
      return `bridge ${response.name}`;
    case 'service_overlay':
      return `service overlay ${response.name} (${response.mode})`;
    case 'guest_config':
      return `guest config: ${response.overlay_ip}/${response.prefix_len}, port ${response.listen_port}, ${response.peers.length} peers`;
    case 'status':
      return `${response.interface ?? 'no interface'}, ${response.peer_count} peers, ${response.service_count} services`;
    case 'attached':
      return `attached ${response.ip}`;
    case 'err':
      return `err: ${response.message}`;
  }
}

const PEERS = [
  { name: 'node-b', endpoint: '198.51.100.7:51820', allowed: '10.200.0.16/28' },
  { name: 'node-c', endpoint: '203.0.113.9:51820', allowed: '10.200.0.32/28' },
].map((peer) => ({ ...peer, key: wgKey() }));

export async function runDemo(options: DemoOptions): Promise<void> {
  const narrator = new Narrator(options.out);
  const { style } = narrator;
  const dir = await mkdtemp(join(tmpdir(), 'overlayd-demo-'));
  const overlayd = new OverlaydProcess(join(dir, 'overlayd.sock'));
  // The demo restarts overlayd itself, as a supervisor would: after the kill it reconnects
  // with the supervisor's 20 attempts, so the status call made meanwhile waits them out.
  const manager = new OverlayManager(overlayd.socket, {
    reconnect: { attempts: BACKOFF_ATTEMPTS },
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  const { client } = manager;
  narrator.follow(client);
  narrator.followManager(manager);
  options.onReady?.({ overlayd, client, manager, narrator });

  /** Run one manager call, print its answer in one line. */
  const show = async <T>(what: string, call: Promise<T>, answer: (value: T) => string) => {
    const value = await call;
    narrator.answer(`${what}: ${answer(value)}`);
    return value;
  };
  const done = () => 'ok';

  try {
    narrator.line(
      style.bold('overlayd demo') + style.dim(` — simulated overlayd on ${overlayd.socket}`),
    );
    if (options.inspect === undefined) {
      narrator.line(style.dim('(npm start -- --ui shows the statechart live in a browser)'));
    }

    narrator.step('start overlayd as a child process, connect with backoff while it boots');
    narrator.note(`spawned overlayctl serve (pid ${overlayd.start()})`);
    await manager.open(BACKOFF_ATTEMPTS);

    narrator.step(
      'setupGlobalOverlay: node id (u64 beyond 2^53), WireGuard key, a /28 slice, then status; 2 peers',
    );
    await show(
      'setupGlobalOverlay',
      manager.setupGlobalOverlay({
        // Beyond 2^53: carried exactly as a bigint.
        nodeId: 9_007_199_254_740_993n,
        wgPubkey: wgKey(),
        deployment: 'demo',
        instanceId: 'node-a',
        clusterCidr: '10.200.0.0/16',
        sliceCidr: '10.200.0.0/28',
        wgPort: 51820,
        natEnabled: true,
      }),
      ({ bridgeName, status }) => `bridge ${bridgeName}; ${summary(status)}`,
    );
    for (const peer of PEERS) {
      await show(
        `addGlobalPeer ${peer.name}`,
        manager.addGlobalPeer({
          publicKey: peer.key,
          endpoint: peer.endpoint,
          allowedIps: peer.allowed,
          persistentKeepaliveSecs: 25,
        }),
        done,
      );
    }

    narrator.step(
      "service overlay 'web'; 3 containers attached at once (the manager runs one call at a time)",
    );
    await show(
      'setupServiceOverlay',
      manager.setupServiceOverlay({ service: 'web', mode: 'shared' }),
      summary,
    );
    await Promise.all(
      [101, 102, 103].map((pid) =>
        show(
          `attachContainer pid ${pid}`,
          manager.attachContainer({
            handle: { platform: 'linux_pid', pid },
            service: 'web',
            joinGlobal: true,
          }),
          summary,
        ),
      ),
    );
    await show(
      'registerDns web.demo.local',
      manager.registerDns({ name: 'web.demo.local', ip: '10.200.0.2' }),
      done,
    );

    narrator.step('attach a guest VM (overlayd answers its WireGuard config)');
    await show(
      'attachContainerGuest',
      manager.attachContainerGuest({
        id: 'vm-1',
        service: 'web',
        joinGlobal: true,
        dnsDomain: 'overlay.local',
      }),
      summary,
    );

    narrator.step('status');
    const before = await show('status', manager.status(), summary);
    narrator.line(indent(formatResponse(shortKeys(before))));

    const downMs = options.downMs ?? 1500;
    narrator.step(
      `SIGKILL overlayd, restart it ${downMs} ms later; the manager brings it back; a call waits meanwhile`,
    );
    narrator.note(
      style.yellow(`SIGKILL overlayd (pid ${overlayd.pid}); its socket file stays behind`),
    );
    await overlayd.kill('SIGKILL');
    const restart = sleep(downMs).then(() => {
      narrator.note(`restarting overlayd (pid ${overlayd.start()}): it starts empty`);
    });
    // The call is made once the connection has seen the drop, so that it waits rather than
    // going out on the dying connection.
    while (manager.state === 'synced') await sleep(5);
    narrator.note('status called while overlayd is down: it waits behind the resync');
    const waiting = show('status', manager.status(), summary);
    await restart;
    const after = await waiting;
    narrator.note(
      sameOverlay(before, after)
        ? style.green(
            `the new overlayd is back to the declared state: same interface, ${after.peer_count} peers and allowed IPs, ${after.service_count} services`,
          )
        : style.yellow('the new overlayd differs from the one before the kill'),
    );
    narrator.line(indent(formatResponse(shortKeys(after))));

    if (options.follow) {
      narrator.step(
        'follow: nat_tick + status every few seconds; the manager re-applies the state after each restart (Ctrl-C stops)',
      );
      await followLoop(manager, options.follow, options.tickMs ?? 2000, narrator);
    }

    narrator.step('shutdown');
    if (overlayd.running) {
      // Not a manager operation (the daemon does not stop overlayd): sent through its client.
      narrator.answer(`shutdown: ${summary(await client.request({ op: 'shutdown' }))}`);
      await manager.close();
      const exit = await overlayd.exited;
      narrator.note(`overlayd exited (code ${exit.code})`);
    } else {
      narrator.note('overlayd is not running');
    }
    const { sent, answered, events, connections } = client.stats;
    narrator.line(
      `\n${style.bold('done')}: ${sent} requests sent, ${answered} answered, ${events} events, ${connections} connections`,
    );
  } catch (error) {
    if (overlayd.log.length > 0) narrator.line(style.dim(indent(overlayd.log.join('\n'))));
    throw error;
  } finally {
    await manager.close();
    await overlayd.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

/** The overlay and its peers, without the clocks: what a restart must give back. */
function sameOverlay(before: StatusResult, after: StatusResult): boolean {
  const shape = (status: StatusResult) =>
    JSON.stringify({
      ...status,
      peers: status.peers.map(({ last_handshake_unix_secs: _, ...peer }) => peer),
    });
  return shape(before) === shape(after);
}

async function followLoop(
  manager: OverlayManager,
  stop: Promise<unknown>,
  tickMs: number,
  narrator: Narrator,
): Promise<void> {
  const stopped = new AbortController();
  void stop.then(() => stopped.abort());
  while (!stopped.signal.aborted) {
    try {
      await delay(tickMs, undefined, { signal: stopped.signal });
      await manager.natMaintenanceTick();
      narrator.answer('natMaintenanceTick: ok');
      narrator.answer(`status: ${summary(await manager.status())}`);
    } catch (error) {
      if (stopped.signal.aborted) break;
      // overlayd may be down (the visualizer's "kill overlayd"): say so and go on.
      narrator.note(narrator.style.yellow(error instanceof Error ? error.message : String(error)));
    }
  }
}

/** The status with its keys shortened, to keep the table narrow. */
function shortKeys(response: OverlaydResponse): OverlaydResponse {
  if (response.result !== 'status') return response;
  return {
    ...response,
    ...(response.public_key === undefined ? {} : { public_key: short(response.public_key) }),
    peers: response.peers.map((peer) => ({ ...peer, public_key: short(peer.public_key) })),
  };
}

const indent = (text: string): string =>
  text
    .split('\n')
    .map((line) => (line === '' ? line : `           ${line}`))
    .join('\n');
