import { describe, expect, it } from 'vitest';
import { generateKeyPair, isWireGuardKey } from '../../src/server/engine/keys.js';
import {
  GLOBAL_INTERFACE,
  globalBridgeName,
  isInterfaceName,
  serviceInterfaceName,
} from '../../src/server/engine/names.js';

describe('interface names', () => {
  it('names the global bridge per deployment, within 15 characters', () => {
    const name = globalBridgeName('prod');
    expect(name).toMatch(/^zl-br-[0-9a-f]{8}$/);
    expect(globalBridgeName('prod')).toBe(name);
    expect(globalBridgeName('staging')).not.toBe(name);
    expect(isInterfaceName(name)).toBe(true);
    expect(isInterfaceName(globalBridgeName('x'.repeat(500)))).toBe(true);
    expect(isInterfaceName(GLOBAL_INTERFACE)).toBe(true);
  });

  it('names a dedicated service interface after the service when it fits', () => {
    expect(serviceInterfaceName('web')).toBe('zl-svc-web0');
    expect(serviceInterfaceName('billing')).toBe('zl-svc-billing0');
    expect(isInterfaceName('zl-svc-payments0')).toBe(false); // 16: too long
  });

  it('hashes long or unusual service names into distinct valid names', () => {
    const names = ['payments', 'a-very-long-service-name', 'Web', 'a/b', 'a b', 'ü'].map((s) =>
      serviceInterfaceName(s),
    );
    for (const name of names.slice(1)) expect(name).toMatch(/^zl-svc-[0-9a-f]{7}0$/);
    expect(new Set(names.slice(1)).size).toBe(names.length - 1);
    for (const name of names.slice(1)) expect(isInterfaceName(name)).toBe(true);
  });

  it('knows what Linux refuses', () => {
    for (const bad of ['', '.', '..', 'a/b', 'a b', 'a:b', 'x'.repeat(16), 'üüüüüüüü']) {
      expect(isInterfaceName(bad)).toBe(false);
    }
  });
});

describe('keys', () => {
  it('generates distinct 32-byte base64 key pairs', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    for (const key of [a.privateKey, a.publicKey, b.privateKey, b.publicKey]) {
      expect(isWireGuardKey(key)).toBe(true);
      expect(Buffer.from(key, 'base64')).toHaveLength(32);
    }
    expect(new Set([a.privateKey, a.publicKey, b.privateKey, b.publicKey]).size).toBe(4);
  });

  it('recognises key text', () => {
    expect(isWireGuardKey('xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=')).toBe(true);
    expect(isWireGuardKey('xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dh=')).toBe(false);
    expect(isWireGuardKey('k')).toBe(false);
  });
});
