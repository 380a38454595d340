import { createHash, timingSafeEqual } from 'node:crypto';
import { AddressBlocks, UNIX_SOCKET_PEER } from '../protocol/address.js';

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
  private readonly allowed: AddressBlocks | undefined;

  /**
   * @param password the configured site_password; '' turns the API off
   * @param addresses addresses and CIDR blocks (IPv4 or IPv6) allowed to call it; empty: any
   * @throws Error naming an entry that is neither an address nor a CIDR block
   */
  constructor(password: string, addresses: readonly string[] = []) {
    this.digest = password === '' ? undefined : sha256(password);
    if (addresses.length > 0) {
      this.allowed = new AddressBlocks(addresses, 'site_addresses');
    }
  }

  get enabled(): boolean {
    return this.digest !== undefined;
  }

  /** Undefined when allowed; else why not. */
  check(password: string, remoteAddress: string | undefined): AuthFailure | undefined {
    if (this.digest === undefined) return 'password';
    if (this.allowed !== undefined && !peerAllowed(this.allowed, remoteAddress)) return 'address';
    return timingSafeEqual(sha256(password), this.digest) ? undefined : 'password';
  }
}

function peerAllowed(allowed: AddressBlocks, remoteAddress: string | undefined): boolean {
  if (remoteAddress === undefined) return false;
  // Over the Unix socket (http.addr unix:…) the socket file's permissions say who may connect.
  return remoteAddress === UNIX_SOCKET_PEER || allowed.has(remoteAddress);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'latin1').digest();
}
