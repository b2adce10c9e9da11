/**
 * What the daemon declared and overlayd accepted, and what of it the
 * current overlayd still has.
 *
 * The record changes only on a success answer to one of the daemon's calls
 * (`accept`); teardown, remove and detach take things out. Beside it,
 * `present` holds the items known to be applied on the overlayd we talk to
 * now. `observe(status)` updates that from a `status` answer, and `plan()`
 * lists what to re-apply, in dependency order.
 *
 * How "nothing runs twice on one overlayd's life" is kept:
 * - A restarted overlayd starts empty, and an empty `status` is how the
 *   record tells a new overlayd from the one it knew: then nothing is
 *   present, and everything is re-applied once.
 * - On the same overlayd, only what `status` shows missing is re-applied
 *   (the WireGuard key, the global overlay, global peers and their allowed
 *   IPs, dedicated service overlays and their peer counts), with what
 *   depends on it (a missing global overlay takes its peers and the
 *   attachments drawn from its slice; a missing dedicated overlay its peers
 *   and attachments). Items `status` cannot show (node id, DNS names, shared
 *   service overlays, their peers, attachments) stay present.
 * - Two cases lean on ops the engine treats idempotently instead: when the
 *   record holds nothing `status` can show, an empty `status` cannot tell a
 *   restart from a reconnect, so the node id and DNS names are sent again
 *   (`set_local_node_id` stores, `register_dns` overwrites); and when
 *   `service_count` shows fewer shared overlays than declared, every shared
 *   service overlay is set up again (setting one up again with the same mode
 *   is a no-op), with its peers (`add_peer` replaces, `add_allowed_ip` of a
 *   known CIDR is a no-op).
 * - Attachments, the one op that is not idempotent, are never sent twice to
 *   one overlayd without a detach between:
 *   a re-applied attachment whose answer never came (the connection dropped
 *   or the request timed out while it was in flight) may be attached on this
 *   overlayd, which refuses a second attach; so may one of a shared overlay
 *   that `service_count` says may be gone. The next plan detaches it first
 *   (detach is idempotent: its `ok` means it is not attached any more), so a
 *   resync cannot be wedged on it.
 * - A Windows container is named in a detach by the namespace GUID its attach
 *   answered (overlayd ignores a container id there): the record keeps each
 *   one's GUID, finds an attachment by either, and `detachHandle` gives the
 *   handle a detach must carry.
 */
import type { DeclaredCounts, ReappliedStep } from '../../machines/manager.types.js';
import {
  type AttachHandleInput,
  attachHandleKey,
  type OverlaydRequestInput,
  type OverlaydResponse,
  type PeerScopeInput,
  type RequestInputOf,
  type ResponseOf,
} from '../protocol/index.js';

export type Layer = ReappliedStep['layer'];

/** One request of a resync: what it re-applies, and the record item it restores. */
export interface PlannedStep extends ReappliedStep {
  key: string;
  request: OverlaydRequestInput;
}

/** The step that detaches an attachment overlayd may hold, before it is attached again. */
export function isClearingStep(step: PlannedStep): boolean {
  return step.request.op === 'detach_container';
}

/**
 * An attachment that came back elsewhere: at another address, or (a Windows
 * container) in another network namespace, whose GUID its detach must carry.
 */
export interface AttachmentMoved {
  handle: AttachHandleInput;
  service: string;
  previousIp: string;
  ip: string;
  /** A Windows container's namespace GUIDs, before and now (set only when it changed). */
  previousNamespaceGuid?: string;
  namespaceGuid?: string;
  /** overlayd's answer to the re-attach (a guest's new config, for a guest). */
  answer: ResponseOf<'attached'> | ResponseOf<'guest_config'>;
}

interface DeclaredService {
  request: RequestInputOf<'setup_service_overlay'>;
  dedicated: boolean;
}

interface DeclaredPeer {
  request: RequestInputOf<'add_peer'>;
  /** CIDRs added later with `add_allowed_ip`, in order. */
  extra: string[];
}

interface DeclaredAttachment {
  request: RequestInputOf<'attach_container'>;
  ip: string;
  /** A Windows container's namespace GUID: what overlayd reads in its detach. */
  namespaceGuid?: string;
}

