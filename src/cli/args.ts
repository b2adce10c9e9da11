/**
 * Parsers for command-line values. Each throws commander's
 * InvalidArgumentError, which commander reports naming the option or
 * argument: `error: option '--wg-port <port>' argument 'x' is invalid. …`.
 */
import { InvalidArgumentError } from 'commander';
import { isIpAddr, normalizeU64, parseIp, U64_MAX } from '../protocol/index.js';
import { RefusalPlan } from '../server/refusal-plan.js';

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** A u64, exactly: a number up to 2^53-1, a bigint above. */
export function parseU64(value: string): number | bigint {
  if (!DECIMAL.test(value)) throw new InvalidArgumentError('expected a decimal integer ≥ 0.');
  const big = BigInt(value);
  if (big > U64_MAX) throw new InvalidArgumentError(`expected at most ${U64_MAX} (u64).`);
  return normalizeU64(big);
}

function boundedInt(min: number, max: number, what: string) {
  return (value: string): number => {
    const n = DECIMAL.test(value) ? Number(value) : Number.NaN;
    if (!(n >= min && n <= max)) {
      throw new InvalidArgumentError(`expected ${what} (an integer from ${min} to ${max}).`);
    }
    return n;
  };
}

export const parseU16 = boundedInt(0, 0xffff, 'a port');
export const parsePid = boundedInt(1, 0xffff_ffff, 'a process id');
export const parseMs = boundedInt(1, 2_147_483_647, 'milliseconds');
export const parseAttempts = boundedInt(1, 1_000_000, 'an attempt count');

export function parseIpAddr(value: string): string {
  if (!isIpAddr(value)) {
    throw new InvalidArgumentError('expected an IP address such as 10.200.0.5 or fd00::1.');
  }
  return value;
}

/** `address/prefix`, the prefix within the address family's width. */
export function parseCidr(value: string): string {
  const slash = value.indexOf('/');
  const ip = slash < 0 ? undefined : parseIp(value.slice(0, slash));
  const prefix = value.slice(slash + 1);
  const width = ip?.v === 6 ? 128 : 32;
  if (ip === undefined || !DECIMAL.test(prefix) || Number(prefix) > width) {
    throw new InvalidArgumentError('expected a CIDR such as 10.200.0.0/16.');
  }
  return value;
}

/** Comma-separated CIDRs, as in a PeerSpec's `allowed_ips`. */
export function parseCidrList(value: string): string {
  const parts = value.split(',').map((part) => part.trim());
  for (const part of parts) {
    try {
      parseCidr(part);
    } catch {
      throw new InvalidArgumentError(
        `'${part}' is not a CIDR; expected comma-separated CIDRs such as 10.200.0.16/28,fd00::/64.`,
      );
    }
  }
  return parts.join(',');
}

/** `host:port` (an IPv6 host in brackets). */
export function parseEndpoint(value: string): string {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon);
  const port = value.slice(colon + 1);
  const bracketed = host.startsWith('[') && host.endsWith(']');
  const hostOk = bracketed ? isIpAddr(host.slice(1, -1)) : host !== '' && !host.includes(':');
  if (colon < 0 || !hostOk || !DECIMAL.test(port) || Number(port) > 0xffff) {
    throw new InvalidArgumentError('expected host:port, such as 203.0.113.7:51820.');
  }
  return value;
}

export function parseNonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty.');
  return value;
}

/** `op:count` for `serve --refuse`. */
export function parseRefusal(value: string): string {
  try {
    RefusalPlan.parse([value]);
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
  return value;
}
