/**
 * The simulated overlay engine: an in-memory stand-in for overlayd's network
 * plane, so everything runs without root or WireGuard. `handle` is pure
 * logic (no I/O): one request in, its response and the events it caused out.
 * State lives as long as the engine (the server process), across connections.
 *
 * Semantic choices, where PROTOCOL.md leaves room:
 * - Requests are atomic: a refused request (an `err` answer) changes nothing
 *   and pushes no event.
 * - `setup_global_overlay` binds an allocator to the slice CIDR (the cluster
 *   CIDR when there is no slice); the node takes its first usable address.
 *   Repeating it with the same deployment and CIDRs is idempotent (same
 *   bridge, allocations kept; instance_id, wg_port and nat_enabled are
 *   updated); different ones are refused until `teardown_global_overlay`.
 *   CIDRs with host bits set are refused. Teardown (ok even when not set up)
 *   drops the allocations, the containers attached through the slice and the
 *   global peers; dedicated service overlays survive it.
 * - Usable addresses: IPv4 skips network and broadcast (not in a /31 or /32),
 *   IPv6 skips the subnet-router anycast address; lowest free address first.
 * - Service overlays: `auto` resolves to `shared`. A shared one needs no
 *   global overlay to be set up; its containers draw from the slice. A
 *   dedicated one gets an X25519 key pair, the lowest free port from 51821
 *   (never the global wg_port), and the lowest free /24 of 10.201.0.0/16 (a
 *   /64 of fd00:201::/48 when the global overlay is IPv6); its interface takes
 *   the subnet's first usable address and its containers draw from the rest.
 *   Setting one up again with the same mode is idempotent; another mode is
 *   refused. Teardown detaches the service's containers and drops its peers.
 *   The answer's `name` is the service name.
 * - `allocate_ip` draws from the service's dedicated subnet when it has one,
 *   else from the slice; `join_global` does not change that. `release_ip`
 *   refuses the node's or a dedicated interface's own address and an address
 *   held by an attached container (detach it instead).
 * - `attach_container` requires `setup_service_overlay` for the service first
 *   (even with `join_global`); the address comes from where `allocate_ip`
 *   would take it. A handle is identified by its pid, container id
 *   or guest id (a Windows handle's `ip` is a request, not identity).
 *   `detach_container` is idempotent, as overlayd's: a handle it does not
 *   hold answers `ok`. It names a Windows container by the namespace GUID
 *   its attach answered, as overlayd does; a container id there names
 *   nothing (a no-op answered `ok`). A
 *   guest's config lists the peers of its overlay (the global peers for a
 *   shared service, the service's own for a dedicated one) and listens on
 *   that overlay's WireGuard port.
 * - Peers: the global scope needs the global overlay; a service scope needs a
 *   service overlay (shared or dedicated). Allowed IPs must be CIDRs without
 *   host bits; an endpoint is empty or `host:port`. Re-adding a known key
 *   updates it without an event; `peer_health_changed` is pushed healthy when
 *   a peer appears and unhealthy whenever one goes (remove_peer or teardown).
 *   A peer's handshake time is when it was added; adding an allowed IP twice
 *   is a no-op, removing an absent one is refused.
 * - `nat_tick` with NAT enabled moves every global peer that has an endpoint
 *   to the next port (65535 wraps to 1024), pushing `nat_endpoint_changed`.
 * - `register_dns` overwrites a name's record; `set_local_node_id` is stored
 *   but not shown anywhere; keys are opaque strings (not checked).
 */
import { randomUUID } from 'node:crypto';
import {
  type AttachHandle,
  attachHandleKey,
  type DedicatedServiceStatus,
  type OverlaydEvent,
  type OverlaydRequest,
  type OverlaydResponse,
  type PeerScope,
  type RequestOf,
  type ResponseOf,
  type U64,
} from '../../protocol/index.js';
import { type Cidr, containsCidr, formatCidr, parseCidr, subnetAt } from './cidr.js';
import { IpAllocator } from './ip-allocator.js';
import { generateKeyPair, type KeyPair } from './keys.js';
import { GLOBAL_INTERFACE, globalBridgeName, serviceInterfaceName } from './names.js';
import { PeerTable } from './peers.js';
import { parseOrRefuse, Refusal, refuse } from './refusal.js';

