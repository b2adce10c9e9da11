/**
 * IP addresses exactly as Rust's `std::net::IpAddr` parses and prints them.
 *
 * Parsing follows core::net's grammar: IPv4 is four decimal octets without
 * leading zeros; IPv6 has at most one `::`, 1–4 hex digits per group (leading
 * zeros allowed) and an optional dotted IPv4 tail. Nothing else: no ports,
 * brackets, zones, whitespace or shorthand. Printing follows Rust's Display:
 * RFC 5952 compression of the longest run of ≥2 zero groups (first on ties),
 * lowercase hex, and `::ffff:a.b.c.d` for IPv4-mapped addresses.
 */
import * as v from 'valibot';

/** A parsed address: 4 octets or 8 16-bit groups. */
export type ParsedIp = { v: 4; octets: number[] } | { v: 6; groups: number[] };

const DOT = 0x2e;
const COLON = 0x3a;

/** The value of a decimal or hex digit, or -1. */
function digitValue(c: number, radix: 10 | 16): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return radix === 16 && lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/**
 * A cursor over the text, mirroring core::net's parser: every reader either
 * consumes what it read or, on failure, rewinds to where it started.
 */
class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  /** Consumes `sep` unless this is the first item (`index` 0). */
  separator(sep: number, index: number): boolean {
    if (index === 0) return true;
    if (this.text.charCodeAt(this.pos) !== sep) return false;
    this.pos++;
    return true;
  }

  /** Rust's read_number: 1 to `maxDigits` digits of `radix`, value ≤ `max`. */
  number(radix: 10 | 16, maxDigits: number, max: number, allowZeroPrefix: boolean) {
    const start = this.pos;
    let value = 0;
    let digits = 0;
    for (let d = digitValue(this.text.charCodeAt(this.pos), radix); d >= 0; ) {
      value = value * radix + d;
      digits++;
      this.pos++;
      if (digits > maxDigits || value > max) break; // rejected below
      d = digitValue(this.text.charCodeAt(this.pos), radix);
    }
    const leadingZero = digits > 1 && this.text.charCodeAt(start) === 0x30;
    if (digits === 0 || digits > maxDigits || value > max || (leadingZero && !allowZeroPrefix)) {
      this.pos = start;
      return undefined;
    }
    return value;
  }

  ipv4(): number[] | undefined {
    const start = this.pos;
    const octets: number[] = [];
    for (let i = 0; i < 4; i++) {
      const octet = this.separator(DOT, i) ? this.number(10, 3, 0xff, false) : undefined;
      if (octet === undefined) {
        this.pos = start;
        return undefined;
      }
      octets.push(octet);
    }
    return octets;
  }

  /** Reads up to `limit` groups (the last two may be an IPv4 tail); returns [count, sawIpv4]. */
  groups(into: number[], limit: number): [number, boolean] {
    for (let i = 0; i < limit; i++) {
      const start = this.pos;
      if (i < limit - 1) {
        const v4 = this.separator(COLON, i) ? this.ipv4() : undefined;
        if (v4 !== undefined) {
          into.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
          return [i + 2, true];
        }
        this.pos = start;
      }
      const group = this.separator(COLON, i) ? this.number(16, 4, 0xffff, true) : undefined;
      if (group === undefined) {
        this.pos = start;
        return [i, false];
      }
      into.push(group);
    }
    return [limit, false];
  }

  ipv6(): number[] | undefined {
    const groups: number[] = [];
    const [headSize, headV4] = this.groups(groups, 8);
    if (headSize === 8) return groups;
    // An IPv4 tail cannot come before `::`, and fewer than 8 groups need one.
    if (headV4 || !this.text.startsWith('::', this.pos)) return undefined;
    this.pos += 2;
    const tail: number[] = [];
    const [tailSize] = this.groups(tail, 7 - headSize);
    for (let i = headSize + tailSize; i < 8; i++) groups.push(0);
    groups.push(...tail);
    return groups;
  }
}

/** Parses an address the way Rust's `IpAddr::from_str` does; undefined when invalid. */
export function parseIp(text: string): ParsedIp | undefined {
  const v4 = new Cursor(text);
  const octets = v4.ipv4();
  if (octets !== undefined) return v4.pos === text.length ? { v: 4, octets } : undefined;
  const v6 = new Cursor(text);
  const groups = v6.ipv6();
  return groups !== undefined && v6.pos === text.length ? { v: 6, groups } : undefined;
}

/** Prints an address the way Rust's Display does. */
export function formatIp(ip: ParsedIp): string {
  if (ip.v === 4) return ip.octets.join('.');
  const g = ip.groups;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  }
  // The longest run of zero groups (the first one on ties) is compressed if ≥ 2.
  let bestStart = 0;
  let bestLen = 0;
  for (let i = 0, runStart = 0; i < 8; i++) {
    if (g[i] !== 0) {
      runStart = i + 1;
    } else if (i + 1 - runStart > bestLen) {
      bestStart = runStart;
      bestLen = i + 1 - runStart;
    }
  }
  const hex = (part: number[]) => part.map((n) => n.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

// The schema checks an address, then re-spells it: remember the last parse so
// that happens once.
let lastText = '';
let lastParsed: ParsedIp | undefined;
function parseOnce(text: string): ParsedIp | undefined {
  if (text !== lastText) {
    lastParsed = parseIp(text);
    lastText = text;
  }
  return lastParsed;
}

/** Whether `value` is a string holding a valid address. */
export const isIpAddr = (value: unknown): value is string =>
  typeof value === 'string' && parseOnce(value) !== undefined;

/** The canonical spelling of a valid address (IPv4 text is already canonical). */
export function canonicalIp(text: string): string {
  if (!text.includes(':')) return text;
  const ip = parseOnce(text);
  return ip === undefined ? text : formatIp(ip);
}

/** `IpAddr`: a string in Rust's textual form, re-spelled canonically on decode. */
export const IpAddrSchema = v.pipe(
  v.custom<string>(isIpAddr, 'expected IP address'),
  v.transform(canonicalIp),
);
