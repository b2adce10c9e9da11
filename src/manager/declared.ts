/**
 * What the daemon declared and overlayd accepted: each thing set up, added,
 * registered or attached with a success answer, until a teardown, remove,
 * unregister or detach takes it out. Whether the overlayd we talk to now
 * still has it is not kept here (see `HeldItems`).
 *
 * A Windows container is named in a detach by the namespace GUID its attach
 * answered (overlayd ignores a container id there): each one's GUID is kept,
 * `keyOf` finds an attachment by either, and `detachHandle` gives the handle
 * a detach must carry.
 */
import type { DeclaredCounts } from '../../machines/manager.types.js';
import {
  type AttachHandleInput,
  attachHandleKey,
  type OverlaydResponse,
  type RequestInputOf,
} from '../protocol/index.js';
import { serviceScopeKey, splitCidrs } from './items.js';

export interface DeclaredService {
  request: RequestInputOf<'setup_service_overlay'>;
  dedicated: boolean;
}

export interface DeclaredPeer {
  request: RequestInputOf<'add_peer'>;
  /** CIDRs added later with `add_allowed_ip`, in order. */
  extra: string[];
}

export interface DeclaredAttachment {
  request: RequestInputOf<'attach_container'>;
  ip: string;
  /** A Windows container's namespace GUID: what overlayd reads in its detach. */
  namespaceGuid?: string;
}

/** The address an attach answered: a container's, or a guest's on the overlay. */
export function attachedIp(response: OverlaydResponse): string | undefined {
  if (response.result === 'attached') return response.ip;
  if (response.result === 'guest_config') return response.overlay_ip;
  return undefined;
}

/** The namespace GUID an attach of a Windows container answered. */
export function namespaceGuidOf(response: OverlaydResponse): string | undefined {
  return response.result === 'attached' ? response.namespace_guid : undefined;
}

const NO_PEERS: ReadonlyMap<string, DeclaredPeer> = new Map();

export class Declaration {
  #nodeId: RequestInputOf<'set_local_node_id'> | undefined;
  #wgPubkey: RequestInputOf<'set_local_wg_pubkey'> | undefined;
  #global: RequestInputOf<'setup_global_overlay'> | undefined;
  readonly #services = new Map<string, DeclaredService>();
  /**
   * Scope key → public key → peer. A scope stays once made, even empty:
   * the resync plan lists peers in the order their scopes first came.
   */
  readonly #peers = new Map<string, Map<string, DeclaredPeer>>();
  readonly #dns = new Map<string, RequestInputOf<'register_dns'>>();
  /** The record's key of a handle (`attachHandleKey`) → attachment. */
  readonly #attachments = new Map<string, DeclaredAttachment>();

  // ---- identity and the global overlay ------------------------------------

  get nodeId(): RequestInputOf<'set_local_node_id'> | undefined {
    return this.#nodeId;
  }

  get wgPubkey(): RequestInputOf<'set_local_wg_pubkey'> | undefined {
    return this.#wgPubkey;
  }

  get globalOverlay(): RequestInputOf<'setup_global_overlay'> | undefined {
    return this.#global;
  }

  setNodeId(request: RequestInputOf<'set_local_node_id'>): void {
    this.#nodeId = request;
  }

  setWgPubkey(request: RequestInputOf<'set_local_wg_pubkey'>): void {
    this.#wgPubkey = request;
  }

  setupGlobalOverlay(request: RequestInputOf<'setup_global_overlay'>): void {
    this.#global = request;
  }

  /** As overlayd does, it takes its peers and the attachments drawn from its slice. */
  teardownGlobalOverlay(): void {
    this.#global = undefined;
    for (const pubkey of this.peerKeys('global')) this.removePeer('global', pubkey);
    for (const key of this.globalSliceAttachments()) this.#attachments.delete(key);
  }

  // ---- service overlays ---------------------------------------------------

  get services(): ReadonlyMap<string, DeclaredService> {
    return this.#services;
  }

  setupService(request: RequestInputOf<'setup_service_overlay'>, dedicated: boolean): void {
    this.#services.set(request.service, { request, dedicated });
  }

  /** As overlayd does, a service overlay takes its peers and attachments. */
  teardownService(service: string): void {
    const scope = serviceScopeKey(service);
    this.#services.delete(service);
    for (const pubkey of this.peerKeys(scope)) this.removePeer(scope, pubkey);
    for (const key of this.attachmentsOf(service)) this.#attachments.delete(key);
  }

  // ---- peers and their allowed IPs ----------------------------------------

  /** Scope key → public key → peer, scopes in the order they first came. */
  get peers(): ReadonlyMap<string, ReadonlyMap<string, DeclaredPeer>> {
    return this.#peers;
  }

  peersOf(scope: string): ReadonlyMap<string, DeclaredPeer> {
    return this.#peers.get(scope) ?? NO_PEERS;
  }

  /** The public keys of a scope's peers, copied: safe to remove them while going through. */
  peerKeys(scope: string): string[] {
    return [...this.peersOf(scope).keys()];
  }