export interface EngineResult {
  response: OverlaydResponse;
  /** Events to push to every open connection, in order. */
  events: OverlaydEvent[];
}

export interface EngineOptions {
  /** Clock for simulated handshake times, in ms. Default `Date.now`. */
  now?: () => number;
  /** Where dedicated IPv4 subnets (/24) are carved. Default `10.201.0.0/16`. */
  servicePool4?: string;
  /** Where dedicated IPv6 subnets (/64) are carved. Default `fd00:201::/48`. */
  servicePool6?: string;
  /** First port of dedicated service overlays. Default 51821. */
  firstServicePort?: number;
}

interface GlobalOverlay {
  deployment: string;
  instanceId: string;
  clusterCidr: string;
  sliceCidr: string | undefined;
  allocator: IpAllocator;
  nodeIp: string;
  bridge: string;
  wgPort: number;
  natEnabled: boolean;
}

interface Dedicated {
  keys: KeyPair;
  port: number;
  allocator: IpAllocator;
  overlayIp: string;
  interface: string;
}

interface ServiceOverlay {
  dedicated: Dedicated | undefined;
  peers: PeerTable;
}

interface Attachment {
  service: string;
  ip: string;
  allocator: IpAllocator;
  /** A Windows container's namespace: what its detach names it by. */
  namespaceGuid?: string;
}

const ok: OverlaydResponse = { result: 'ok' };

export class Engine {
  readonly #now: () => number;
  readonly #pools: Record<4 | 6, Cidr>;
  readonly #firstServicePort: number;

  #nodeId: U64 | undefined;
  #publicKey: string | undefined;
  #global: GlobalOverlay | undefined;
  readonly #globalPeers = new PeerTable('the global overlay');
  readonly #services = new Map<string, ServiceOverlay>();
  readonly #attachments = new Map<string, Attachment>();
  readonly #dns = new Map<string, string>();

