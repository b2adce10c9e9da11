/**
 * The demo in process: `runDemo` with a collecting output stream. Its
 * overlayd is still a child process (the built CLI's `serve`, which the
 * globalSetup builds); demo.test.ts runs the whole `npm start` binary.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { type DemoHandles, type DemoOptions, runDemo, summary } from '../../src/demo/demo.js';
import { decodeWire } from '../../src/protocol/index.js';

const ANSI = /\x1b\[\d+m/g;

/** An output stream that collects what the demo narrates. */
function collector(isTTY = false) {
  let text = '';
  return {
    stream: { write: (chunk: string) => (text += chunk), isTTY },
    get text() {
      return text;
    },
    /** The text without colours. */
    get plain() {
      return text.replace(ANSI, '');
    },
  };
}

async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const count = (text: string, pattern: RegExp): number =>
  (text.match(new RegExp(pattern, 'g')) ?? []).length;

/** Demos started with `follow`: stopped after each test, even a failed one. */
const following: Array<{ stop(): void; done: Promise<void> }> = [];

/** Runs the demo with `follow`, handing the test its handles and the stop switch. */
function follow(options: Omit<DemoOptions, 'out' | 'follow' | 'onReady'>, isTTY = false) {
  const out = collector(isTTY);
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let handles: DemoHandles | undefined;
  const done = runDemo({
    ...options,
    out: out.stream,
    follow: stopped,
    onReady: (ready) => {
      handles = ready;
    },
  });
  // Keep a failure from going unhandled while the test is still waiting.
  done.catch(() => {});
  const demo = {
    out,
    done,
    stop,
    get handles(): DemoHandles {
      if (handles === undefined) throw new Error('the demo is not ready');
      return handles;
    },
  };
  following.push(demo);
  return demo;
}

afterEach(async () => {
  vi.unstubAllEnvs();
  // Its overlayd is detached (its own process group): never leave one behind.
  for (const demo of following.splice(0)) {
    demo.stop();
    await demo.done.catch(() => {});
  }
});

