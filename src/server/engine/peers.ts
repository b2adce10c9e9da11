/**
 * The peers of one simulated WireGuard interface, keyed by public key.
 * Allowed IPs are kept as canonical CIDRs; endpoints as `host:port` (or empty:
 * a peer that has not roamed in yet).
 */
import type { PeerSpec, PeerStatus, U64 } from '../../protocol/index.js';
import { formatCidr, parseCidr } from './cidr.js';
import { parseOrRefuse, refuse } from './refusal.js';

interface Peer {
  endpoint: string;
  allowedIps: string[];
  keepalive: U64;
  /** Unix seconds of the simulated last handshake. */
  handshake: number;
}

/** `text` as a canonical CIDR, or a refusal naming `what` was wrong. */
function canonicalCidr(text: string, what: string): string {
  return formatCidr(parseOrRefuse(what, text, parseCidr));
}

/** The parts of `host:port` (an IPv6 host in brackets), or undefined. */
export function parseEndpoint(text: string): { host: string; port: number } | undefined {
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(text);
  if (match === null || Number(match[2]) > 0xffff) return undefined;
  return { host: match[1]!, port: Number(match[2]) };
}

export class PeerTable {
  readonly #peers = new Map<string, Peer>();
  /** Where the peers live, for messages: `global overlay`, `service web`. */
  readonly #label: string;

  constructor(label: string) {
    this.#label = label;
  }

  get size(): number {
    return this.#peers.size;
  }

  keys(): string[] {
    return [...this.#peers.keys()];
  }

  /** Adds the peer, or updates it (keeping its handshake time). True when it is new. */
  upsert(spec: PeerSpec, nowSecs: number): boolean {
    if (spec.public_key === '') refuse('public_key must not be empty');
    if (spec.endpoint !== '' && parseEndpoint(spec.endpoint) === undefined) {
      refuse(`invalid endpoint "${spec.endpoint}": expected host:port`);
    }
    const allowedIps = spec.allowed_ips
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => canonicalCidr(part, 'allowed_ips entry'));
    const existing = this.#peers.get(spec.public_key);
    this.#peers.set(spec.public_key, {
      endpoint: spec.endpoint,
      allowedIps: [...new Set(allowedIps)],
      keepalive: spec.persistent_keepalive_secs,
      handshake: existing?.handshake ?? nowSecs,
    });
    return existing === undefined;
  }

  remove(pubkey: string): void {
    if (!this.#peers.delete(pubkey)) this.#unknown(pubkey);
  }

  addAllowedIp(pubkey: string, cidr: string): void {
    const peer = this.#get(pubkey);
    const canonical = canonicalCidr(cidr, 'cidr');
    if (!peer.allowedIps.includes(canonical)) peer.allowedIps.push(canonical);
  }

  removeAllowedIp(pubkey: string, cidr: string): void {
    const peer = this.#get(pubkey);
    const index = peer.allowedIps.indexOf(canonicalCidr(cidr, 'cidr'));
    if (index < 0) refuse(`peer ${pubkey} on ${this.#label} has no allowed IP ${cidr}`);
    peer.allowedIps.splice(index, 1);
  }

  /** Removes every peer; returns their keys. */
  clear(): string[] {
    const keys = this.keys();
    this.#peers.clear();
    return keys;
  }

  specs(): PeerSpec[] {
    return [...this.#peers].map(([publicKey, peer]) => ({
      public_key: publicKey,
      endpoint: peer.endpoint,
      allowed_ips: peer.allowedIps.join(','),
      persistent_keepalive_secs: peer.keepalive,
    }));
  }

  statuses(): PeerStatus[] {
    return [...this.#peers].map(([publicKey, peer]) => ({
      public_key: publicKey,
      endpoint: peer.endpoint,
      allowed_ips: peer.allowedIps.join(','),
      last_handshake_unix_secs: peer.handshake,
    }));
  }

  /**
   * Simulates NAT rebinding: every peer with an endpoint moves to the next
   * port (65535 wraps to 1024). Returns the moved peers' new endpoints.
   */
  rotateEndpoints(): { pubkey: string; endpoint: string }[] {
    const moved: { pubkey: string; endpoint: string }[] = [];
    for (const [pubkey, peer] of this.#peers) {
      const parts = parseEndpoint(peer.endpoint);
      if (parts === undefined) continue;
      peer.endpoint = `${parts.host}:${parts.port === 0xffff ? 1024 : parts.port + 1}`;
      moved.push({ pubkey, endpoint: peer.endpoint });
    }
    return moved;
  }

  #get(pubkey: string): Peer {
    return this.#peers.get(pubkey) ?? this.#unknown(pubkey);
  }

  #unknown(pubkey: string): never {
    return refuse(`unknown peer ${pubkey} on ${this.#label}`);
  }
}
