import { isIP } from 'node:net';

/**
 * Client address resolution (SPEC §4): the `ip` parameter when it is a valid
 * public address; else the proxy header (when configured and valid); else the
 * socket's address. IPv4-mapped IPv6 counts as IPv4.
 */
export interface ResolvedAddress {
  /** IPv4 as uint32, or -1 when the resolved address is not IPv4. */
  ip: number;
  /** The address as resolved, for messages and logs. */
  text: string;
}

/** Strips an IPv4-mapped IPv6 prefix (::ffff:1.2.3.4 → 1.2.3.4). */
export function unmapIPv4(address: string): string {
  if (address.length > 7 && address.charCodeAt(0) === 58 /* : */) {
    const lower = address.toLowerCase();
    if (lower.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  }
  return address;
}

/**
 * The uint32 of a dotted-quad IPv4 address in the form net.isIP accepts (four
 * decimal parts 0–255, no leading zeros, nothing else), or -1. Read by char code:
 * this runs for every announce, where split() and a regex per part allocated.
 */
export function ipv4Of(text: string): number {
  const length = text.length;
  if (length < 7 || length > 15) return -1;
  let ip = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= length; i++) {
    const c = i < length ? text.charCodeAt(i) : 46; /* a final '.' ends the last part */
    if (c === 46) {
      if (digits === 0 || ++parts > 4) return -1;
      ip = ip * 256 + part;
      part = 0;
      digits = 0;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9 || (digits === 1 && part === 0)) return -1; // not a digit, or a leading zero
      part = part * 10 + d;
      if (++digits > 3 || part > 255) return -1;
    }
  }
  return parts === 4 ? ip : -1;
}

/** Is this IPv4 (uint32) a public, global unicast address? */
export function isPublicIPv4(ip: number): boolean {
  const a = ip >>> 24;
  const b = (ip >>> 16) & 0xff;
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false; // this-net, RFC1918, loopback, multicast/reserved
  if (a === 100 && b >= 64 && b <= 127) return false; // RFC6598 shared (CGNAT)
  if (a === 169 && b === 254) return false; // link-local
  if (a === 172 && b >= 16 && b <= 31) return false; // RFC1918
  if (a === 192 && b === 168) return false; // RFC1918
  if (a === 192 && b === 0 && ((ip >>> 8) & 0xff) === 2) return false; // TEST-NET-1
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a === 198 && b === 51 && ((ip >>> 8) & 0xff) === 100) return false; // TEST-NET-2
  if (a === 203 && b === 0 && ((ip >>> 8) & 0xff) === 113) return false; // TEST-NET-3
  return true;
}

/** Is this IPv6 text a global unicast (2000::/3) address? */
function isPublicIPv6(address: string): boolean {
  const first = parseInt(address.split(':')[0] || '0', 16);
  return (first & 0xe000) === 0x2000;
}

function publicAddress(candidate: string | undefined): string | undefined {
  if (candidate === undefined || candidate === '') return undefined;
  const address = unmapIPv4(candidate.trim());
  const ip = ipv4Of(address);
  if (ip !== -1) return isPublicIPv4(ip) ? address : undefined;
  if (isIP(address) === 6) return isPublicIPv6(address) ? address : undefined;
  return undefined;
}

function validAddress(candidate: string | undefined): string | undefined {
  if (candidate === undefined) return undefined;
  // A list (X-Forwarded-For style): the first entry is the client as the proxy saw it.
  const comma = candidate.indexOf(',');
  const address = unmapIPv4((comma === -1 ? candidate : candidate.slice(0, comma)).trim());
  return isIP(address) !== 0 ? address : undefined;
}

export function resolveAddress(
  ipParam: string | undefined,
  proxyHeaderValue: string | undefined,
  socketAddress: string | undefined,
): ResolvedAddress {
  const text = publicAddress(ipParam) ?? validAddress(proxyHeaderValue) ?? unmapIPv4(socketAddress ?? '');
  return { ip: ipv4Of(text), text };
}
