/**
 * The parameters of OverlayManager's methods, and the wire requests they
 * become. Keys are the wire fields in camelCase (`nodeId` for `node_id`);
 * the client's encoder checks every value, so a bad one is refused with a
 * CodecError naming the op and the wire field before anything is sent.
 */
import { CodecError } from '../errors.js';
import type {
  AttachHandleInput,
  OverlayModeInput,
  PeerScopeInput,
  RequestInputOf,
} from '../protocol/index.js';

export interface GlobalOverlayParams {
  /** A u64: a bigint beyond 2^53 is carried exactly. */
  nodeId: number | bigint;
  /** This node's WireGuard public key (base64). */
  wgPubkey: string;
  deployment: string;
  instanceId: string;
  clusterCidr: string;
  sliceCidr?: string;
  wgPort: number;
  natEnabled: boolean;
}

export interface ServiceOverlayParams {
  service: string;
  mode: OverlayModeInput;
}

export interface ServiceParams {
  service: string;
}

/** A container's handle: a Linux pid, or a Windows container (optionally asking for an address). */
export type ContainerHandle =
  | { platform: 'linux_pid'; pid: number }
  | { platform: 'windows_container'; containerId: string; ip?: string };

export interface AttachContainerParams {
  handle: ContainerHandle;
  service: string;
  joinGlobal: boolean;
  dnsServer?: string;
  dnsDomain?: string;
}

export interface DetachContainerParams {
  handle: ContainerHandle;
}

/** A guest-managed attachment (a VM that runs its own WireGuard), by its id. */
export interface AttachGuestParams {
  id: string;
  service: string;
  joinGlobal: boolean;
  dnsServer?: string;
  dnsDomain?: string;
}

export interface DetachGuestParams {
  id: string;
}

export interface PeerParams {
  publicKey: string;
  /** `host:port`, or empty for a peer that has not roamed in yet. */
  endpoint: string;
  /** Comma-separated CIDRs. */
  allowedIps: string;
  /** A u64; 0 turns keepalive off. */
  persistentKeepaliveSecs: number | bigint;
}

export interface ServicePeerParams extends PeerParams {
  service: string;
  /** The CIDR added with `add_allowed_ip` after `add_peer` (the peer's address in the service). */
  allowedIp: string;
}

export interface RemoveServicePeerParams {
  service: string;
  publicKey: string;
}

export interface RemoveGlobalPeerParams {
  publicKey: string;
}

export interface DnsParams {
  name: string;
  ip: string;
}

export interface DnsNameParams {
  name: string;
}

/** Refuses anything that is not a parameters object, naming the method. */
export function paramsOf<T extends object>(method: string, params: T): T {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new CodecError(`${method}: expected a parameters object, got ${describe(params)}`, {
      delivery: 'not-sent',
    });
  }
  return params;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

export function wireHandle(handle: ContainerHandle): AttachHandleInput {
  if (handle?.platform === 'windows_container') {
    return {
      platform: 'windows_container',
      container_id: handle.containerId,
      ...(handle.ip !== undefined && { ip: handle.ip }),
    };
  }
  // Anything else is passed as given: the encoder names what is wrong with it.
  return handle as AttachHandleInput;
}

export function globalOverlayRequest(
  params: GlobalOverlayParams,
): RequestInputOf<'setup_global_overlay'> {
  return {
    op: 'setup_global_overlay',
    deployment: params.deployment,
    instance_id: params.instanceId,
    cluster_cidr: params.clusterCidr,
    ...(params.sliceCidr !== undefined && { slice_cidr: params.sliceCidr }),
    wg_port: params.wgPort,
    nat_enabled: params.natEnabled,
  };
}

export function attachRequest(
  handle: AttachHandleInput,
  params: Omit<AttachContainerParams, 'handle'>,
): RequestInputOf<'attach_container'> {
  return {
    op: 'attach_container',
    handle,
    service: params.service,
    join_global: params.joinGlobal,
    ...(params.dnsServer !== undefined && { dns_server: params.dnsServer }),
    ...(params.dnsDomain !== undefined && { dns_domain: params.dnsDomain }),
  };
}

export function addPeerRequest(
  params: PeerParams,
  scope: PeerScopeInput,
): RequestInputOf<'add_peer'> {
  return {
    op: 'add_peer',
    public_key: params.publicKey,
    endpoint: params.endpoint,
    allowed_ips: params.allowedIps,
    persistent_keepalive_secs: params.persistentKeepaliveSecs,
    scope,
  };
}
