/**
 * The main job: drive a simulated overlayd (a child process) through a node's
 * life, kill it, and show the client backing off, reconnecting, and sending
 * the request that waited meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { InspectionEvent } from 'xstate';
import { BACKOFF_ATTEMPTS } from '../../machines/backoff.js';
import { formatResponse, type OutputStream } from '../cli/output.js';
import { OverlaydClient } from '../client/client.js';
import type { OverlaydRequestInput, OverlaydResponse } from '../protocol/index.js';
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

/** The node's configuration, as a host daemon would (re)apply it. */
function desiredState(): OverlaydRequestInput[] {
  return [
    // Beyond 2^53: carried exactly as a bigint.
    { op: 'set_local_node_id', node_id: 9_007_199_254_740_993n },
    { op: 'set_local_wg_pubkey', pubkey: wgKey() },
    {
      op: 'setup_global_overlay',
      deployment: 'demo',
      instance_id: 'node-a',
      cluster_cidr: '10.200.0.0/16',
      slice_cidr: '10.200.0.0/28',
      wg_port: 51820,
      nat_enabled: true,
    },
    ...PEERS.map(
      (peer): OverlaydRequestInput => ({
        op: 'add_peer',
        public_key: peer.key,
        endpoint: peer.endpoint,
        allowed_ips: peer.allowed,
        persistent_keepalive_secs: 25,
      }),
    ),
  ];
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const narrator = new Narrator(options.out);
  const { style } = narrator;
  const dir = await mkdtemp(join(tmpdir(), 'overlayd-demo-'));
  const overlayd = new OverlaydProcess(join(dir, 'overlayd.sock'));
  const client = new OverlaydClient(
    overlayd.socket,
    options.inspect ? { inspect: options.inspect } : {},
  );
  narrator.follow(client);
  options.onReady?.({ overlayd, client, narrator });

  /** Send, print the answer, and fail loudly on `err`. */
  const send = async (request: OverlaydRequestInput): Promise<OverlaydResponse> => {
    const response = await client.request(request);
    narrator.answer(`${request.op}: ${summary(response)}`);
    if (response.result === 'err')
      throw new Error(`overlayd refused ${request.op}: ${response.message}`);
    return response;
  };

  try {
    narrator.line(
      style.bold('overlayd demo') + style.dim(` — simulated overlayd on ${overlayd.socket}`),
    );
    if (options.inspect === undefined) {
      narrator.line(style.dim('(npm start -- --ui shows the statechart live in a browser)'));
    }

    narrator.step('start overlayd as a child process, connect with backoff while it boots');
    narrator.note(`spawned overlayctl serve (pid ${overlayd.start()})`);
    await client.open(BACKOFF_ATTEMPTS);

    narrator.step(
      'node id (u64 beyond 2^53), WireGuard key, global overlay with a /28 slice, 2 peers',
    );
    for (const request of desiredState()) await send(request);

    narrator.step(
      "service overlay 'web'; 3 containers ask for addresses at once (written together: 3 in flight)",
    );
    await send({ op: 'setup_service_overlay', service: 'web', mode: 'shared' });
    await Promise.all(
      [1, 2, 3].map(() => send({ op: 'allocate_ip', service: 'web', join_global: false })),
    );

    narrator.step('attach a guest VM (overlayd answers its WireGuard config)');
    await send({
      op: 'attach_container',
      handle: { platform: 'guest_managed', id: 'vm-1' },
      service: 'web',
      join_global: true,
      dns_domain: 'overlay.local',
    });

    narrator.step('status');
    narrator.line(indent(formatResponse(shortKeys(await send({ op: 'status' })))));

    const downMs = options.downMs ?? 1500;
    narrator.step(`SIGKILL overlayd, restart it ${downMs} ms later; a request waits meanwhile`);
    narrator.note(
      style.yellow(`SIGKILL overlayd (pid ${overlayd.pid}); its socket file stays behind`),
    );
    await overlayd.kill('SIGKILL');
    const restart = sleep(downMs).then(() => {
      narrator.note(`restarting overlayd (pid ${overlayd.start()})`);
    });
    narrator.note('status sent while overlayd is down: it waits in the queue');
    const queued = send({ op: 'status' });
    await restart;
    const fresh = await queued;
    narrator.note(
      `answered after the reconnect: ${fresh.result === 'status' ? fresh.peer_count : '?'} peers (the new overlayd starts empty)`,
    );

    if (options.follow) {
      narrator.step(
        'follow: nat_tick + status every few seconds, desired state re-applied after each restart (Ctrl-C stops)',
      );
      await followLoop(client, send, options.follow, options.tickMs ?? 2000, narrator);
    }

    narrator.step('shutdown');
    if (overlayd.running) {
      await send({ op: 'shutdown' });
      await client.close();
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
    await client.close();
    await overlayd.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

async function followLoop(
  client: OverlaydClient,
  send: (request: OverlaydRequestInput) => Promise<OverlaydResponse>,
  stop: Promise<unknown>,
  tickMs: number,
  narrator: Narrator,
): Promise<void> {
  const stopped = new AbortController();
  void stop.then(() => stopped.abort());
  // The overlayd that came back has lost its state: apply ours again first.
  let reapply = true;
  const unsubscribe = client.onEvent((event) => {
    if (event.event === 'reconnected') reapply = true;
  });
  try {
    while (!stopped.signal.aborted) {
      try {
        if (reapply) {
          reapply = false;
          narrator.note('re-applying the desired state to a fresh overlayd');
          for (const request of desiredState()) await send(request);
        }
        await delay(tickMs, undefined, { signal: stopped.signal });
        await send({ op: 'nat_tick' });
        await send({ op: 'status' });
      } catch (error) {
        if (stopped.signal.aborted) break;
        // overlayd may be down (the visualizer's "kill overlayd"): say so and go on.
        narrator.note(
          narrator.style.yellow(error instanceof Error ? error.message : String(error)),
        );
      }
    }
  } finally {
    unsubscribe();
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
