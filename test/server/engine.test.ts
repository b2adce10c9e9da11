import { describe, expect, it } from 'vitest';
import type {
  OverlaydRequest,
  OverlaydResponse,
  PeerScope,
  RequestOf,
} from '../../src/protocol/index.js';
import { Engine, type EngineOptions } from '../../src/server/engine/engine.js';
import { isWireGuardKey } from '../../src/server/engine/keys.js';

const NOW = 1_700_000_000_123;
const GLOBAL: PeerScope = { scope: 'global' };
const KEY_A = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const KEY_B = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';

const SETUP: RequestOf<'setup_global_overlay'> = {
  op: 'setup_global_overlay',
  deployment: 'prod',
  instance_id: '42',
  cluster_cidr: '10.200.0.0/16',
  slice_cidr: '10.200.0.0/28',
  wg_port: 51820,
  nat_enabled: true,
};

function setup(over: Partial<RequestOf<'setup_global_overlay'>> = {}): OverlaydRequest {
  return { ...SETUP, ...over };
}

function service(name: string, mode: 'auto' | 'shared' | 'dedicated' = 'shared'): OverlaydRequest {
  return { op: 'setup_service_overlay', service: name, mode };
}

function addPeer(
  key: string,
  scope: PeerScope = GLOBAL,
  endpoint = '1.2.3.4:51820',
  allowed = '10.200.1.0/24',
): OverlaydRequest {
  return {
    op: 'add_peer',
    public_key: key,
    endpoint,
    allowed_ips: allowed,
    persistent_keepalive_secs: 25,
    scope,
  };
}

const pid = (n: number, svc = 'web'): OverlaydRequest => ({
  op: 'attach_container',
  handle: { platform: 'linux_pid', pid: n },
  service: svc,
  join_global: true,
});

/** A fresh engine that has accepted `requests` (each must succeed). */
function engineAfter(requests: OverlaydRequest[], options: EngineOptions = {}): Engine {
  const engine = new Engine({ now: () => NOW, ...options });
  for (const request of requests) {
    const { response } = engine.handle(request);
    if (response.result === 'err') throw new Error(`${request.op}: ${response.message}`);
  }
  return engine;
}

const answer = (engine: Engine, request: OverlaydRequest): OverlaydResponse =>
  engine.handle(request).response;

/** The error message answering `request`; fails when it succeeds. */
function refusal(engine: Engine, request: OverlaydRequest): string {
  const { response, events } = engine.handle(request);
  expect(response.result).toBe('err');
  expect(events).toEqual([]);
  return (response as { message: string }).message;
}

function status(engine: Engine) {
  const response = answer(engine, { op: 'status' });
  if (response.result !== 'status') throw new Error(`status answered ${response.result}`);
  return response;
}

function ip(engine: Engine, request: OverlaydRequest): string {
  const response = answer(engine, request);
  if (response.result !== 'ip' && response.result !== 'attached') {
    throw new Error(`answered ${JSON.stringify(response)}`);
  }
  return response.ip;
}

const allocate = (svc = 'web'): OverlaydRequest => ({
  op: 'allocate_ip',
  service: svc,
  join_global: true,
});
const release = (addr: string): OverlaydRequest => ({ op: 'release_ip', ip: addr });

