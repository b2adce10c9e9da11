/**
 * The manager's record: what the daemon declared and overlayd accepted
 * (`Declaration`), and what of it the overlayd we talk to now holds
 * (`HeldItems`), kept in step.
 *
 * Both change on a success answer to one of the daemon's calls (`accept`).
 * A resync reads `status` to learn what this overlayd lost (`observe`),
 * lists what to re-apply (`plan`), and marks each re-applied step held again
 * (`applied`). Nothing runs twice on one overlayd's life: what it holds is
 * not sent again, the ops a resync may repeat are idempotent, and the one
 * that is not, attach, follows the rule in `UncertainAttachments`.
 */
import type { DeclaredCounts } from '../../machines/manager.types.js';
import {
  type AttachHandleInput,
  attachHandleKey,
  type Op,
  type OverlaydRequestInput,
  type OverlaydResponse,
  type RequestInputOf,
  type ResponseOf,
} from '../protocol/index.js';
import { attachedIp, Declaration, type DeclaredAttachment, namespaceGuidOf } from './declared.js';
import { HeldItems } from './held.js';
import { ITEM, scopeKey } from './items.js';
import { observeStatus } from './observe.js';
import { type PlannedStep, planResync } from './plan.js';
import { UncertainAttachments } from './uncertain-attachments.js';

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

/**
 * What the success of one op changes. (Looked up by op, a request is passed
 * as the union: TypeScript cannot pair it with its op's handler there.)
 */
type Accepting<O extends Op = Op> = (
  request: RequestInputOf<O>,
  response: OverlaydResponse,
) => void;

export class DeclaredState {
  readonly #declared = new Declaration();
  /** Attachments overlayd may hold unbeknown to the record: the manager attaches through it. */
  readonly uncertain = new UncertainAttachments(this.#declared);
  readonly #held = new HeldItems(this.#declared, this.uncertain);

  counts(): DeclaredCounts {
    return this.#declared.counts();
  }

  /** The address the record holds for an attachment, if it is declared. */
  attachmentIp(handle: AttachHandleInput): string | undefined {
    return this.#declared.attachmentIp(handle);
  }

  /** The global overlay as declared (its CIDRs, port and NAT setting), if one is. */
  globalOverlay(): RequestInputOf<'setup_global_overlay'> | undefined {
    return this.#declared.globalOverlay;
  }

  /** The handle a detach carries (a Windows container's namespace GUID, when it has one). */
  detachHandle(handle: AttachHandleInput): AttachHandleInput {
    return this.#declared.detachHandle(handle);
  }

  /** Whether overlayd may hold this handle attached without the record knowing it does. */
  isUncertain(handle: AttachHandleInput): boolean {
    return this.uncertain.isUncertain(handle);
  }

  /** A request was sent and its answer never came (see `UncertainAttachments`). */
  unanswered(request: OverlaydRequestInput): void {
    this.uncertain.unanswered(request);
  }

  /** A clearing detach is done (see `UncertainAttachments`). */
  cleared(request: OverlaydRequestInput): void {
    this.uncertain.cleared(request);
  }

  /**
   * Read a `status` answer of the overlayd we are connected to: forget, from
   * what is held, whatever it shows missing. Returns whether it is a new
   * (empty) overlayd.
   */
  observe(status: ResponseOf<'status'>): 'restarted' | 'same' {
    return observeStatus(status, this.#declared, this.#held);
  }

  /** What to send, in dependency order, to bring overlayd back to the record. */
  plan(): PlannedStep[] {
    return planResync(this.#declared, this.#held, this.uncertain);
  }

  /**
   * overlayd accepted a re-applied step: it is held again. An attachment
   * that came back with another address is returned (and recorded as such).
   */
  applied(step: PlannedStep, response: OverlaydResponse): AttachmentMoved | undefined {
    this.#held.hold(step.key);
    if (step.request.op !== 'attach_container') return undefined;
    const key = attachHandleKey(step.request.handle);
    this.uncertain.settled(key);
    const declared = this.#declared.attachments.get(key);
    const moved = declared && movedAttachment(step.request, declared, response);
    if (moved) this.#declared.moveAttachment(key, moved.ip, moved.namespaceGuid);
    return moved;
  }

  /** overlayd answered one of the daemon's requests with success: record it. */
  accept(request: OverlaydRequestInput, response: OverlaydResponse): void {
    // status, nat_tick, allocate_ip, release_ip and shutdown have nothing to record.
    (this.#accepting[request.op] as Accepting | undefined)?.(request, response);
  }

  /** Each op the record keeps track of, and what its success changes. */
  readonly #accepting: { [O in Op]?: Accepting<O> } = {
    set_local_node_id: (request) => this.#setNodeId(request),
    set_local_wg_pubkey: (request) => this.#setWgPubkey(request),
    setup_global_overlay: (request) => this.#setupGlobalOverlay(request),
    teardown_global_overlay: () => this.#teardownGlobalOverlay(),
    setup_service_overlay: (request, response) => this.#setupService(request, response),
    teardown_service_overlay: (request) => this.#teardownService(request.service),
    attach_container: (request, response) => this.#attach(request, response),
    detach_container: (request) => this.#detach(request.handle),
    add_peer: (request) => this.#addPeer(request),
    remove_peer: (request) => this.#removePeer(scopeKey(request.scope), request.pubkey),
    add_allowed_ip: ({ scope, pubkey, cidr }) => this.#addAllowedIp(scopeKey(scope), pubkey, cidr),
    remove_allowed_ip: ({ scope, pubkey, cidr }) =>
      this.#removeAllowedIp(scopeKey(scope), pubkey, cidr),
    register_dns: (request) => this.#registerDns(request),
    unregister_dns: (request) => this.#unregisterDns(request.name),
  };

  // ---- what each accepted request changes, on both sides ------------------

  #setNodeId(request: RequestInputOf<'set_local_node_id'>): void {
    this.#declared.setNodeId(request);
    this.#held.hold(ITEM.nodeId);
  }

  #setWgPubkey(request: RequestInputOf<'set_local_wg_pubkey'>): void {
    this.#declared.setWgPubkey(request);
    this.#held.hold(ITEM.wgPubkey);
  }

  #setupGlobalOverlay(request: RequestInputOf<'setup_global_overlay'>): void {
    this.#declared.setupGlobalOverlay(request);
    this.#held.hold(ITEM.global);
  }