  constructor(options: EngineOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#pools = {
      4: parseCidr(options.servicePool4 ?? '10.201.0.0/16'),
      6: parseCidr(options.servicePool6 ?? 'fd00:201::/48'),
    };
    this.#firstServicePort = options.firstServicePort ?? 51821;
  }

  /** The node id last set, if any. */
  get nodeId(): U64 | undefined {
    return this.#nodeId;
  }

  /** DNS records, name → address. */
  get dnsRecords(): ReadonlyMap<string, string> {
    return this.#dns;
  }

  /** Handles one request. Refusals become `err` answers; anything else thrown is a bug. */
  handle(request: OverlaydRequest): EngineResult {
    const events: OverlaydEvent[] = [];
    try {
      return { response: this.#dispatch(request, events), events };
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { response: { result: 'err', message: error.message }, events: [] };
    }
  }

  #dispatch(request: OverlaydRequest, events: OverlaydEvent[]): OverlaydResponse {
    switch (request.op) {
      case 'set_local_node_id':
        this.#nodeId = request.node_id;
        return ok;
      case 'set_local_wg_pubkey':
        this.#publicKey = request.pubkey;
        return ok;
      case 'setup_global_overlay':
        return this.#setupGlobal(request);
      case 'teardown_global_overlay':
        this.#teardownGlobal(events);
        return ok;
      case 'setup_service_overlay':
        return this.#setupService(request);
      case 'teardown_service_overlay':
        this.#teardownService(request.service, events);
        return ok;
      case 'allocate_ip': {
        const allocator = this.#allocatorFor(request.service);
        return { result: 'ip', ip: allocator.allocate() ?? exhausted(allocator) };
      }
      case 'release_ip':
        this.#release(request.ip);
        return ok;
      case 'attach_container':
        return this.#attach(request);
      case 'detach_container':
        this.#detach(request.handle);
        return ok;
      case 'add_peer': {
        const { op: _, scope, ...spec } = request;
        if (this.#peers(scope).upsert(spec, Math.floor(this.#now() / 1000))) {
          events.push({ event: 'peer_health_changed', pubkey: spec.public_key, healthy: true });
        }
        return ok;
      }
      case 'remove_peer':
        this.#peers(request.scope).remove(request.pubkey);
        events.push({ event: 'peer_health_changed', pubkey: request.pubkey, healthy: false });
        return ok;
      case 'add_allowed_ip':
        this.#peers(request.scope).addAllowedIp(request.pubkey, request.cidr);
        return ok;
      case 'remove_allowed_ip':
        this.#peers(request.scope).removeAllowedIp(request.pubkey, request.cidr);
        return ok;
      case 'register_dns':
        this.#dns.set(request.name, request.ip);
        return ok;
      case 'unregister_dns':
        if (!this.#dns.delete(request.name)) refuse(`no DNS record for "${request.name}"`);
        return ok;
      case 'status':
        return this.#status();
      case 'nat_tick':
        if (this.#global?.natEnabled) {
          for (const { pubkey, endpoint } of this.#globalPeers.rotateEndpoints()) {
            events.push({ event: 'nat_endpoint_changed', pubkey, endpoint });
          }
        }
        return ok;
      case 'shutdown':
        return ok;
    }
  }

  #setupGlobal(request: RequestOf<'setup_global_overlay'>): OverlaydResponse {
    const cluster = parseOrRefuse('cluster_cidr', request.cluster_cidr, parseCidr);
    const slice =
      request.slice_cidr === undefined
        ? undefined
        : parseOrRefuse('slice_cidr', request.slice_cidr, parseCidr);
    const clusterCidr = formatCidr(cluster);
    const sliceCidr = slice === undefined ? undefined : formatCidr(slice);
    if (slice !== undefined && !containsCidr(cluster, slice)) {
      refuse(`slice_cidr ${sliceCidr} is not inside cluster_cidr ${clusterCidr}`);
    }
    const current = this.#global;
    if (current !== undefined) {
      if (
        current.deployment !== request.deployment ||
        current.clusterCidr !== clusterCidr ||
        current.sliceCidr !== sliceCidr
      ) {
        refuse(
          `global overlay already set up for deployment "${current.deployment}" with ` +
            `cluster_cidr ${current.clusterCidr}` +
            (current.sliceCidr === undefined ? '' : ` and slice_cidr ${current.sliceCidr}`) +
            '; tear it down first',
        );
      }
    }
    const owner = this.#dedicatedServices().find(([, d]) => d.port === request.wg_port);
    if (owner !== undefined) {
      refuse(
        `wg_port ${request.wg_port} is in use by the dedicated overlay of service ${owner[0]}`,
      );
    }
    if (current !== undefined) {
      current.instanceId = request.instance_id;
      current.wgPort = request.wg_port;
      current.natEnabled = request.nat_enabled;
      return { result: 'bridge_name', name: current.bridge };
    }
    const allocator = new IpAllocator(slice ?? cluster);
    this.#global = {
      deployment: request.deployment,
      instanceId: request.instance_id,
      clusterCidr,
      sliceCidr,
      allocator,
      // Every block has at least one usable address.
      nodeIp: allocator.allocate()!,
      bridge: globalBridgeName(request.deployment),
      wgPort: request.wg_port,
      natEnabled: request.nat_enabled,
    };
    return { result: 'bridge_name', name: this.#global.bridge };
  }

  #teardownGlobal(events: OverlaydEvent[]): void {
    const global = this.#global;
    if (global === undefined) return;
    for (const [key, attachment] of this.#attachments) {
      if (attachment.allocator === global.allocator) this.#attachments.delete(key);
    }
    for (const pubkey of this.#globalPeers.clear()) {
      events.push({ event: 'peer_health_changed', pubkey, healthy: false });
    }
    this.#global = undefined;
  }

  #setupService(request: RequestOf<'setup_service_overlay'>): OverlaydResponse {
    const { service } = request;
    const mode = request.mode === 'dedicated' ? 'dedicated' : 'shared';
    if (service === '') refuse('service name must not be empty');
    const existing = this.#services.get(service);
    if (existing !== undefined) {
      const existingMode = existing.dedicated === undefined ? 'shared' : 'dedicated';
      if (existingMode !== mode) {
        refuse(`service ${service} already has a ${existingMode} overlay; tear it down first`);
      }
      return serviceOverlay(service, existing);
    }
    const overlay: ServiceOverlay = {
      dedicated: mode === 'dedicated' ? this.#newDedicated(service) : undefined,
      peers: new PeerTable(`service ${service}`),
    };
    this.#services.set(service, overlay);
    return serviceOverlay(service, overlay);
  }

  #newDedicated(service: string): Dedicated {
    const pool = this.#pools[this.#global?.allocator.cidr.family ?? 4];
    const used = new Set(this.#dedicatedServices().map(([, d]) => d.allocator.text));
    let subnet: Cidr | undefined;
    for (let i = 0; subnet === undefined; i++) {
      const candidate =
        subnetAt(pool, pool.family === 4 ? 24 : 64, i) ??
        refuse(`no free service subnet in ${formatCidr(pool)}`);
      if (!used.has(formatCidr(candidate))) subnet = candidate;
    }
    const ports = new Set(this.#dedicatedServices().map(([, d]) => d.port));
    if (this.#global !== undefined) ports.add(this.#global.wgPort);
    let port = this.#firstServicePort;
    while (ports.has(port)) port++;
    if (port > 0xffff) refuse(`no free WireGuard port for service ${service}`);
    const allocator = new IpAllocator(subnet);
    return {
      keys: generateKeyPair(),
      port,
      allocator,
      overlayIp: allocator.allocate()!,
      interface: serviceInterfaceName(service),
    };
  }

  #teardownService(service: string, events: OverlaydEvent[]): void {
    const overlay =
      this.#services.get(service) ?? refuse(`service ${service} has no service overlay`);
    for (const [key, attachment] of this.#attachments) {
      if (attachment.service !== service) continue;
      attachment.allocator.release(attachment.ip);
      this.#attachments.delete(key);
    }
    for (const pubkey of overlay.peers.clear()) {
      events.push({ event: 'peer_health_changed', pubkey, healthy: false });
    }
    this.#services.delete(service);
  }

  #dedicatedServices(): [string, Dedicated][] {
    const found: [string, Dedicated][] = [];
    for (const [service, overlay] of this.#services) {
      if (overlay.dedicated !== undefined) found.push([service, overlay.dedicated]);
    }
    return found;
  }

  /** Where `service`'s addresses come from: its dedicated subnet, else the slice. */
  #allocatorFor(service: string): IpAllocator {
    const dedicated = this.#services.get(service)?.dedicated;
    if (dedicated !== undefined) return dedicated.allocator;
    return (this.#global ?? refuse('global overlay not set up')).allocator;
  }

  #release(ip: string): void {
    const allocators = this.#dedicatedServices().map(([, d]) => d.allocator);
    if (this.#global !== undefined) allocators.unshift(this.#global.allocator);
    const allocator = allocators.find((a) => a.contains(ip));
    if (allocator === undefined) {
      if (allocators.length === 0) refuse('global overlay not set up');
      refuse(`${ip} is outside the slice (${allocators.map((a) => a.text).join(', ')})`);
    }
    const own = [this.#global?.nodeIp, ...this.#dedicatedServices().map(([, d]) => d.overlayIp)];
    if (own.includes(ip)) refuse(`${ip} is the overlay's own address`);
    for (const [key, attachment] of this.#attachments) {
      if (attachment.ip === ip) refuse(`${ip} is attached to ${key}; detach it instead`);
    }
    if (!allocator.release(ip)) refuse(`${ip} is not allocated`);
  }

  #attach(request: RequestOf<'attach_container'>): OverlaydResponse {
    const { handle, service } = request;
    const key = attachHandleKey(handle);
    if (this.#attachments.has(key)) refuse(`${key} is already attached`);
    const overlay =
      this.#services.get(service) ??
      refuse(`service ${service} has no service overlay; call setup_service_overlay first`);
    const allocator = this.#allocatorFor(service);
    let ip: string;
    if (handle.platform === 'windows_container' && handle.ip !== undefined) {
      ip = handle.ip;
      if (!allocator.contains(ip)) refuse(`${ip} is outside ${allocator.text}`);
      if (!allocator.reserve(ip)) refuse(`${ip} is not free in ${allocator.text}`);
    } else {
      ip = allocator.allocate() ?? exhausted(allocator);
    }
    const attachment: Attachment = { service, ip, allocator };
    this.#attachments.set(key, attachment);
    switch (handle.platform) {
      case 'linux_pid':
        return { result: 'attached', ip };
      case 'windows_container':
        attachment.namespaceGuid = randomUUID();
        return { result: 'attached', ip, namespace_guid: attachment.namespaceGuid };
      case 'guest_managed': {
        const { dedicated } = overlay;
        const keys = generateKeyPair();
        const response: ResponseOf<'guest_config'> = {
          result: 'guest_config',
          overlay_ip: ip,
          prefix_len: allocator.cidr.prefix,
          private_key: keys.privateKey,
          public_key: keys.publicKey,
          listen_port: dedicated?.port ?? this.#global!.wgPort,
          peers: (dedicated === undefined ? this.#globalPeers : overlay.peers).specs(),
        };
        if (request.dns_server !== undefined) response.dns_server = request.dns_server;
        if (request.dns_domain !== undefined) response.dns_domain = request.dns_domain;
        return response;
      }
    }
  }

  /** Idempotent, as overlayd's: a handle it does not hold is already detached. */
  #detach(handle: AttachHandle): void {
    const key = this.#attachedKey(handle);
    const attachment = key === undefined ? undefined : this.#attachments.get(key);
    if (key === undefined || attachment === undefined) return;
    attachment.allocator.release(attachment.ip);
    this.#attachments.delete(key);
  }

  /**
   * The attachment a detach names. A Windows container is named by the
   * namespace GUID its attach answered (overlayd reads the field as a GUID,
   * so a container id names nothing); the others by pid or guest id.
   */
  #attachedKey(handle: AttachHandle): string | undefined {
    if (handle.platform !== 'windows_container') return attachHandleKey(handle);
    for (const [key, attachment] of this.#attachments) {
      if (attachment.namespaceGuid === handle.container_id) return key;
    }
    return undefined;
  }

  #peers(scope: PeerScope): PeerTable {
    if (scope.scope === 'global') {
      if (this.#global === undefined) refuse('global overlay not set up');
      return this.#globalPeers;
    }
    const overlay =
      this.#services.get(scope.service) ??
      refuse(`unknown service scope "${scope.service}": it has no service overlay`);
    return overlay.peers;
  }

  #status(): ResponseOf<'status'> {
    const global = this.#global;
    const dedicated: DedicatedServiceStatus[] = [];
    for (const [service, { dedicated: d, peers }] of this.#services) {
      if (d === undefined) continue;
      dedicated.push({
        service,
        interface: d.interface,
        public_key: d.keys.publicKey,
        listen_port: d.port,
        overlay_ip: d.overlayIp,
        subnet: d.allocator.text,
        peer_count: peers.size,
      });
    }
    return {
      result: 'status',
      ...(global !== undefined && {
        interface: GLOBAL_INTERFACE,
        node_ip: global.nodeIp,
        overlay_cidr: global.clusterCidr,
      }),
      ...(global?.sliceCidr !== undefined && { slice_cidr: global.sliceCidr }),
      ...(this.#publicKey !== undefined && { public_key: this.#publicKey }),
      peer_count: this.#globalPeers.size,
      service_count: this.#services.size,
      peers: this.#globalPeers.statuses(),
      dedicated_services: dedicated,
    };
  }
}

function exhausted(allocator: IpAllocator): never {
  return refuse(`no free address in ${allocator.text}`);
}

function serviceOverlay(service: string, overlay: ServiceOverlay): ResponseOf<'service_overlay'> {
  const d = overlay.dedicated;
  if (d === undefined) return { result: 'service_overlay', name: service, mode: 'shared' };
  return {
    result: 'service_overlay',
    name: service,
    mode: 'dedicated',
    wg_public_key: d.keys.publicKey,
    wg_port: d.port,
    overlay_ip: d.overlayIp,
    subnet: d.allocator.text,
  };
}
