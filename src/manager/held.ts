/**
 * What the overlayd we talk to now holds, of what was declared, by item key
 * (`ITEM`). An item is held once this overlayd answers its request with
 * success, and lost when the daemon takes it out, when a `status` answer
 * shows it missing, or when it goes with what it depends on: an overlay
 * takes its peers and attachments, a peer its allowed IPs.
 */
import type { Declaration } from './declared.js';
import { ITEM, serviceScopeKey } from './items.js';
import type { UncertainAttachments } from './uncertain-attachments.js';

export class HeldItems {
  readonly #items = new Set<string>();
  readonly #declared: Declaration;
  readonly #uncertain: UncertainAttachments;

  constructor(declared: Declaration, uncertain: UncertainAttachments) {
    this.#declared = declared;
    this.#uncertain = uncertain;
  }

  holds(item: string): boolean {
    return this.#items.has(item);
  }

  hold(item: string): void {
    this.#items.add(item);
  }

  /** Returns whether this overlayd held it. */
  lose(item: string): boolean {
    return this.#items.delete(item);
  }

  /** A restarted overlayd: it holds nothing. */
  loseEverything(): void {
    this.#items.clear();
    this.#uncertain.restarted();
  }

  /** A declared peer, with the allowed IPs added to it later. */
  losePeer(scope: string, pubkey: string): void {
    const peer = this.#declared.peer(scope, pubkey);
    if (peer === undefined) return;
    this.#items.delete(ITEM.peer(scope, pubkey));
    for (const cidr of peer.extra) this.#items.delete(ITEM.allowed(scope, pubkey, cidr));
  }

  losePeersOf(scope: string): void {
    for (const pubkey of this.#declared.peerKeys(scope)) this.losePeer(scope, pubkey);
  }

  /** Detached, or gone with its overlay: this overlayd surely does not hold it. */
  loseAttachment(key: string): void {
    this.#items.delete(ITEM.attachment(key));
    this.#uncertain.settled(key);
  }

  /** The global overlay, with its peers and the attachments drawn from its slice. */
  loseGlobalOverlay(): void {
    this.#items.delete(ITEM.global);
    this.losePeersOf('global');
    for (const key of this.#declared.globalSliceAttachments()) this.loseAttachment(key);
  }

  /** A service overlay, with its peers and attachments. */
  loseService(service: string): void {
    this.#items.delete(ITEM.service(service));
    this.losePeersOf(serviceScopeKey(service));
    for (const key of this.#declared.attachmentsOf(service)) this.loseAttachment(key);
  }

  /**
   * A shared service overlay may be gone, or may not: `status` cannot say
   * which. It is set up again (a no-op where it exists) with its peers
   * (adding one again is idempotent); the attachments this overlayd held
   * become uncertain, since the overlay may have kept them.
   */
  mayHaveLostService(service: string): void {
    this.#items.delete(ITEM.service(service));
    this.losePeersOf(serviceScopeKey(service));
    for (const key of this.#declared.attachmentsOf(service)) {
      if (this.#items.delete(ITEM.attachment(key))) this.#uncertain.mayHaveLost(key);
    }
  }
}