type Scope = PeerScopeInput | undefined;

/** `global`, or `service <name>`. */
export function scopeKey(scope: Scope): string {
  return scope === undefined || scope.scope === 'global' ? 'global' : `service ${scope.service}`;
}

function splitCidrs(list: string): string[] {
  return list
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

function namespaceGuidOf(response: OverlaydResponse): string | undefined {
  return response.result === 'attached' ? response.namespace_guid : undefined;
}

function attachedIp(response: OverlaydResponse): string | undefined {
  if (response.result === 'attached') return response.ip;
  if (response.result === 'guest_config') return response.overlay_ip;
  return undefined;
}

const KEY = {
  nodeId: 'node id',
  wgPubkey: 'wg pubkey',
  global: 'global overlay',
  service: (service: string) => `service ${service}`,
  peer: (scope: string, pubkey: string) => `peer ${scope} ${pubkey}`,
  allowed: (scope: string, pubkey: string, cidr: string) => `allowed ${scope} ${pubkey} ${cidr}`,
  dns: (name: string) => `dns ${name}`,
  attachment: (handle: string) => `attachment ${handle}`,
};

export class DeclaredState {
  #nodeId: RequestInputOf<'set_local_node_id'> | undefined;
  #wgPubkey: RequestInputOf<'set_local_wg_pubkey'> | undefined;
  #global: RequestInputOf<'setup_global_overlay'> | undefined;
  readonly #services = new Map<string, DeclaredService>();
  /** Scope key → public key → peer. */
  readonly #peers = new Map<string, Map<string, DeclaredPeer>>();
  readonly #dns = new Map<string, RequestInputOf<'register_dns'>>();
  readonly #attachments = new Map<string, DeclaredAttachment>();
  /** Keys of the items applied on the overlayd we talk to now. */
  readonly #present = new Set<string>();
  /**
   * Handles of attachments the overlayd we talk to now may or may not hold: an
   * attach sent and never answered (the daemon's or a re-apply), or a shared
   * overlay that may have gone with them. An attach of one is preceded by a
   * detach, since overlayd refuses to attach a handle twice.
   */
  readonly #uncertain = new Set<string>();

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

  /** The address the record holds for an attachment, if it is declared. */
  attachmentIp(handle: AttachHandleInput): string | undefined {
    return this.#attachments.get(this.#keyOf(handle))?.ip;
  }

  /** The global overlay as declared (its CIDRs, port and NAT setting), if one is. */
  globalOverlay(): RequestInputOf<'setup_global_overlay'> | undefined {
    return this.#global;
  }

  /**
   * The handle a detach carries: a Windows container by the namespace GUID
   * its attach returned (overlayd reads that, and ignores a container id),
   * whether the daemon names it by GUID or by container id. Others as given.
   */
  detachHandle(handle: AttachHandleInput): AttachHandleInput {
    if (handle.platform !== 'windows_container') return handle;
    const guid = this.#attachments.get(this.#keyOf(handle))?.namespaceGuid;
    return guid === undefined ? handle : { platform: 'windows_container', container_id: guid };
  }

  /** overlayd answered one of the daemon's requests with success: record it. */
  accept(request: OverlaydRequestInput, response: OverlaydResponse): void {
    switch (request.op) {
      case 'set_local_node_id':
        this.#nodeId = request;
        this.#present.add(KEY.nodeId);
        return;
      case 'set_local_wg_pubkey':
        this.#wgPubkey = request;
        this.#present.add(KEY.wgPubkey);
        return;
      case 'setup_global_overlay':
        this.#global = request;
        this.#present.add(KEY.global);
        return;
      case 'teardown_global_overlay':
        this.#global = undefined;
        this.#forgetGlobal(true);
        return;
      case 'setup_service_overlay': {
        const mode = response.result === 'service_overlay' ? response.mode : request.mode;
        this.#services.set(request.service, { request, dedicated: mode === 'dedicated' });
        this.#present.add(KEY.service(request.service));
        return;
      }
      case 'teardown_service_overlay':
        this.#services.delete(request.service);
        this.#forgetService(request.service, true);
        this.#present.delete(KEY.service(request.service));
        return;
      case 'attach_container': {
        const key = attachHandleKey(request.handle);
        const namespaceGuid = namespaceGuidOf(response);
        this.#attachments.set(key, {
          request,
          ip: attachedIp(response) ?? '',
          ...(namespaceGuid !== undefined && { namespaceGuid }),
        });
        this.#present.add(KEY.attachment(key));
        return;
      }
      case 'detach_container': {
        const key = this.#keyOf(request.handle);
        this.#attachments.delete(key);
        this.#present.delete(KEY.attachment(key));
        this.#uncertain.delete(key);
        return;
      }
      case 'add_peer': {
        const scope = scopeKey(request.scope);
        this.#forgetPeer(scope, request.public_key, false);
        // Re-adding a peer replaces its allowed IPs: the later additions go.
        this.#scope(scope).set(request.public_key, { request, extra: [] });
        this.#present.add(KEY.peer(scope, request.public_key));
        return;
      }
      case 'remove_peer': {
        const scope = scopeKey(request.scope);
        this.#forgetPeer(scope, request.pubkey, true);
        return;
      }
      case 'add_allowed_ip': {
        const scope = scopeKey(request.scope);
        const peer = this.#peers.get(scope)?.get(request.pubkey);
        if (peer === undefined) return;
        const known = splitCidrs(peer.request.allowed_ips);
        if (!known.includes(request.cidr) && !peer.extra.includes(request.cidr)) {
          peer.extra.push(request.cidr);
        }
        this.#present.add(KEY.allowed(scope, request.pubkey, request.cidr));
        return;
      }
      case 'remove_allowed_ip': {
        const scope = scopeKey(request.scope);
        const peer = this.#peers.get(scope)?.get(request.pubkey);
        if (peer === undefined) return;
        peer.extra = peer.extra.filter((cidr) => cidr !== request.cidr);
        const listed = splitCidrs(peer.request.allowed_ips);
        if (listed.includes(request.cidr)) {
          peer.request = {
            ...peer.request,
            allowed_ips: listed.filter((cidr) => cidr !== request.cidr).join(','),
          };
        }
        this.#present.delete(KEY.allowed(scope, request.pubkey, request.cidr));
        return;
      }
      case 'register_dns':
        this.#dns.set(request.name, request);
        this.#present.add(KEY.dns(request.name));
        return;
      case 'unregister_dns':
        this.#dns.delete(request.name);
        this.#present.delete(KEY.dns(request.name));
        return;
      default:
        // status, nat_tick, allocate_ip, release_ip, shutdown: nothing to record.
        return;
    }
  }

  /**
   * Read a `status` answer of the overlayd we are connected to: forget, from
   * what is present, whatever it shows missing. Returns whether it is a new
   * (empty) overlayd.
   */
  observe(status: ResponseOf<'status'>): 'restarted' | 'same' {
    const empty =
      status.interface === undefined &&
      status.public_key === undefined &&
      status.peer_count === 0 &&
      status.service_count === 0 &&
      status.dedicated_services.length === 0;
    if (empty) {
      this.#present.clear();
      this.#uncertain.clear();
      return 'restarted';
    }
    if (this.#wgPubkey !== undefined && status.public_key !== this.#wgPubkey.pubkey) {
      this.#present.delete(KEY.wgPubkey);
    }
    if (this.#global !== undefined && status.interface === undefined) this.#forgetGlobal(false);
    const shown = new Map(
      status.peers.map((peer) => [peer.public_key, splitCidrs(peer.allowed_ips)]),
    );
    for (const [pubkey, peer] of this.#peers.get('global') ?? []) {
      const allowed = shown.get(pubkey);
      if (allowed === undefined) {
        this.#forgetPeer('global', pubkey, false);
        continue;
      }
      const listed = splitCidrs(peer.request.allowed_ips);
      if (listed.some((cidr) => !allowed.includes(cidr))) {
        this.#forgetPeer('global', pubkey, false);
        continue;
      }
      for (const cidr of peer.extra) {
        if (!allowed.includes(cidr)) this.#present.delete(KEY.allowed('global', pubkey, cidr));
      }
    }
    const dedicated = new Map(status.dedicated_services.map((d) => [d.service, d.peer_count]));
    for (const [service, declared] of this.#services) {
      if (!declared.dedicated) continue;
      const peerCount = dedicated.get(service);
      const scope = scopeKey({ scope: 'service', service });
      if (peerCount === undefined) {
        this.#present.delete(KEY.service(service));
        this.#forgetService(service, false);
      } else if (peerCount < (this.#peers.get(scope)?.size ?? 0)) {
        for (const pubkey of this.#peers.get(scope)?.keys() ?? []) {
          this.#forgetPeer(scope, pubkey, false);
        }
      }
    }
    let declaredShared = 0;
    for (const declared of this.#services.values()) if (!declared.dedicated) declaredShared++;
    if (status.service_count - status.dedicated_services.length < declaredShared) {
      // A shared overlay is gone, and status cannot say which: each is set up again (a no-op
      // where it exists), with its peers (re-adding one is idempotent) and its attachments,
      // detached first (where the overlay survived, overlayd refuses a second attach).
      for (const [service, declared] of this.#services) {
        if (declared.dedicated) continue;
        this.#present.delete(KEY.service(service));
        const scope = scopeKey({ scope: 'service', service });
        for (const pubkey of this.#peers.get(scope)?.keys() ?? []) {
          this.#forgetPeer(scope, pubkey, false);
        }
        for (const [key, attachment] of this.#attachments) {
          if (attachment.request.service === service && this.#present.delete(KEY.attachment(key))) {
            this.#uncertain.add(key);
          }
        }
      }
    }
    return 'same';
  }

  /** What to send, in dependency order, to bring overlayd back to the record. */
  plan(): PlannedStep[] {
    const steps: PlannedStep[] = [];
    const add = (layer: Layer, key: string, request: OverlaydRequestInput, step: string) => {
      if (!this.#present.has(key)) steps.push({ layer, key, request, step });
    };
    if (this.#nodeId) add('identity', KEY.nodeId, this.#nodeId, 'set_local_node_id');
    if (this.#wgPubkey) add('identity', KEY.wgPubkey, this.#wgPubkey, 'set_local_wg_pubkey');
    if (this.#global) {
      add(
        'globalOverlay',
        KEY.global,
        this.#global,
        `setup_global_overlay ${this.#global.deployment}`,
      );
    }
    for (const [service, { request }] of this.#services) {
      add('serviceOverlays', KEY.service(service), request, `setup_service_overlay ${service}`);
    }
    for (const [scope, peers] of this.#peers) {
      for (const [pubkey, peer] of peers) {
        add('peers', KEY.peer(scope, pubkey), peer.request, `add_peer ${scope} ${pubkey}`);
        for (const cidr of peer.extra) {
          const request: RequestInputOf<'add_allowed_ip'> = {
            op: 'add_allowed_ip',
            pubkey,
            cidr,
            ...(peer.request.scope !== undefined && { scope: peer.request.scope }),
          };
          add(
            'allowedIps',
            KEY.allowed(scope, pubkey, cidr),
            request,
            `add_allowed_ip ${scope} ${pubkey} ${cidr}`,
          );
        }
      }
    }
    for (const [name, request] of this.#dns)
      add('dns', KEY.dns(name), request, `register_dns ${name}`);
    for (const [key, { request }] of this.#attachments) {
      if (this.#uncertain.has(key) && !this.#present.has(KEY.attachment(key))) {
        const detach: OverlaydRequestInput = {
          op: 'detach_container',
          handle: this.detachHandle(request.handle),
        };
        steps.push({ layer: 'attachments', key, request: detach, step: `detach_container ${key}` });
      }
      add('attachments', KEY.attachment(key), request, `attach_container ${key}`);
    }
    return steps;
  }

  /**
   * A request was sent and its answer never came: overlayd may have run it.
   * Only an attachment needs care (every other op is idempotent).
   */
  unanswered(request: OverlaydRequestInput): void {
    if (request.op === 'attach_container') this.#uncertain.add(this.#keyOf(request.handle));
  }

  /** Whether overlayd may hold this handle attached without the record knowing it does. */
  isUncertain(handle: AttachHandleInput): boolean {
    return this.#uncertain.has(this.#keyOf(handle));
  }

  /** A clearing detach is done: overlayd detached the handle, or had not attached it. */
  cleared(request: OverlaydRequestInput): void {
    if (request.op === 'detach_container') this.#uncertain.delete(this.#keyOf(request.handle));
  }

  /**
   * overlayd accepted a re-applied step: it is present again. An attachment
   * that came back with another address is returned (and recorded as such).
   */
  applied(step: PlannedStep, response: OverlaydResponse): AttachmentMoved | undefined {
    this.#present.add(step.key);
    if (step.request.op !== 'attach_container') return undefined;
    const key = attachHandleKey(step.request.handle);
    this.#uncertain.delete(key);
    const declared = this.#attachments.get(key);
    const ip = attachedIp(response);
    if (declared === undefined || ip === undefined) return undefined;
    const namespaceGuid = namespaceGuidOf(response);
    const newNamespace = namespaceGuid !== undefined && namespaceGuid !== declared.namespaceGuid;
    if (ip === declared.ip && !newNamespace) return undefined;
    const moved: AttachmentMoved = {
      handle: step.request.handle,
      service: step.request.service,
      previousIp: declared.ip,
      ip,
      ...(newNamespace &&
        declared.namespaceGuid !== undefined && { previousNamespaceGuid: declared.namespaceGuid }),
      ...(newNamespace && { namespaceGuid }),
      answer: response as AttachmentMoved['answer'],
    };
    declared.ip = ip;
    if (newNamespace) declared.namespaceGuid = namespaceGuid;
    return moved;
  }

  /**
   * The record's key of a handle. A Windows container named by the namespace
   * GUID its attach returned is the attachment of that container.
   */
  #keyOf(handle: AttachHandleInput): string {
    if (handle.platform === 'windows_container') {
      for (const [key, attachment] of this.#attachments) {
        if (attachment.namespaceGuid === handle.container_id) return key;
      }
    }
    return attachHandleKey(handle);
  }

  #scope(scope: string): Map<string, DeclaredPeer> {
    let peers = this.#peers.get(scope);
    if (peers === undefined) {
      peers = new Map();
      this.#peers.set(scope, peers);
    }
    return peers;
  }

  /** A peer is gone from overlayd (and from the record too when `declared`). */
  #forgetPeer(scope: string, pubkey: string, declared: boolean): void {
    const peer = this.#peers.get(scope)?.get(pubkey);
    if (peer === undefined) return;
    this.#present.delete(KEY.peer(scope, pubkey));
    for (const cidr of peer.extra) this.#present.delete(KEY.allowed(scope, pubkey, cidr));
    if (declared) this.#peers.get(scope)?.delete(pubkey);
  }

  /** An attachment went with its overlay (and goes from the record too when `declared`). */
  #detached(key: string, declared: boolean): void {
    this.#present.delete(KEY.attachment(key));
    this.#uncertain.delete(key);
    if (declared) this.#attachments.delete(key);
  }

  /** The global overlay is gone: its peers and the attachments drawn from its slice go with it. */
  #forgetGlobal(declared: boolean): void {
    this.#present.delete(KEY.global);
    for (const pubkey of [...(this.#peers.get('global')?.keys() ?? [])]) {
      this.#forgetPeer('global', pubkey, declared);
    }
    for (const [key, attachment] of [...this.#attachments]) {
      if (this.#services.get(attachment.request.service)?.dedicated) continue;
      this.#detached(key, declared);
    }
  }

  /** A service overlay is gone: its peers and attachments go with it. */
  #forgetService(service: string, declared: boolean): void {
    const scope = scopeKey({ scope: 'service', service });
    for (const pubkey of [...(this.#peers.get(scope)?.keys() ?? [])]) {
      this.#forgetPeer(scope, pubkey, declared);
    }
    for (const [key, attachment] of [...this.#attachments]) {
      if (attachment.request.service !== service) continue;
      this.#detached(key, declared);
    }
  }
}
