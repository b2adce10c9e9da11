/** What the manager's tests declare: keys, a node's global overlay, a global peer. */
import { randomBytes } from 'node:crypto';
import type { GlobalOverlayParams, PeerParams } from '../../src/index.js';

/** A fresh WireGuard-shaped key (32 random bytes, base64). */
export const wgKey = (): string => randomBytes(32).toString('base64');

/** The node's global overlay: a /28 slice of 10.200.0.0/16, NAT on. */
export function globalOverlay(wgPubkey: string): GlobalOverlayParams {
  return {
    nodeId: 9_007_199_254_740_993n,
    wgPubkey,
    deployment: 'prod',
    instanceId: 'node-a',
    clusterCidr: '10.200.0.0/16',
    sliceCidr: '10.200.0.0/28',
    wgPort: 51820,
    natEnabled: true,
  };
}

/** A peer of the global overlay, with an endpoint that NAT ticks move. */
export function globalPeer(publicKey: string): PeerParams {
  return {
    publicKey,
    endpoint: '198.51.100.7:51820',
    allowedIps: '10.200.0.16/28',
    persistentKeepaliveSecs: 25,
  };
}