  /** What goes with it is lost first: what it takes with it is read from the declaration. */
  #teardownGlobalOverlay(): void {
    this.#held.loseGlobalOverlay();
    this.#declared.teardownGlobalOverlay();
  }

  /** The mode overlayd answered; an older overlayd answers none, and the requested one stands. */
  #setupService(
    request: RequestInputOf<'setup_service_overlay'>,
    response: OverlaydResponse,
  ): void {
    const mode = response.result === 'service_overlay' ? response.mode : request.mode;
    this.#declared.setupService(request, mode === 'dedicated');
    this.#held.hold(ITEM.service(request.service));
  }

  #teardownService(service: string): void {
    this.#held.loseService(service);
    this.#declared.teardownService(service);
  }

  #attach(request: RequestInputOf<'attach_container'>, response: OverlaydResponse): void {
    const key = attachHandleKey(request.handle);
    this.#declared.attach(key, request, response);
    this.#held.hold(ITEM.attachment(key));
  }

  /** The key is found before the attachment goes: a Windows GUID is looked up in it. */
  #detach(handle: AttachHandleInput): void {
    const key = this.#declared.keyOf(handle);
    this.#held.loseAttachment(key);
    this.#declared.detach(key);
  }

  /** Adding a peer again replaces its later allowed IPs: those this overlayd held go too. */
  #addPeer(request: RequestInputOf<'add_peer'>): void {
    const scope = scopeKey(request.scope);
    this.#held.losePeer(scope, request.public_key);
    this.#declared.addPeer(scope, request);
    this.#held.hold(ITEM.peer(scope, request.public_key));
  }

  #removePeer(scope: string, pubkey: string): void {
    this.#held.losePeer(scope, pubkey);
    this.#declared.removePeer(scope, pubkey);
  }

  /** An allowed IP of a peer the record does not hold is not recorded. */
  #addAllowedIp(scope: string, pubkey: string, cidr: string): void {
    if (this.#declared.peer(scope, pubkey) === undefined) return;
    this.#declared.addAllowedIp(scope, pubkey, cidr);
    this.#held.hold(ITEM.allowed(scope, pubkey, cidr));
  }

  #removeAllowedIp(scope: string, pubkey: string, cidr: string): void {
    if (this.#declared.peer(scope, pubkey) === undefined) return;
    this.#declared.removeAllowedIp(scope, pubkey, cidr);
    this.#held.lose(ITEM.allowed(scope, pubkey, cidr));
  }

  #registerDns(request: RequestInputOf<'register_dns'>): void {
    this.#declared.registerDns(request);
    this.#held.hold(ITEM.dns(request.name));
  }

  #unregisterDns(name: string): void {
    this.#declared.unregisterDns(name);
    this.#held.lose(ITEM.dns(name));
  }
}

/** How a re-attach's answer differs from the attachment as declared, if it does. */
function movedAttachment(
  request: RequestInputOf<'attach_container'>,
  declared: DeclaredAttachment,
  response: OverlaydResponse,
): AttachmentMoved | undefined {
  const ip = attachedIp(response);
  if (ip === undefined) return undefined;
  const namespaceGuid = namespaceGuidOf(response);
  const newNamespace = namespaceGuid !== undefined && namespaceGuid !== declared.namespaceGuid;
  if (ip === declared.ip && !newNamespace) return undefined;
  return {
    handle: request.handle,
    service: request.service,
    previousIp: declared.ip,
    ip,
    ...(newNamespace &&
      declared.namespaceGuid !== undefined && { previousNamespaceGuid: declared.namespaceGuid }),
    ...(newNamespace && { namespaceGuid }),
    answer: response as AttachmentMoved['answer'],
  };
}
