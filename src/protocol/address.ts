import { BlockList, isIP } from 'node:net';

/**
 * The client address rules (SPEC §4 "Client address"), shared by every HTTP path and the
 * tracker: which address a peer is given, from the `ip` parameter, a proxy's headers or
 * the socket. Text forms are those Node gives (socket.remoteAddress, header values).
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

/**
 * The address part of one header entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
 * `[2001:db8::1]` or `[2001:db8::1]:80` (some proxies append the client's port),
 * IPv4-mapped IPv6 unmapped; undefined when it is not an address.
 */
export function addressOfEntry(entry: string): string | undefined {
  let text = entry.trim();
  if (text.charCodeAt(0) === 91 /* [ */) {
    const close = text.indexOf(']');
    if (close === -1 || (close !== text.length - 1 && text.charCodeAt(close + 1) !== 58) /* : */) return undefined;
    if (close !== text.length - 1 && !/^[0-9]{1,5}$/.test(text.slice(close + 2))) return undefined;
    text = text.slice(1, close);
    return isIP(text) === 6 ? unmapIPv4(text) : undefined;
  }
  if (isIP(text) !== 0) return unmapIPv4(text);
  const colon = text.lastIndexOf(':');
  // address:port is IPv4 only: a bare IPv6 address has colons of its own.
  if (colon > 0 && ipv4Of(text.slice(0, colon)) !== -1 && /^[0-9]{1,5}$/.test(text.slice(colon + 1))) {
    return text.slice(0, colon);
  }
  return undefined;
}

/** The first entry of a comma-separated header value as an address (see addressOfEntry). */
function firstEntryAddress(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const comma = value.indexOf(',');
  return addressOfEntry(comma === -1 ? value : value.slice(0, comma));
}

/** The first entry of an X-Forwarded-For list that is a public address (chihaya's rule). */
function firstPublicEntry(list: string | undefined): string | undefined {
  if (list === undefined) return undefined;
  for (const entry of list.split(',')) {
    const address = addressOfEntry(entry);
    if (address !== undefined && publicAddress(address) !== undefined) return address;
  }
  return undefined;
}

/**
 * The socket address the HTTP layer gives for a connection accepted on a Unix socket
 * (`http.addr` `unix:/path`), which has no address of its own: a process on this host
 * (nginx) that the socket file's permissions let in. It counts as a trusted proxy and is
 * never taken as a client's address.
 */
export const UNIX_SOCKET_PEER = 'unix';

/** Trusted proxies when `http.trusted_proxies` is not set: loopback (a proxy on the same host). */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = ['127.0.0.0/8', '::1'];

