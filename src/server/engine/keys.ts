/**
 * WireGuard key pairs: Curve25519 (X25519) keys, 32 bytes each, in standard
 * base64 (44 characters) — what `wg genkey | wg pubkey` prints.
 */
import { generateKeyPairSync } from 'node:crypto';

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    privateKey: Buffer.from(jwk.d!, 'base64url').toString('base64'),
    publicKey: Buffer.from(jwk.x!, 'base64url').toString('base64'),
  };
}

/** Whether `text` is a base64 WireGuard key (32 bytes). */
export function isWireGuardKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text);
}