  peer(scope: string, pubkey: string): DeclaredPeer | undefined {
    return this.#peers.get(scope)?.get(pubkey);
  }

  /** As overlayd does, adding a peer again replaces its allowed IPs: the later additions go. */
  addPeer(scope: string, request: RequestInputOf<'add_peer'>): void {
    let peers = this.#peers.get(scope);
    if (peers === undefined) {
      peers = new Map();
      this.#peers.set(scope, peers);
    }
    peers.set(request.public_key, { request, extra: [] });
  }

  removePeer(scope: string, pubkey: string): void {
    this.#peers.get(scope)?.delete(pubkey);
  }

  /** A CIDR the peer already lists, or was already given, is not added twice. */
  addAllowedIp(scope: string, pubkey: string, cidr: string): void {
    const peer = this.peer(scope, pubkey);
    if (peer === undefined) return;
    const listed = splitCidrs(peer.request.allowed_ips);
    if (!listed.includes(cidr) && !peer.extra.includes(cidr)) peer.extra.push(cidr);
  }

  /** Takes the CIDR out of the later additions and out of the list the peer was added with. */
  removeAllowedIp(scope: string, pubkey: string, cidr: string): void {
    const peer = this.peer(scope, pubkey);
    if (peer === undefined) return;
    peer.extra = peer.extra.filter((extra) => extra !== cidr);
    const listed = splitCidrs(peer.request.allowed_ips);
    if (listed.includes(cidr)) {
      const allowed_ips = listed.filter((listedCidr) => listedCidr !== cidr).join(',');
      peer.request = { ...peer.request, allowed_ips };
    }
  }

  // ---- DNS names ----------------------------------------------------------

  get dnsNames(): ReadonlyMap<string, RequestInputOf<'register_dns'>> {
    return this.#dns;
  }

  registerDns(request: RequestInputOf<'register_dns'>): void {
    this.#dns.set(request.name, request);
  }

  unregisterDns(name: string): void {
    this.#dns.delete(name);
  }

  // ---- attachments --------------------------------------------------------

  get attachments(): ReadonlyMap<string, DeclaredAttachment> {
    return this.#attachments;
  }

  attach(
    key: string,
    request: RequestInputOf<'attach_container'>,
    response: OverlaydResponse,
  ): void {
    const namespaceGuid = namespaceGuidOf(response);
    this.#attachments.set(key, {
      request,
      ip: attachedIp(response) ?? '',
      ...(namespaceGuid !== undefined && { namespaceGuid }),
    });
  }

  detach(key: string): void {
    this.#attachments.delete(key);
  }

  /** A re-attach answered another address, or (a Windows container) another namespace. */
  moveAttachment(key: string, ip: string, namespaceGuid: string | undefined): void {
    const attachment = this.#attachments.get(key);
    if (attachment === undefined) return;
    attachment.ip = ip;
    if (namespaceGuid !== undefined) attachment.namespaceGuid = namespaceGuid;
  }

  /** Keys of the attachments to a service overlay. */
  attachmentsOf(service: string): string[] {
    return [...this.#attachments]
      .filter(([, attachment]) => attachment.request.service === service)
      .map(([key]) => key);
  }

  /** Keys of the attachments drawn from the global overlay's slice: all but dedicated overlays'. */
  globalSliceAttachments(): string[] {
    return [...this.#attachments]
      .filter(([, attachment]) => !this.#services.get(attachment.request.service)?.dedicated)
      .map(([key]) => key);
  }

  /**
   * The record's key of a handle. A Windows container named by the namespace
   * GUID its attach returned is the attachment of that container.
   */
  keyOf(handle: AttachHandleInput): string {
    if (handle.platform === 'windows_container') {
      for (const [key, attachment] of this.#attachments) {
        if (attachment.namespaceGuid === handle.container_id) return key;
      }
    }
    return attachHandleKey(handle);
  }

  /**
   * The handle a detach carries: a Windows container by the namespace GUID
   * its attach returned (overlayd reads that, and ignores a container id),
   * whether the daemon names it by GUID or by container id. Others as given.
   */
  detachHandle(handle: AttachHandleInput): AttachHandleInput {
    if (handle.platform !== 'windows_container') return handle;
    const guid = this.#attachments.get(this.keyOf(handle))?.namespaceGuid;
    return guid === undefined ? handle : { platform: 'windows_container', container_id: guid };
  }

  /** The address kept for an attachment, if it is declared. */
  attachmentIp(handle: AttachHandleInput): string | undefined {
    return this.#attachments.get(this.keyOf(handle))?.ip;
  }

  counts(): DeclaredCounts {
    let peers = 0;
    let allowedIps = 0;
    for (const scope of this.#peers.values()) {
      peers += scope.size;
      for (const peer of scope.values()) allowedIps += peer.extra.length;
    }
    return {
      identity: (this.#nodeId ? 1 : 0) + (this.#wgPubkey ? 1 : 0),
      globalOverlay: this.#global ? 1 : 0,
      serviceOverlays: this.#services.size,
      peers,
      allowedIps,
      dns: this.#dns.size,
      attachments: this.#attachments.size,
    };
  }
}
