/**
 * One client of one user on one torrent. Byte strings are held as latin1 JS
 * strings: one char per byte, compact in V8 and usable as map keys.
 *
 * Kept small (a million of these is the tracker's heap): the torrent and the
 * seeding flag are known from the swarm that holds the peer, the peer_id is the
 * tail of the key (peerIdOf), and every field is a small integer. The 64-bit
 * counters (uploaded, downloaded, left) live in the owning swarm (Swarm.uploaded
 * etc.), unboxed. Build peers with newPeer so they all share one hidden class.
 */
export interface Peer {
  /** The swarm key (peerKey): user ID as 4 LE bytes, then the 20-byte peer_id. */
  key: string;
  userId: number;
  /**
   * IPv4 as a signed 32-bit number (`ip | 0`): always a small integer in V8, where an
   * unsigned address ≥ 2^31 would be a boxed double. Read it as `ip >>> 0`.
   */
  ip: number;
  port: number;
  /** Unix seconds. */
  startTime: number;
  lastAnnounce: number;
  clientId: number;
  /** Position in the owning swarm's array; maintained by Swarm only. */
  slot: number;
  /**
   * The peer's IPv6 endpoint and what a dual-stack peer needs besides (SPEC §13); undefined
   * for a peer never seen over IPv6 (every peer while `announce.ipv6` is off). A peer with
   * only an IPv6 endpoint has `ip` 0 (0.0.0.0 is never a peer's address).
   */
  v6: PeerV6 | undefined;
}

/**
 * A peer's IPv6 endpoint (only made for peers that have one). Each endpoint is refreshed
 * by announces of its family (or the BEP 7 `ipv4=` / `ipv6=` parameters); one not
 * refreshed for `intervals.peer_inactivity` is no longer handed out.
 */
export interface PeerV6 {
  /** 16 address bytes, latin1 (see protocol/ipv6.ts). */
  addr: string;
  port: number;
  /** Unix seconds the IPv6 endpoint was last refreshed. */
  seen6: number;
  /** Unix seconds the IPv4 endpoint (`ip`, `port`) was last refreshed; 0: never. */
  seen4: number;
  /**
   * The running totals each family last reported, for telling a counter reset from the
   * other family's late report (tracker/dual-stack.ts): [uploaded, downloaded] over IPv4
   * at 0–1 and over IPv6 at 2–3; -1: not reported since the last reset. Doubles.
   */
  last: number[];
}

/**
 * The same number, as a V8 small integer when it is a 32-bit one. A whole number
 * computed as a double (the cache reader's `hi * 2^32 + lo`) is a 16-byte heap box
 * otherwise, and one boxed value turns that field into a boxed field for every peer.
 */
function asSmall(x: number): number {
  const i = x | 0;
  return i === x ? i : x;
}

/** A peer in the one shape all peers share; `ip` may be signed or unsigned. */
export function newPeer(
  key: string,
  userId: number,
  ip: number,
  port: number,
  startTime: number,
  lastAnnounce: number,
  clientId: number,
): Peer {
  return {
    key,
    userId,
    ip: ip | 0,
    port,
    startTime: asSmall(startTime),
    lastAnnounce: asSmall(lastAnnounce),
    clientId,
    slot: -1,
    v6: undefined,
  };
}

/**
 * Drops the endpoint of a dual-stack peer (still active) that its family has not refreshed
 * since `cutoff` (the client lost that family): run by the purge, so answers need not read
 * the last-seen times. A peer left with its IPv4 endpoint only is a plain IPv4 peer again.
 */
export function expireStaleEndpoint(peer: Peer, cutoff: number): void {
  const v6 = peer.v6;
  if (v6 === undefined) return;
  if (v6.seen6 < cutoff) {
    if (peer.ip !== 0) peer.v6 = undefined;
  } else if (peer.ip !== 0 && v6.seen4 < cutoff) {
    peer.ip = 0;
  }
}

/** The 20-byte peer_id (latin1), made from the key when an answer, a file or a dump needs it. */
export function peerIdOf(peer: Peer): string {
  return peer.key.slice(4);
}

/**
 * The peer key: user ID as 4 little-endian bytes, then the 20-byte peer_id — the
 * same 24 bytes chihaya's cache files use, as a latin1 string.
 */
export function peerKey(userId: number, peerId: string): string {
  // Written into scratch bytes and read back as one flat string: a concatenation would be a
  // rope that V8 flattens on the first Map lookup, keeping both the rope and the flat copy
  // alive for as long as the key is stored (~30 bytes per tracked peer).
  if (peerId.length > KEY_SCRATCH.length - 4) {
    return String.fromCharCode(userId & 0xff, (userId >>> 8) & 0xff, (userId >>> 16) & 0xff, (userId >>> 24) & 0xff) + peerId;
  }
  KEY_SCRATCH.writeUInt32LE(userId >>> 0, 0);
  const end = 4 + KEY_SCRATCH.write(peerId, 4, 'latin1');
  return KEY_SCRATCH.toString('latin1', 0, end);
}

const KEY_SCRATCH = Buffer.alloc(64);

/** The peer_id inside a key. */
export function keyPeerId(key: string): string {
  return key.slice(4);
}

export function keyUserId(key: string): number {
  return (key.charCodeAt(0) | (key.charCodeAt(1) << 8) | (key.charCodeAt(2) << 16) | (key.charCodeAt(3) << 24)) >>> 0;
}

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

/** Parses dotted-quad IPv4; returns -1 when it is not one. */
export function ipFromString(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) return -1;
  let ip = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return -1;
    const n = Number(part);
    if (n > 255) return -1;
    ip = ip * 256 + n;
  }
  return ip;
}
