import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { UNIX_SOCKET_PEER } from '../protocol/address.js';

/** Why a request to the update API was refused before its action was looked at. */
export type AuthFailure = 'address' | 'password';

/**
 * Who may call the update API: the site, known by its password (the first path
 * segment, Ocelot's `site_password`) and, when `site_addresses` is set, by the
 * address its connection comes from. The socket's address only: a proxy header
 * could be written by anyone. Over the Unix socket (http.addr unix:…) the socket
 * file's permissions stand in for site_addresses.
 *
 * The password is compared in constant time: both sides are hashed (SHA-256) and
 * the digests compared with timingSafeEqual, so neither the position of the first
 * differing byte nor the password's length shows in the time taken.
 */
export class SiteAuth {
  private readonly digest: Buffer | undefined;
  private readonly allowed: BlockList | undefined;

  /**
   * @param password the configured site_password; '' turns the API off
   * @param addresses addresses and CIDR blocks (IPv4 or IPv6) allowed to call it; empty: any
   * @throws Error naming an entry that is neither an address nor a CIDR block
   */
  constructor(password: string, addresses: readonly string[] = []) {
    this.digest = password === '' ? undefined : sha256(password);
    if (addresses.length > 0) {
      const list = new BlockList();
      for (const entry of addresses) addToList(list, entry);
      this.allowed = list;
    }
  }

  get enabled(): boolean {
    return this.digest !== undefined;
  }

  /** Undefined when allowed; else why not. */
  check(password: string, remoteAddress: string | undefined): AuthFailure | undefined {
    if (this.digest === undefined) return 'password';
    if (this.allowed !== undefined && !addressAllowed(this.allowed, remoteAddress)) return 'address';
    return timingSafeEqual(sha256(password), this.digest) ? undefined : 'password';
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'latin1').digest();
}

function addToList(list: BlockList, entry: string): void {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  const prefix = slash === -1 ? undefined : Number(entry.slice(slash + 1));
  const max = family === 6 ? 128 : 32;
  if (family === 0 || (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= max))) {
    throw new Error(`site_addresses: not an address or CIDR block: ${JSON.stringify(entry)}`);
  }
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (prefix === undefined) list.addAddress(address, type);
  else list.addSubnet(address, prefix, type);
}

function addressAllowed(list: BlockList, remoteAddress: string | undefined): boolean {
  if (remoteAddress === undefined) return false;
  // Over the Unix socket (http.addr unix:…) the socket file's permissions say who may connect.
  if (remoteAddress === UNIX_SOCKET_PEER) return true;
  // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
  const address = remoteAddress.startsWith('::ffff:') && isIP(remoteAddress.slice(7)) === 4 ? remoteAddress.slice(7) : remoteAddress;
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}
