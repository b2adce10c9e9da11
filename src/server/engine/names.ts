/**
 * Network interface and bridge names. Linux limits them to 15 bytes
 * (IFNAMSIZ 16 with the NUL) and refuses `/`, whitespace, `:`, `.` and `..`.
 */
import { createHash } from 'node:crypto';

export const MAX_INTERFACE_NAME = 15;

/** The global overlay's WireGuard interface. */
export const GLOBAL_INTERFACE = 'zl-overlay0';

/** Whether Linux would accept `name` as an interface name. */
export function isInterfaceName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= MAX_INTERFACE_NAME &&
    name !== '.' &&
    name !== '..' &&
    !/[/:\s]/.test(name)
  );
}

function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** The global overlay's bridge, one per deployment: `zl-br-` and 8 hex digits. */
export function globalBridgeName(deployment: string): string {
  return `zl-br-${shortHash(deployment, 8)}`;
}

/**
 * A dedicated service's WireGuard interface: `zl-svc-<service>0` when the
 * service name is short and plain (`[a-z0-9-]`), else `zl-svc-` and 7 hex
 * digits of its hash and `0` — distinct services get distinct names.
 */
export function serviceInterfaceName(service: string): string {
  const plain = `zl-svc-${service}0`;
  if (/^[a-z0-9-]+$/.test(service) && plain.length <= MAX_INTERFACE_NAME) return plain;
  return `zl-svc-${shortHash(service, 7)}0`;
}