/** An address or CIDR entry (`http.trusted_proxies`, `site_addresses`) as a BlockList rule, or a message saying why it is not one. */
function addressBlockRule(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | string {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return `"${entry}" is not an address or CIDR`;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : entry.slice(slash + 1);
  const prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > max) return `"${entry}": prefix length must be 0..${max}`;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * Why a list of addresses and CIDR blocks (`http.trusted_proxies`, `site_addresses`) is
 * unusable, or undefined when every entry is one.
 */
export function addressBlocksError(entries: readonly string[]): string | undefined {
  for (const entry of entries) {
    const rule = addressBlockRule(entry);
    if (typeof rule === 'string') return rule;
  }
  return undefined;
}

/**
 * A set of addresses and CIDR blocks, IPv4 and IPv6 (`http.trusted_proxies`,
 * `site_addresses`), that connections' socket addresses are checked against. A socket
 * address in IPv4-mapped form (::ffff:a.b.c.d, what a dual-stack listener reports for an
 * IPv4 client) is checked as the IPv4 address.
 */
export class AddressBlocks {
  private readonly list = new BlockList();

  /**
   * `setting` names the list in errors (e.g. `site_addresses`).
   * @throws Error `<setting>: <addressBlocksError's text>` for the first entry that is not an address or CIDR block
   */
  constructor(entries: readonly string[], setting: string) {
    for (const entry of entries) {
      const rule = addressBlockRule(entry);
      if (typeof rule === 'string') throw new Error(`${setting}: ${rule}`);
      this.list.addSubnet(rule.address, rule.prefix, rule.family);
    }
  }

  /** Is this socket address (as Node gives it) in the set? False for '' and for any text that is not an address. */
  has(socketAddress: string): boolean {
    const address = unmapIPv4(socketAddress);
    const version = isIP(address);
    return version !== 0 && this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Called once, the first time a proxy header is ignored because the connection is not a trusted proxy's. */
export type IgnoredHeaderListener = (header: string, socketAddress: string) => void;

/** Called once, the first time an announce over the Unix socket carries no address header (nginx sets none). */
export type UnixWithoutHeaderListener = () => void;

/**
 * The client-address rules for one configuration:
 * 1. the `ip` parameter when it is a public address (global unicast, not private);
 * 2. with `http.proxy_header` set, that header's first entry when it is an address (from
 *    any connection: the operator named it, as before);
 * 3. with it empty (chihaya's configuration), `X-Real-Ip`, else the first public entry of
 *    `X-Forwarded-For`, but only on a connection from a trusted proxy (`http.trusted_proxies`,
 *    loopback by default): chihaya takes them from anyone, which lets any client claim any
 *    address; hayate takes them from the proxy it is deployed behind;
 * 4. else the socket's address; a connection over the Unix socket (UNIX_SOCKET_PEER) has
 *    none, so the client has no address ('') and the announce fails as an invalid one.
 * A Unix-socket connection is always a trusted proxy's: only what the socket file's
 * permissions admit can connect. Header entries may be `address:port` or `[v6]:port`; IPv4-mapped IPv6 counts as IPv4.
 */
export class ClientAddressRules {
  /** Lower-case name of the first header the HTTP layer reads: http.proxy_header, or x-real-ip. */
  readonly primaryHeader: string;
  /** Lower-case name of the list header read as well: x-forwarded-for, or '' with proxy_header set. */
  readonly listHeader: string;
  private readonly explicit: boolean;
  private readonly trusted: AddressBlocks;
  /** The last socket address checked and its answer: behind a proxy it is nearly always the same. */
  private lastSocket = '';
  private lastTrusted = false;
  private warned = false;
  private warnedUnix = false;

  /**
   * `proxyHeader` is http.proxy_header ('' for none); `trustedProxies` addresses or CIDRs
   * (IPv4 or IPv6; throws on an entry that is neither: the config check reports it first).
   */
  constructor(
    proxyHeader: string,
    trustedProxies: readonly string[] = DEFAULT_TRUSTED_PROXIES,
    private readonly onIgnored?: IgnoredHeaderListener,
    private readonly onUnixWithoutHeader?: UnixWithoutHeaderListener,
  ) {
    this.explicit = proxyHeader !== '';
    this.primaryHeader = this.explicit ? proxyHeader.toLowerCase() : 'x-real-ip';
    this.listHeader = this.explicit ? '' : 'x-forwarded-for';
    this.trusted = new AddressBlocks(trustedProxies, 'http.trusted_proxies');
  }

  /** Is this socket address (as Node gives it) a trusted proxy's? */
  isTrustedProxy(socketAddress: string): boolean {
    if (socketAddress === this.lastSocket) return this.lastTrusted;
    if (socketAddress === UNIX_SOCKET_PEER) return true;
    const trusted = this.trusted.has(socketAddress);
    this.lastSocket = socketAddress;
    this.lastTrusted = trusted;
    return trusted;
  }

  /**
   * The client's address. `primary` is the value of primaryHeader, `list` that of
   * listHeader (undefined when absent); `socketAddress` the connection's remote address.
   */
  resolve(
    ipParam: string | undefined,
    primary: string | undefined,
    list: string | undefined,
    socketAddress: string | undefined,
  ): ResolvedAddress {
    const text = publicAddress(ipParam) ?? this.fromHeaders(primary, list, socketAddress ?? '') ?? this.ofSocket(socketAddress);
    return { ip: ipv4Of(text), text };
  }

  /** The socket's own address: none ('') over the Unix socket, where a proxy header was due. */
  private ofSocket(socketAddress: string | undefined): string {
    if (socketAddress !== UNIX_SOCKET_PEER) return unmapIPv4(socketAddress ?? '');
    if (!this.warnedUnix) {
      this.warnedUnix = true;
      this.onUnixWithoutHeader?.();
    }
    return '';
  }

  private fromHeaders(primary: string | undefined, list: string | undefined, socketAddress: string): string | undefined {
    if (this.explicit) return firstEntryAddress(primary);
    if (primary === undefined && list === undefined) return undefined;
    if (!this.isTrustedProxy(socketAddress)) {
      if (!this.warned) {
        this.warned = true;
        this.onIgnored?.(primary !== undefined ? 'X-Real-Ip' : 'X-Forwarded-For', socketAddress);
      }
      return undefined;
    }
    return firstEntryAddress(primary) ?? firstPublicEntry(list);
  }
}