describe('runDemo in process', { timeout: 30_000 }, () => {
  it('drives overlayd, kills it, backs off, reconnects, and shuts it down', async () => {
    const out = collector();
    const inspected: InspectionEvent[] = [];
    let ready: DemoHandles | undefined;
    await runDemo({
      out: out.stream,
      inspect: (event) => inspected.push(event),
      onReady: (handles) => {
        ready = handles;
      },
    });
    const text = out.text;
    expect(text).not.toMatch(ANSI);
    expect(text).toMatch(/^overlayd demo — simulated overlayd on \/\S+\/overlayd\.sock\n/);
    expect(text).toMatch(/spawned overlayctl serve \(pid \d+\)/);
    expect(text).toMatch(/^ +\d+\.\d{3}s {2}connected\n/m);
    // The node id beyond 2^53 went out exactly (overlayd accepted it), then the key and the overlay.
    expect(text).toMatch(
      /set_local_node_id #1\n[\s\S]*set_local_wg_pubkey #2\n[\s\S]*setup_global_overlay #3\n[\s\S]*status #4\n/,
    );
    expect(text).toMatch(/← setupGlobalOverlay: bridge zl-br-[0-9a-f]{8}; zl-overlay0, 0 peers/);
    expect(text).toMatch(/← addGlobalPeer node-b: ok[\s\S]*← addGlobalPeer node-c: ok/);
    expect(text).toMatch(/event {14}peer_health_changed pubkey=[A-Za-z0-9+/]{8}… healthy=true/);
    expect(text).toMatch(/← setupServiceOverlay: service overlay web \(shared\)/);
    // Three attachments at once: the manager runs them one after the other, in call order.
    expect(text).toMatch(
      /← attachContainer pid 101: attached 10\.200\.0\.2\n[\s\S]*← attachContainer pid 102: attached 10\.200\.0\.3\n[\s\S]*← attachContainer pid 103: attached 10\.200\.0\.4\n/,
    );
    expect(text).not.toMatch(/queued/);
    expect(text).toMatch(
      /← attachContainerGuest: guest config: 10\.200\.0\.\d+\/28, port 51820, 2 peers/,
    );
    // The status table, keys shortened.
    expect(text).toMatch(/← status: zl-overlay0, 2 peers, 1 services/);
    expect(text).toMatch(/^ {11}node ip +10\.200\.0\.1$/m);
    expect(text).toMatch(/^ {13}PUBLIC KEY +ENDPOINT +ALLOWED IPS +LAST HANDSHAKE$/m);
    expect(text).toMatch(
      /^ {13}[A-Za-z0-9+/]{8}… +198\.51\.100\.7:51820 +10\.200\.0\.16\/28 +\d{4}-/m,
    );

    const afterKill = text.slice(text.indexOf('SIGKILL overlayd ('));
    expect(text).toMatch(
      /▸ SIGKILL overlayd, restart it 1500 ms later; the manager brings it back/,
    );
    expect(afterKill).toMatch(
      /backoff +next attempt 1\/20 in 100 ms {2}\(connection closed by peer\)/,
    );
    expect(afterKill).toMatch(/mgr reconnecting/);
    expect(afterKill).toMatch(/status called while overlayd is down: it waits behind the resync/);
    // The waiting call is held by the manager, not queued in the client.
    expect(afterKill).toMatch(
      /backoff +next attempt \d+\/20 in \d+ ms {2}\(io error: connect ECONNREFUSED\)\n/,
    );
    expect(afterKill).toMatch(/restarting overlayd \(pid \d+\): it starts empty/);
    expect(afterKill).toMatch(/event {14}reconnected endpoint=\//);
    expect(afterKill).toMatch(/mgr reconciling +observe status, re-apply what overlayd lost/);
    expect(afterKill).toMatch(
      /resynced overlayd restarted, 11 re-applied in [\d.]+ ms: set_local_node_id, set_local_wg_pubkey, setup_global_overlay, setup_service_overlay, add_peer, add_peer, register_dns, attach_container, attach_container, attach_container, attach_container\n/,
    );
    expect(afterKill).toMatch(/guestReattached vm-1: a new WireGuard config, 10\.200\.0\.5\n/);
    // The call that waited is answered by the new overlayd, back to the state before the kill.
    const resynced = afterKill.indexOf('resynced overlayd');
    expect(afterKill.slice(resynced)).toMatch(
      /mgr synced[\s\S]*← status: zl-overlay0, 2 peers, 1 services/,
    );
    expect(afterKill).toMatch(
      /the new overlayd is back to the declared state: same interface, 2 peers and allowed IPs, 1 services/,
    );
    expect(text).not.toContain('follow:');
    expect(text).toMatch(/← shutdown: ok\n[\s\S]*overlayd exited \(code 0\)/);
    // Each overlayd saw both peers come up.
    expect(text).toMatch(/\ndone: \d+ requests sent, \d+ answered, 4 events, 2 connections\n$/);

    // The inspector saw both actors; overlayd and its directory are gone.
    const machines = new Set(
      inspected.flatMap((event) =>
        event.type === '@xstate.snapshot'
          ? [(event.snapshot as { machine?: { id: string } }).machine?.id ?? 'not a machine']
          : [],
      ),
    );
    expect(machines).toEqual(new Set(['overlaydConnection', 'overlayManager', 'not a machine']));
    expect(ready?.manager.state).toBe('closed');
    expect(ready?.overlayd.running).toBe(false);
    expect(ready?.client.state).toBe('closed');
    expect(existsSync(dirname(ready!.overlayd.socket))).toBe(false);
  });

  it('follow: ticks nat_tick + status, and re-applies the state after each restart', async () => {
    vi.stubEnv('NO_COLOR', '');
    const demo = follow({ downMs: 100, tickMs: 30 }, true);
    const reapplied = () => count(demo.out.plain, /resynced overlayd restarted/);
    const ticks = () => count(demo.out.plain, /← natMaintenanceTick: ok/);
    await until(() => reapplied() === 1 && ticks() >= 2, 'two ticks');
    // NAT is on and both peers have endpoints: each tick moves them.
    expect(demo.out.plain).toMatch(
      /event {14}nat_endpoint_changed pubkey=\S+ endpoint=198\.51\.100\.7:51821/,
    );
    const { overlayd } = demo.handles;
    expect(() => overlayd.start()).toThrow(`overlayd is already running (pid ${overlayd.pid})`);

    // Killed and restarted under the loop: the manager gives the fresh overlayd the state again.
    const before = ticks();
    expect(await overlayd.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(overlayd.running).toBe(false);
    expect(await overlayd.kill()).toEqual({ code: null, signal: 'SIGKILL' });
    overlayd.start();
    await until(
      () => reapplied() === 2 && ticks() >= before + 2,
      'the re-apply and two more ticks',
    );
    demo.stop();
    await demo.done;

    const text = demo.out.plain;
    expect(demo.out.text).toMatch(ANSI);
    expect(demo.out.text).toContain('\x1b[1m▸ follow: nat_tick + status every few seconds');
    expect(demo.out.text).toMatch(/\x1b\[32m← natMaintenanceTick: ok\x1b\[39m/);
    expect(demo.out.text).toMatch(/\x1b\[33mbackoff {10}\x1b\[39m/);
    expect(count(text, /event {14}reconnected/)).toBe(2);
    const afterRestart = text.slice(text.lastIndexOf('resynced overlayd restarted'));
    expect(afterRestart).toMatch(/mgr synced[\s\S]*← natMaintenanceTick: ok/);
    expect(afterRestart).toMatch(/← status: zl-overlay0, 2 peers, 1 services/);
    expect(text).toMatch(/▸ shutdown\n[\s\S]*overlayd exited \(code 0\)/);
    expect(text).toMatch(/done: \d+ requests sent, \d+ answered, \d+ events, 3 connections\n$/);
  });

  it('follow: says so when overlayd was shut down meanwhile', async () => {
    const demo = follow({ downMs: 100 });
    await until(
      () => /resynced overlayd restarted[\s\S]*▸ follow:/.test(demo.out.plain),
      'the follow loop',
    );
    // Waiting out the default 2 s tick: stopped in the middle of it.
    await demo.handles.client.request({ op: 'shutdown' });
    expect(await demo.handles.overlayd.exited).toEqual({ code: 0, signal: null });
    demo.stop();
    await demo.done;
    expect(demo.out.text).not.toContain('← natMaintenanceTick');
    expect(demo.out.text).toMatch(/▸ shutdown\n.*overlayd is not running\n\ndone: /);
  });

  it('follow: notes failed requests and goes on; a failure at the end prints overlayd’s log', async () => {
    const demo = follow({ downMs: 100, tickMs: 20 });
    await until(() => demo.out.text.includes('▸ follow:'), 'the follow loop');
    await until(() => demo.out.text.includes('← natMaintenanceTick: ok'), 'a tick');
    await demo.handles.client.close();
    await until(() => count(demo.out.text, /client is closed/) >= 2, 'two failed ticks');
    demo.stop();
    await expect(demo.done).rejects.toThrow('client is closed');
    const text = demo.out.text;
    expect(text).toMatch(/^ +\d+\.\d{3}s {21}client is closed/m);
    // overlayd's own log (its stderr), shown to explain the failure.
    expect(text).toMatch(/^ {11}\S+Z overlayd: simulated engine listening on \S+overlayd\.sock/m);
    expect(text).not.toContain('done:');
    const { overlayd } = demo.handles;
    expect(overlayd.running).toBe(false);
    // The demo's cleanup sent it a SIGTERM, on which `serve` stops cleanly.
    expect(await overlayd.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(dirname(overlayd.socket))).toBe(false);
  });
});

describe('summary', () => {
  it('gives one line for each kind of answer', () => {
    const line = (json: string) => summary(decodeWire('OverlaydResponse', json));
    expect(line('{"result":"ok"}')).toBe('ok');
    expect(line('{"result":"ip","ip":"10.0.0.2"}')).toBe('10.0.0.2');
    expect(line('{"result":"attached","ip":"10.0.0.3"}')).toBe('attached 10.0.0.3');
    expect(line('{"result":"err","message":"no"}')).toBe('err: no');
    expect(line('{"result":"bridge_name","name":"br0"}')).toBe('bridge br0');
    expect(line('{"result":"status","peer_count":0,"service_count":1}')).toBe(
      'no interface, 0 peers, 1 services',
    );
  });
});
