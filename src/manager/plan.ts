/**
 * A resync's plan: what to send, in dependency order (identity, global
 * overlay, service overlays, peers and their allowed IPs, DNS names,
 * attachments), to bring the overlayd we talk to now back to what was
 * declared. Only what it does not hold is sent; an uncertain attachment is
 * detached before it is attached again (see `UncertainAttachments`).
 */
import type { ReappliedStep } from '../../machines/manager.types.js';
import type { OverlaydRequestInput, RequestInputOf } from '../protocol/index.js';
import type { Declaration, DeclaredPeer } from './declared.js';
import type { HeldItems } from './held.js';
import { ITEM } from './items.js';
import type { UncertainAttachments } from './uncertain-attachments.js';

export type Layer = ReappliedStep['layer'];

/** One request of a resync: what it re-applies, and the key of the item it restores. */
export interface PlannedStep extends ReappliedStep {
  key: string;
  request: OverlaydRequestInput;
}

/** A step that detaches an attachment overlayd may hold, before it is attached again. */
export type ClearingStep = PlannedStep & { request: RequestInputOf<'detach_container'> };

export function isClearingStep(step: PlannedStep): step is ClearingStep {
  return step.request.op === 'detach_container';
}

export function planResync(
  declared: Declaration,
  held: HeldItems,
  uncertain: UncertainAttachments,
): PlannedStep[] {
  const plan = new Plan(held);
  planIdentity(plan, declared);
  planOverlays(plan, declared);
  for (const [scope, peers] of declared.peers) {
    for (const [pubkey, peer] of peers) planPeer(plan, scope, pubkey, peer);
  }
  for (const [name, request] of declared.dnsNames) {
    plan.restore('dns', ITEM.dns(name), request, `register_dns ${name}`);
  }
  planAttachments(plan, declared, uncertain);
  return plan.steps;
}

/** The steps, each restoring an item this overlayd does not hold. */
class Plan {
  readonly steps: PlannedStep[] = [];
  readonly #held: HeldItems;

  constructor(held: HeldItems) {
    this.#held = held;
  }

  holds(item: string): boolean {
    return this.#held.holds(item);
  }

  add(step: PlannedStep): void {
    this.steps.push(step);
  }

  /** A step that restores an item, unless this overlayd holds it. */
  restore(layer: Layer, key: string, request: OverlaydRequestInput, step: string): void {
    if (!this.holds(key)) this.add({ layer, key, request, step });
  }
}

function planIdentity(plan: Plan, declared: Declaration): void {
  const { nodeId, wgPubkey } = declared;
  if (nodeId) plan.restore('identity', ITEM.nodeId, nodeId, 'set_local_node_id');
  if (wgPubkey) plan.restore('identity', ITEM.wgPubkey, wgPubkey, 'set_local_wg_pubkey');
}

function planOverlays(plan: Plan, declared: Declaration): void {
  const global = declared.globalOverlay;
  if (global) {
    const step = `setup_global_overlay ${global.deployment}`;
    plan.restore('globalOverlay', ITEM.global, global, step);
  }
  for (const [service, { request }] of declared.services) {
    plan.restore(
      'serviceOverlays',
      ITEM.service(service),
      request,
      `setup_service_overlay ${service}`,
    );
  }
}

/** A peer, then each CIDR added to it later (in the peer's scope). */
function planPeer(plan: Plan, scope: string, pubkey: string, peer: DeclaredPeer): void {
  plan.restore('peers', ITEM.peer(scope, pubkey), peer.request, `add_peer ${scope} ${pubkey}`);
  for (const cidr of peer.extra) {
    const request: RequestInputOf<'add_allowed_ip'> = {
      op: 'add_allowed_ip',
      pubkey,
      cidr,
      ...(peer.request.scope !== undefined && { scope: peer.request.scope }),
    };
    const step = `add_allowed_ip ${scope} ${pubkey} ${cidr}`;
    plan.restore('allowedIps', ITEM.allowed(scope, pubkey, cidr), request, step);
  }
}

/** An attachment this overlayd may hold unbeknown to us is detached before it is attached again. */
function planAttachments(plan: Plan, declared: Declaration, uncertain: UncertainAttachments): void {
  for (const [key, { request }] of declared.attachments) {
    const item = ITEM.attachment(key);
    if (plan.holds(item)) continue;
    const detach = uncertain.detachFirst(key, request.handle);
    if (detach !== undefined) {
      plan.add({ layer: 'attachments', key, request: detach, step: `detach_container ${key}` });
    }
    plan.restore('attachments', item, request, `attach_container ${key}`);
  }
}
