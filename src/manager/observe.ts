/**
 * Reading a `status` answer of the overlayd we are connected to: of what was
 * declared, whatever it shows missing is no longer held, with what depends
 * on it (a missing global overlay takes its peers and the attachments drawn
 * from its slice; a missing dedicated overlay its peers and attachments).
 *
 * `status` shows the WireGuard key, the global overlay, global peers and
 * their allowed IPs, and dedicated service overlays with their peer counts.
 * What it cannot show (node id, DNS names, shared service overlays, their
 * peers, attachments) stays held, known from this overlayd's own answers.
 * Two cases lean on ops overlayd treats idempotently instead:
 * - when the record holds nothing `status` can show, an empty `status`
 *   cannot tell a restart from a reconnect, so the node id and DNS names are
 *   sent again (`set_local_node_id` stores, `register_dns` overwrites);
 * - when `service_count` shows fewer shared overlays than declared, every
 *   shared overlay is set up again (the same mode again is a no-op) with its
 *   peers (`add_peer` replaces, `add_allowed_ip` of a known CIDR is a no-op),
 *   and its attachments become uncertain (see `UncertainAttachments`).
 */
import type { ResponseOf } from '../protocol/index.js';
import type { Declaration } from './declared.js';
import type { HeldItems } from './held.js';
import { ITEM, serviceScopeKey, splitCidrs } from './items.js';

type Status = ResponseOf<'status'>;

/**
 * A restarted overlayd starts empty, and an empty `status` is how a new
 * overlayd is told from the one we knew: it holds nothing.
 */
export function observeStatus(
  status: Status,
  declared: Declaration,
  held: HeldItems,
): 'restarted' | 'same' {
  if (isEmpty(status)) {
    held.loseEverything();
    return 'restarted';
  }
  observeWgPubkey(status, declared, held);
  if (declared.globalOverlay !== undefined && status.interface === undefined) {
    held.loseGlobalOverlay();
  }
  observeGlobalPeers(status, declared, held);
  observeDedicatedServices(status, declared, held);
  observeSharedServices(status, declared, held);
  return 'same';
}

function isEmpty(status: Status): boolean {
  return (
    status.interface === undefined &&
    status.public_key === undefined &&
    status.peer_count === 0 &&
    status.service_count === 0 &&
    status.dedicated_services.length === 0
  );
}

function observeWgPubkey(status: Status, declared: Declaration, held: HeldItems): void {
  const wgPubkey = declared.wgPubkey;
  if (wgPubkey !== undefined && status.public_key !== wgPubkey.pubkey) held.lose(ITEM.wgPubkey);
}

/**
 * A global peer shown without one of the CIDRs it was added with is added
 * again whole; one missing only a later addition gets that addition again.
 */
function observeGlobalPeers(status: Status, declared: Declaration, held: HeldItems): void {
  const shown = new Map(
    status.peers.map((peer) => [peer.public_key, splitCidrs(peer.allowed_ips)]),
  );
  for (const [pubkey, peer] of declared.peersOf('global')) {
    const allowed = shown.get(pubkey);
    const listed = splitCidrs(peer.request.allowed_ips);
    if (allowed === undefined || listed.some((cidr) => !allowed.includes(cidr))) {
      held.losePeer('global', pubkey);
      continue;
    }
    for (const cidr of peer.extra) {
      if (!allowed.includes(cidr)) held.lose(ITEM.allowed('global', pubkey, cidr));
    }
  }
}

/** A dedicated overlay is shown by name, with a count of its peers (but not which). */
function observeDedicatedServices(status: Status, declared: Declaration, held: HeldItems): void {
  const shown = new Map(status.dedicated_services.map((d) => [d.service, d.peer_count]));
  for (const [service, { dedicated }] of declared.services) {
    if (!dedicated) continue;
    const peerCount = shown.get(service);
    const scope = serviceScopeKey(service);
    if (peerCount === undefined) held.loseService(service);
    else if (peerCount < declared.peersOf(scope).size) held.losePeersOf(scope);
  }
}

/** Shared overlays are only counted: when some are missing, each is in doubt. */
function observeSharedServices(status: Status, declared: Declaration, held: HeldItems): void {
  const shared = [...declared.services].filter(([, { dedicated }]) => !dedicated);
  if (status.service_count - status.dedicated_services.length >= shared.length) return;
  for (const [service] of shared) held.mayHaveLostService(service);
}
