import { isIP } from 'node:net';

/**
 * IPv6 addresses as the tracker keeps them (SPEC §13): 16 raw bytes in network
 * order as a latin1 string ("addr16"). A flat one-byte string of 16 chars is
 * compact in V8, compares with ===, and is written into an answer or a file as
 * it is — no per-announce objects.
 */

/** The 16 bytes of an IPv6 address in text form (as net.isIP accepts it, zone id refused), or undefined. */
export function ipv6Of(text: string): string | undefined {
  if (text.indexOf('%') !== -1 || isIP(text) !== 6) return undefined;
  const words = new Array<number>(8).fill(0);
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) stands for the last two words.
  let head = text;
  let tail: number[] = [];
  const dot = text.indexOf('.');
  if (dot !== -1) {
    const colon = text.lastIndexOf(':');
    const parts = text
      .slice(colon + 1)
      .split('.')
      .map(Number);
    tail = [(parts[0]! << 8) | parts[1]!, (parts[2]! << 8) | parts[3]!];
    // "::1.2.3.4" keeps its "::" (the gap is right before the tail); "1::2:1.2.3.4" drops the ':'.
    head = text.slice(0, colon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const gap = head.indexOf('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = gap === -1 ? groups(head) : groups(head.slice(0, gap));
  const right = (gap === -1 ? [] : groups(head.slice(gap + 2))).concat(tail);
  for (let i = 0; i < left.length; i++) words[i] = left[i]!;
  for (let i = 0; i < right.length; i++) words[8 - right.length + i] = right[i]!;
  // Written into bytes and read back as one flat string: a concatenation would be a rope,
  // flattened (and copied) by the first charCodeAt of every answer that hands it out.
  for (let i = 0; i < 8; i++) ADDR_SCRATCH.writeUInt16BE(words[i]!, i * 2);
  return ADDR_SCRATCH.toString('latin1', 0, 16);
}

const ADDR_SCRATCH = Buffer.alloc(16);

/** RFC 5952 text of 16 address bytes: lower case, the longest run of two or more zero words as `::`. */
export function ipv6Text(addr16: string): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((addr16.charCodeAt(i) << 8) | addr16.charCodeAt(i + 1));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    words
      .slice(from, to)
      .map((w) => w.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** The IPv4 address (uint32) of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else -1. */
export function mappedIPv4(addr16: string): number {
  for (let i = 0; i < 10; i++) if (addr16.charCodeAt(i) !== 0) return -1;
  if (addr16.charCodeAt(10) !== 0xff || addr16.charCodeAt(11) !== 0xff) return -1;
  return ((addr16.charCodeAt(12) << 24) | (addr16.charCodeAt(13) << 16) | (addr16.charCodeAt(14) << 8) | addr16.charCodeAt(15)) >>> 0;
}

/**
 * Is this a public address a peer can be reached at: global unicast (2000::/3, RFC 4291)
 * outside the documentation (2001:db8::/32, 3fff::/20), benchmarking (2001:2::/48) and
 * ORCHID (2001:10::/28, 2001:20::/28) ranges? Loopback, unspecified, IPv4-mapped,
 * link-local (fe80::/10), unique local (fc00::/7, the IPv6 private range) and multicast
 * all fall outside 2000::/3 — the IPv6 counterparts of what isPublicIPv4 refuses.
 */
export function isPublicIPv6(addr16: string): boolean {
  const w0 = (addr16.charCodeAt(0) << 8) | addr16.charCodeAt(1);
  const w1 = (addr16.charCodeAt(2) << 8) | addr16.charCodeAt(3);
  if ((w0 & 0xe000) !== 0x2000) return false;
  if (w0 === 0x2001 && w1 === 0x0db8) return false; // documentation
  if (w0 === 0x3fff && w1 < 0x1000) return false; // documentation (RFC 9637)
  if (w0 === 0x2001 && w1 === 0x0002 && addr16.charCodeAt(4) === 0 && addr16.charCodeAt(5) === 0) return false; // benchmarking
  if (w0 === 0x2001 && (w1 & 0xfff0) === 0x0010) return false; // ORCHID
  if (w0 === 0x2001 && (w1 & 0xfff0) === 0x0020) return false; // ORCHIDv2
  return true;
}

/**
 * An IPv6 endpoint parameter (BEP 7 `ipv6=`): an address, or `[address]:port`.
 * Returns the address bytes and the port (undefined when not given), or undefined.
 */
export function ipv6Param(text: string): { addr16: string; port: number | undefined } | undefined {
  let address = text.trim();
  let port: number | undefined;
  if (address.charCodeAt(0) === 91 /* [ */) {
    const close = address.indexOf(']');
    if (close === -1) return undefined;
    const rest = address.slice(close + 1);
    if (rest !== '') {
      if (!/^:[0-9]{1,5}$/.test(rest)) return undefined;
      port = Number(rest.slice(1));
      if (port > 65535) return undefined;
    }
    address = address.slice(1, close);
  }
  const addr16 = ipv6Of(address);
  return addr16 === undefined ? undefined : { addr16, port };
}