describe('Engine', () => {
  describe('local identity', () => {
    it('stores the node id and shows the public key in status', () => {
      const engine = engineAfter([]);
      expect(answer(engine, { op: 'set_local_node_id', node_id: 2n ** 64n - 1n })).toEqual({
        result: 'ok',
      });
      expect(engine.nodeId).toBe(2n ** 64n - 1n);
      expect(answer(engine, { op: 'set_local_wg_pubkey', pubkey: KEY_A })).toEqual({
        result: 'ok',
      });
      expect(status(engine).public_key).toBe(KEY_A);
    });

    it('answers an empty status with only the counts', () => {
      expect(status(new Engine())).toEqual({
        result: 'status',
        peer_count: 0,
        service_count: 0,
        peers: [],
        dedicated_services: [],
      });
    });

    it('answers shutdown with ok', () => {
      expect(answer(engineAfter([]), { op: 'shutdown' })).toEqual({ result: 'ok' });
    });
  });

  describe('setup_global_overlay', () => {
    it('answers a bridge name of at most 15 characters and shows the overlay in status', () => {
      const engine = engineAfter([]);
      const response = answer(engine, setup());
      expect(response).toEqual({ result: 'bridge_name', name: expect.stringMatching(/^zl-br-/) });
      expect((response as { name: string }).name.length).toBeLessThanOrEqual(15);
      expect(status(engine)).toMatchObject({
        interface: 'zl-overlay0',
        node_ip: '10.200.0.1',
        overlay_cidr: '10.200.0.0/16',
        slice_cidr: '10.200.0.0/28',
      });
    });

    it('is idempotent: same name, allocations kept, settings updated', () => {
      const engine = engineAfter([setup({ nat_enabled: false })]);
      const first = answer(engine, setup({ nat_enabled: false }));
      expect(ip(engine, allocate())).toBe('10.200.0.2');
      expect(answer(engine, setup({ instance_id: '43' }))).toEqual(first);
      expect(ip(engine, allocate())).toBe('10.200.0.3');
      answer(engine, addPeer(KEY_A));
      // nat_enabled was switched on by the repeat
      expect(engine.handle({ op: 'nat_tick' }).events).toHaveLength(1);
    });

    it('refuses a different overlay while one is set up', () => {
      const engine = engineAfter([setup()]);
      expect(refusal(engine, setup({ slice_cidr: '10.200.0.16/28' }))).toBe(
        'global overlay already set up for deployment "prod" with cluster_cidr 10.200.0.0/16 ' +
          'and slice_cidr 10.200.0.0/28; tear it down first',
      );
      expect(refusal(engine, setup({ deployment: 'staging' }))).toMatch(/tear it down first/);
      const noSlice = engineAfter([setup({ slice_cidr: undefined })]);
      expect(
        refusal(noSlice, setup({ cluster_cidr: '10.100.0.0/16', slice_cidr: undefined })),
      ).toBe(
        'global overlay already set up for deployment "prod" with cluster_cidr 10.200.0.0/16; ' +
          'tear it down first',
      );
    });

    it.each([
      ['nope', 'invalid cluster_cidr "nope": expected address/prefix'],
      [
        '10.200.0.0/33',
        'invalid cluster_cidr "10.200.0.0/33": prefix length must be 0 to 32, got "33"',
      ],
      ['10.200.0.0/', 'invalid cluster_cidr "10.200.0.0/": prefix length must be 0 to 32, got ""'],
      ['10.200.0/16', 'invalid cluster_cidr "10.200.0/16": bad address "10.200.0"'],
      [
        '10.200.0.5/16',
        'invalid cluster_cidr "10.200.0.5/16": host bits are set (the network is 10.200.0.0/16)',
      ],
      [
        'fd00::/129',
        'invalid cluster_cidr "fd00::/129": prefix length must be 0 to 128, got "129"',
      ],
    ])('refuses cluster_cidr %s', (cidr, message) => {
      expect(refusal(engineAfter([]), setup({ cluster_cidr: cidr }))).toBe(message);
    });

    it('refuses a slice that is invalid or outside the cluster', () => {
      const engine = engineAfter([]);
      expect(refusal(engine, setup({ slice_cidr: '10.200.0.0/+8' }))).toMatch(
        /^invalid slice_cidr "10.200.0.0\/\+8"/,
      );
      expect(refusal(engine, setup({ slice_cidr: '10.9.0.0/28' }))).toBe(
        'slice_cidr 10.9.0.0/28 is not inside cluster_cidr 10.200.0.0/16',
      );
      expect(refusal(engine, setup({ slice_cidr: '10.0.0.0/8' }))).toMatch(/is not inside/);
      expect(refusal(engine, setup({ slice_cidr: 'fd00::/64' }))).toMatch(/is not inside/);
      expect(status(engine).interface).toBeUndefined();
    });

    it('allocates from the cluster CIDR when there is no slice', () => {
      const engine = engineAfter([setup({ slice_cidr: undefined, cluster_cidr: '10.9.0.0/30' })]);
      const snapshot = status(engine);
      expect(snapshot.node_ip).toBe('10.9.0.1');
      expect('slice_cidr' in snapshot).toBe(false);
      expect(ip(engine, allocate())).toBe('10.9.0.2');
      expect(refusal(engine, allocate())).toBe('no free address in 10.9.0.0/30');
    });

    it('works over IPv6', () => {
      const engine = engineAfter([
        setup({ cluster_cidr: 'fd00:200::/48', slice_cidr: 'fd00:200:0:0::/64' }),
      ]);
      expect(status(engine)).toMatchObject({ node_ip: 'fd00:200::1', slice_cidr: 'fd00:200::/64' });
      expect(ip(engine, allocate())).toBe('fd00:200::2');
    });

    it('refuses a wg_port held by a dedicated service overlay', () => {
      const engine = engineAfter([service('db', 'dedicated')]);
      expect(refusal(engine, setup({ wg_port: 51821 }))).toBe(
        'wg_port 51821 is in use by the dedicated overlay of service db',
      );
    });
  });

  describe('teardown_global_overlay', () => {
    it('clears allocations, attachments and global peers, pushing unhealthy events', () => {
      const engine = engineAfter([setup(), service('web'), addPeer(KEY_A), pid(1)]);
      ip(engine, allocate());
      const { response, events } = engine.handle({ op: 'teardown_global_overlay' });
      expect(response).toEqual({ result: 'ok' });
      expect(events).toEqual([{ event: 'peer_health_changed', pubkey: KEY_A, healthy: false }]);
      expect(status(engine)).toMatchObject({ peer_count: 0, service_count: 1, peers: [] });
      expect(status(engine).node_ip).toBeUndefined();
      expect(refusal(engine, allocate())).toBe('global overlay not set up');
      answer(engine, setup());
      expect(ip(engine, allocate())).toBe('10.200.0.2');
      // pid 1 went with the overlay: attaching it again is not refused as already attached.
      expect(ip(engine, pid(1))).toBe('10.200.0.3');
    });

    it('is ok when nothing is set up', () => {
      expect(engineAfter([]).handle({ op: 'teardown_global_overlay' })).toEqual({
        response: { result: 'ok' },
        events: [],
      });
    });

    it('keeps dedicated service overlays and their containers', () => {
      const engine = engineAfter([setup(), service('db', 'dedicated')]);
      expect(ip(engine, pid(7, 'db'))).toBe('10.201.0.2');
      answer(engine, { op: 'teardown_global_overlay' });
      expect(status(engine).dedicated_services).toHaveLength(1);
      expect(
        answer(engine, { op: 'detach_container', handle: { platform: 'linux_pid', pid: 7 } }),
      ).toEqual({ result: 'ok' });
    });
  });

  describe('allocate_ip and release_ip', () => {
    it('hands out the lowest free address and takes released ones back', () => {
      const engine = engineAfter([setup()]);
      expect(answer(engine, allocate())).toEqual({ result: 'ip', ip: '10.200.0.2' });
      expect(ip(engine, allocate())).toBe('10.200.0.3');
      expect(answer(engine, release('10.200.0.2'))).toEqual({ result: 'ok' });
      expect(ip(engine, allocate())).toBe('10.200.0.2');
    });

    it('refuses when the slice is exhausted', () => {
      const engine = engineAfter([setup({ slice_cidr: '10.200.0.0/29' })]);
      for (let i = 2; i <= 6; i++) expect(ip(engine, allocate())).toBe(`10.200.0.${i}`);
      expect(refusal(engine, allocate())).toBe('no free address in 10.200.0.0/29');
    });

    it('refuses when the global overlay is not set up', () => {
      const engine = engineAfter([]);
      expect(refusal(engine, allocate())).toBe('global overlay not set up');
      expect(refusal(engine, release('10.200.0.2'))).toBe('global overlay not set up');
    });

    it('refuses to release an address outside the slice, unallocated, or the node’s own', () => {
      const engine = engineAfter([setup()]);
      expect(refusal(engine, release('10.200.0.16'))).toBe(
        '10.200.0.16 is outside the slice (10.200.0.0/28)',
      );
      expect(refusal(engine, release('fd00::1'))).toMatch(/is outside the slice/);
      expect(refusal(engine, release('10.200.0.5'))).toBe('10.200.0.5 is not allocated');
      expect(refusal(engine, release('10.200.0.1'))).toBe(
        "10.200.0.1 is the overlay's own address",
      );
    });

    it('refuses to release an attached container’s address', () => {
      const engine = engineAfter([setup(), service('web'), pid(9), pid(10)]);
      expect(refusal(engine, release('10.200.0.3'))).toBe(
        '10.200.0.3 is attached to linux_pid 10; detach it instead',
      );
    });

    it('draws from a dedicated service’s subnet', () => {
      const engine = engineAfter([setup(), service('db', 'dedicated')]);
      expect(ip(engine, allocate('db'))).toBe('10.201.0.2');
      expect(ip(engine, allocate('web'))).toBe('10.200.0.2');
      expect(refusal(engine, release('10.201.0.1'))).toBe(
        "10.201.0.1 is the overlay's own address",
      );
      expect(answer(engine, release('10.201.0.2'))).toEqual({ result: 'ok' });
      expect(refusal(engine, release('10.202.0.1'))).toBe(
        '10.202.0.1 is outside the slice (10.200.0.0/28, 10.201.0.0/24)',
      );
    });
  });

  describe('service overlays', () => {
    it('answers shared for shared and auto, idempotently, without a global overlay', () => {
      const engine = engineAfter([]);
      expect(answer(engine, service('web', 'auto'))).toEqual({
        result: 'service_overlay',
        name: 'web',
        mode: 'shared',
      });
      expect(answer(engine, service('web', 'shared'))).toEqual({
        result: 'service_overlay',
        name: 'web',
        mode: 'shared',
      });
      expect(status(engine)).toMatchObject({ service_count: 1, dedicated_services: [] });
    });

    it('carves a subnet, a port and keys for each dedicated overlay', () => {
      const engine = engineAfter([setup({ wg_port: 51822 })]);
      const web = answer(engine, service('web', 'dedicated'));
      expect(web).toEqual({
        result: 'service_overlay',
        name: 'web',
        mode: 'dedicated',
        wg_public_key: expect.any(String),
        wg_port: 51821,
        overlay_ip: '10.201.0.1',
        subnet: '10.201.0.0/24',
      });
      expect(isWireGuardKey((web as { wg_public_key: string }).wg_public_key)).toBe(true);
      expect(answer(engine, service('web', 'dedicated'))).toEqual(web);
      expect(answer(engine, service('db', 'dedicated'))).toMatchObject({
        wg_port: 51823,
        overlay_ip: '10.201.1.1',
        subnet: '10.201.1.0/24',
      });
      answer(engine, addPeer(KEY_A, { scope: 'service', service: 'web' }));
      expect(status(engine)).toMatchObject({
        service_count: 2,
        peer_count: 0,
        dedicated_services: [
          {
            service: 'web',
            interface: 'zl-svc-web0',
            public_key: (web as { wg_public_key: string }).wg_public_key,
            listen_port: 51821,
            overlay_ip: '10.201.0.1',
            subnet: '10.201.0.0/24',
            peer_count: 1,
          },
          { service: 'db', interface: 'zl-svc-db0', listen_port: 51823, peer_count: 0 },
        ],
      });
    });

    it('reuses the subnet and port of a torn-down dedicated overlay', () => {
      const engine = engineAfter([service('a', 'dedicated'), service('b', 'dedicated')]);
      answer(engine, { op: 'teardown_service_overlay', service: 'a' });
      expect(answer(engine, service('c', 'dedicated'))).toMatchObject({
        wg_port: 51821,
        subnet: '10.201.0.0/24',
      });
    });

    it('carves /64s when the global overlay is IPv6', () => {
      const engine = engineAfter([setup({ cluster_cidr: 'fd00:200::/48', slice_cidr: undefined })]);
      expect(answer(engine, service('db', 'dedicated'))).toMatchObject({
        overlay_ip: 'fd00:201::1',
        subnet: 'fd00:201::/64',
      });
    });

    it('refuses another mode for a service that has an overlay', () => {
      const engine = engineAfter([service('web'), service('db', 'dedicated')]);
      expect(refusal(engine, service('web', 'dedicated'))).toBe(
        'service web already has a shared overlay; tear it down first',
      );
      expect(refusal(engine, service('db', 'auto'))).toBe(
        'service db already has a dedicated overlay; tear it down first',
      );
    });

    it('refuses an empty service name', () => {
      expect(refusal(engineAfter([]), service(''))).toBe('service name must not be empty');
    });

    it('refuses when the subnet pool or the ports run out', () => {
      const pool = engineAfter([service('a', 'dedicated')], { servicePool4: '10.201.0.0/24' });
      expect(refusal(pool, service('b', 'dedicated'))).toBe(
        'no free service subnet in 10.201.0.0/24',
      );
      const ports = engineAfter([service('a', 'dedicated')], { firstServicePort: 65535 });
      expect(refusal(ports, service('b', 'dedicated'))).toBe(
        'no free WireGuard port for service b',
      );
    });

    it('tears down: detaches its containers and drops its peers', () => {
      const engine = engineAfter([setup(), service('web'), service('api'), pid(1, 'api'), pid(2)]);
      answer(engine, addPeer(KEY_B, { scope: 'service', service: 'web' }));
      const { response, events } = engine.handle({
        op: 'teardown_service_overlay',
        service: 'web',
      });
      expect(response).toEqual({ result: 'ok' });
      expect(events).toEqual([{ event: 'peer_health_changed', pubkey: KEY_B, healthy: false }]);
      expect(status(engine).service_count).toBe(1);
      expect(ip(engine, allocate())).toBe('10.200.0.3');
      expect(refusal(engine, pid(3))).toMatch(/has no service overlay/);
      expect(refusal(engine, pid(1, 'api'))).toBe('linux_pid 1 is already attached');
    });

    it('refuses to tear down an unknown service', () => {
      expect(refusal(engineAfter([]), { op: 'teardown_service_overlay', service: 'nope' })).toBe(
        'service nope has no service overlay',
      );
    });
  });

  describe('attach_container and detach_container', () => {
    it('attaches a Linux pid, then refuses a second attach of it', () => {
      const engine = engineAfter([setup(), service('web')]);
      expect(answer(engine, pid(4242))).toEqual({ result: 'attached', ip: '10.200.0.2' });
      expect(refusal(engine, pid(4242))).toBe('linux_pid 4242 is already attached');
    });

    it('refuses without a service overlay, even when joining the global one', () => {
      const engine = engineAfter([setup()]);
      expect(refusal(engine, pid(1))).toBe(
        'service web has no service overlay; call setup_service_overlay first',
      );
    });

    it('refuses a shared service when the global overlay is not set up', () => {
      expect(refusal(engineAfter([service('web')]), pid(1))).toBe('global overlay not set up');
    });

    it('refuses when the slice is exhausted', () => {
      const engine = engineAfter([setup({ slice_cidr: '10.200.0.0/30' }), service('web'), pid(1)]);
      expect(refusal(engine, pid(2))).toBe('no free address in 10.200.0.0/30');
    });

    it('attaches a Windows container with a lowercase namespace GUID', () => {
      const engine = engineAfter([setup(), service('web')]);
      const response = answer(engine, {
        op: 'attach_container',
        handle: { platform: 'windows_container', container_id: 'ctr-1' },
        service: 'web',
        join_global: false,
      });
      expect(response).toEqual({
        result: 'attached',
        ip: '10.200.0.2',
        namespace_guid: expect.stringMatching(
          /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
        ),
      });
    });

    it('uses the address a Windows handle asks for when it is free and inside', () => {
      const engine = engineAfter([setup(), service('web')]);
      const windows = (id: string, addr: string): OverlaydRequest => ({
        op: 'attach_container',
        handle: { platform: 'windows_container', container_id: id, ip: addr },
        service: 'web',
        join_global: false,
      });
      const attached = answer(engine, windows('a', '10.200.0.9'));
      expect(attached).toMatchObject({ result: 'attached', ip: '10.200.0.9' });
      const guid = (attached as { namespace_guid: string }).namespace_guid;
      expect(refusal(engine, windows('b', '10.200.0.9'))).toBe(
        '10.200.0.9 is not free in 10.200.0.0/28',
      );
      expect(refusal(engine, windows('b', '10.200.0.1'))).toMatch(/is not free/);
      expect(refusal(engine, windows('b', '10.200.0.15'))).toMatch(/is not free/);
      expect(refusal(engine, windows('b', '10.200.0.16'))).toBe(
        '10.200.0.16 is outside 10.200.0.0/28',
      );
      // As overlayd, a detach names a Windows container by its namespace GUID: by container
      // id it is a no-op answered ok, and the address stays held.
      const detach = (containerId: string): OverlaydRequest => ({
        op: 'detach_container',
        handle: { platform: 'windows_container', container_id: containerId },
      });
      expect(answer(engine, detach('a'))).toEqual({ result: 'ok' });
      expect(refusal(engine, windows('b', '10.200.0.9'))).toMatch(/is not free/);
      expect(answer(engine, detach(guid))).toEqual({ result: 'ok' });
      expect(ip(engine, windows('b', '10.200.0.9'))).toBe('10.200.0.9');
    });

    it('gives a guest its full config, with the global peers and the DNS settings', () => {
      const engine = engineAfter([setup(), service('web'), addPeer(KEY_A)]);
      const guest = (id: string, dns: object = {}): OverlaydRequest => ({
        op: 'attach_container',
        handle: { platform: 'guest_managed', id },
        service: 'web',
        join_global: true,
        ...dns,
      });
      const response = answer(
        engine,
        guest('vm-1', { dns_server: '10.200.0.1', dns_domain: 'ov' }),
      );
      expect(response).toEqual({
        result: 'guest_config',
        overlay_ip: '10.200.0.2',
        prefix_len: 28,
        private_key: expect.any(String),
        public_key: expect.any(String),
        listen_port: 51820,
        peers: [
          {
            public_key: KEY_A,
            endpoint: '1.2.3.4:51820',
            allowed_ips: '10.200.1.0/24',
            persistent_keepalive_secs: 25,
          },
        ],
        dns_server: '10.200.0.1',
        dns_domain: 'ov',
      });
      const config = response as { private_key: string; public_key: string };
      expect(isWireGuardKey(config.private_key)).toBe(true);
      expect(isWireGuardKey(config.public_key)).toBe(true);
      expect(config.private_key).not.toBe(config.public_key);
      const bare = answer(engine, guest('vm-2'));
      expect(bare).toMatchObject({ overlay_ip: '10.200.0.3' });
      expect('dns_server' in bare || 'dns_domain' in bare).toBe(false);
      expect(refusal(engine, guest('vm-2'))).toBe('guest_managed vm-2 is already attached');
    });

    it('gives a guest of a dedicated service that overlay’s subnet, port and peers', () => {
      const engine = engineAfter([setup(), service('db', 'dedicated'), addPeer(KEY_A)]);
      answer(engine, addPeer(KEY_B, { scope: 'service', service: 'db' }, '', ''));
      expect(
        answer(engine, {
          op: 'attach_container',
          handle: { platform: 'guest_managed', id: 'vm' },
          service: 'db',
          join_global: true,
        }),
      ).toMatchObject({
        overlay_ip: '10.201.0.2',
        prefix_len: 24,
        listen_port: 51821,
        peers: [{ public_key: KEY_B, endpoint: '', allowed_ips: '' }],
      });
    });

    it('detaches, releasing the address; a handle it does not hold is a no-op answered ok', () => {
      const engine = engineAfter([setup(), service('web'), pid(1), pid(2)]);
      const detach = (n: number): OverlaydRequest => ({
        op: 'detach_container',
        handle: { platform: 'linux_pid', pid: n },
      });
      expect(engine.handle(detach(1))).toEqual({ response: { result: 'ok' }, events: [] });
      // Idempotent, as overlayd's: again, or a handle never attached, changes nothing.
      expect(engine.handle(detach(1))).toEqual({ response: { result: 'ok' }, events: [] });
      const guest: OverlaydRequest = {
        op: 'detach_container',
        handle: { platform: 'guest_managed', id: 'x' },
      };
      expect(engine.handle(guest)).toEqual({ response: { result: 'ok' }, events: [] });
      expect(ip(engine, pid(3))).toBe('10.200.0.2');
      expect(ip(engine, pid(4))).toBe('10.200.0.4');
    });
  });

  describe('peers', () => {
    it('adds a global peer, pushing a healthy event, and shows it in status', () => {
      const engine = engineAfter([setup()]);
      expect(engine.handle(addPeer(KEY_A))).toEqual({
        response: { result: 'ok' },
        events: [{ event: 'peer_health_changed', pubkey: KEY_A, healthy: true }],
      });
      expect(status(engine)).toMatchObject({
        peer_count: 1,
        peers: [
          {
            public_key: KEY_A,
            endpoint: '1.2.3.4:51820',
            allowed_ips: '10.200.1.0/24',
            last_handshake_unix_secs: Math.floor(NOW / 1000),
          },
        ],
      });
    });

    it('updates a known peer without an event', () => {
      const engine = engineAfter([setup(), addPeer(KEY_A)]);
      const update = addPeer(
        KEY_A,
        GLOBAL,
        '[2001:db8::1]:51820',
        'fd00::/64, 10.0.0.0/8,fd00::/64',
      );
      expect(engine.handle(update)).toEqual({ response: { result: 'ok' }, events: [] });
      expect(status(engine).peers).toEqual([
        {
          public_key: KEY_A,
          endpoint: '[2001:db8::1]:51820',
          allowed_ips: 'fd00::/64,10.0.0.0/8',
          last_handshake_unix_secs: Math.floor(NOW / 1000),
        },
      ]);
    });

    it('keeps service-scope peers apart from global ones', () => {
      const engine = engineAfter([setup(), service('web'), addPeer(KEY_A)]);
      const scope: PeerScope = { scope: 'service', service: 'web' };
      expect(engine.handle(addPeer(KEY_B, scope)).events).toEqual([
        { event: 'peer_health_changed', pubkey: KEY_B, healthy: true },
      ]);
      expect(status(engine).peer_count).toBe(1);
      expect(refusal(engine, { op: 'remove_peer', pubkey: KEY_B, scope: GLOBAL })).toBe(
        `unknown peer ${KEY_B} on the global overlay`,
      );
      expect(answer(engine, { op: 'remove_peer', pubkey: KEY_B, scope })).toEqual({ result: 'ok' });
    });

    it('refuses a global peer before setup and an unknown service scope', () => {
      expect(refusal(engineAfter([]), addPeer(KEY_A))).toBe('global overlay not set up');
      const scope: PeerScope = { scope: 'service', service: 'ghost' };
      const engine = engineAfter([setup()]);
      const message = 'unknown service scope "ghost": it has no service overlay';
      expect(refusal(engine, addPeer(KEY_A, scope))).toBe(message);
      expect(refusal(engine, { op: 'remove_peer', pubkey: KEY_A, scope })).toBe(message);
      expect(
        refusal(engine, { op: 'add_allowed_ip', pubkey: KEY_A, cidr: '10.0.0.0/8', scope }),
      ).toBe(message);
      expect(
        refusal(engine, { op: 'remove_allowed_ip', pubkey: KEY_A, cidr: '10.0.0.0/8', scope }),
      ).toBe(message);
    });

    it('refuses a malformed peer', () => {
      const engine = engineAfter([setup()]);
      expect(refusal(engine, addPeer(''))).toBe('public_key must not be empty');
      expect(refusal(engine, addPeer(KEY_A, GLOBAL, '1.2.3.4'))).toBe(
        'invalid endpoint "1.2.3.4": expected host:port',
      );
      expect(refusal(engine, addPeer(KEY_A, GLOBAL, '2001:db8::1:51820'))).toMatch(
        /invalid endpoint/,
      );
      expect(refusal(engine, addPeer(KEY_A, GLOBAL, 'h:65536'))).toMatch(/invalid endpoint/);
      expect(refusal(engine, addPeer(KEY_A, GLOBAL, 'h:1', '10.0.0.1/8'))).toBe(
        'invalid allowed_ips entry "10.0.0.1/8": host bits are set (the network is 10.0.0.0/8)',
      );
      expect(status(engine).peer_count).toBe(0);
    });

    it('removes a peer, pushing an unhealthy event, and refuses an unknown one', () => {
      const engine = engineAfter([setup(), addPeer(KEY_A)]);
      expect(engine.handle({ op: 'remove_peer', pubkey: KEY_A, scope: GLOBAL })).toEqual({
        response: { result: 'ok' },
        events: [{ event: 'peer_health_changed', pubkey: KEY_A, healthy: false }],
      });
      expect(refusal(engine, { op: 'remove_peer', pubkey: KEY_A, scope: GLOBAL })).toBe(
        `unknown peer ${KEY_A} on the global overlay`,
      );
    });

    it('adds and removes allowed IPs', () => {
      const engine = engineAfter([setup(), addPeer(KEY_A)]);
      const add = (cidr: string): RequestOf<'add_allowed_ip'> => ({
        op: 'add_allowed_ip',
        pubkey: KEY_A,
        cidr,
        scope: GLOBAL,
      });
      const remove = (cidr: string): OverlaydRequest => ({ ...add(cidr), op: 'remove_allowed_ip' });
      expect(answer(engine, add('10.200.2.0/24'))).toEqual({ result: 'ok' });
      expect(answer(engine, add('10.200.2.0/24'))).toEqual({ result: 'ok' });
      expect(status(engine).peers[0]?.allowed_ips).toBe('10.200.1.0/24,10.200.2.0/24');
      expect(answer(engine, remove('10.200.1.0/24'))).toEqual({ result: 'ok' });
      expect(status(engine).peers[0]?.allowed_ips).toBe('10.200.2.0/24');
      expect(refusal(engine, remove('10.200.1.0/24'))).toBe(
        `peer ${KEY_A} on the global overlay has no allowed IP 10.200.1.0/24`,
      );
      expect(refusal(engine, add('10.200.2.0'))).toBe(
        'invalid cidr "10.200.2.0": expected address/prefix',
      );
      expect(
        refusal(engine, { op: 'add_allowed_ip', pubkey: KEY_B, cidr: '10.0.0.0/8', scope: GLOBAL }),
      ).toBe(`unknown peer ${KEY_B} on the global overlay`);
      expect(
        refusal(engine, {
          op: 'remove_allowed_ip',
          pubkey: KEY_B,
          cidr: '10.0.0.0/8',
          scope: GLOBAL,
        }),
      ).toBe(`unknown peer ${KEY_B} on the global overlay`);
    });
  });

  describe('DNS', () => {
    it('registers, overwrites and unregisters names, refusing unknown ones', () => {
      const engine = engineAfter([]);
      expect(answer(engine, { op: 'register_dns', name: 'web.overlay', ip: '10.200.0.5' })).toEqual(
        {
          result: 'ok',
        },
      );
      answer(engine, { op: 'register_dns', name: 'web.overlay', ip: 'fd00::5' });
      expect([...engine.dnsRecords]).toEqual([['web.overlay', 'fd00::5']]);
      expect(answer(engine, { op: 'unregister_dns', name: 'web.overlay' })).toEqual({
        result: 'ok',
      });
      expect(refusal(engine, { op: 'unregister_dns', name: 'web.overlay' })).toBe(
        'no DNS record for "web.overlay"',
      );
    });
  });

  describe('nat_tick', () => {
    it('moves every global peer with an endpoint to the next port when NAT is on', () => {
      const engine = engineAfter([
        setup(),
        service('web'),
        addPeer(KEY_A, GLOBAL, '[2001:db8::1]:65535'),
        addPeer(KEY_B, GLOBAL, 'peer.example.com:40000'),
        addPeer('roaming', GLOBAL, ''),
        addPeer('svc', { scope: 'service', service: 'web' }),
      ]);
      expect(engine.handle({ op: 'nat_tick' })).toEqual({
        response: { result: 'ok' },
        events: [
          { event: 'nat_endpoint_changed', pubkey: KEY_A, endpoint: '[2001:db8::1]:1024' },
          { event: 'nat_endpoint_changed', pubkey: KEY_B, endpoint: 'peer.example.com:40001' },
        ],
      });
      expect(status(engine).peers.map((p) => p.endpoint)).toEqual([
        '[2001:db8::1]:1024',
        'peer.example.com:40001',
        '',
      ]);
    });

    it('moves nothing when NAT is off or no overlay is set up', () => {
      const off = engineAfter([setup({ nat_enabled: false }), addPeer(KEY_A)]);
      expect(off.handle({ op: 'nat_tick' })).toEqual({ response: { result: 'ok' }, events: [] });
      expect(engineAfter([]).handle({ op: 'nat_tick' }).events).toEqual([]);
    });
  });

  it('lets an unexpected failure escape instead of answering it', () => {
    const engine = engineAfter([setup()], {
      now: () => {
        throw new Error('clock broke');
      },
    });
    expect(() => engine.handle(addPeer(KEY_A))).toThrow('clock broke');
  });
});
