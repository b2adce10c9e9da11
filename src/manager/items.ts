/**
 * The names of what the record keeps track of, one key per thing overlayd
 * can hold: the declared side stores things under them, the held side lists
 * which of them this overlayd has, and a resync restores the missing ones by
 * them.
 */
import type { PeerScopeInput } from '../protocol/index.js';

export const ITEM = {
  nodeId: 'node id',
  wgPubkey: 'wg pubkey',
  global: 'global overlay',
  service: (service: string) => `service ${service}`,
  peer: (scope: string, pubkey: string) => `peer ${scope} ${pubkey}`,
  allowed: (scope: string, pubkey: string, cidr: string) => `allowed ${scope} ${pubkey} ${cidr}`,
  dns: (name: string) => `dns ${name}`,
  /** `handle` is the record's key of the attachment (`attachHandleKey`). */
  attachment: (handle: string) => `attachment ${handle}`,
};

/** `global`, or `service <name>`. */
export function scopeKey(scope: PeerScopeInput | undefined): string {
  return scope === undefined || scope.scope === 'global' ? 'global' : `service ${scope.service}`;
}

/** The peer scope of a service overlay. */
export function serviceScopeKey(service: string): string {
  return scopeKey({ scope: 'service', service });
}

/** The CIDRs of a comma-separated list, as `add_peer` and `status` carry them. */
export function splitCidrs(list: string): string[] {
  return list
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}
