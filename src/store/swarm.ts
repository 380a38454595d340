import type { Peer } from './peer.js';

/**
 * A peer's uploaded / downloaded / left as last announced: a number up to 2^53 − 1, a
 * bigint above (up to 2^64 − 1; see U64 in src/protocol/query.ts).
 */
export type Counter = number | bigint;

/**
 * A counter as a number for code that keeps plain doubles (the IPv6 dual-stack totals,
 * src/tracker/dual-stack.ts): exact up to 2^53 − 1, saturated there above. Deltas between
 * two saturated values are 0: such counters credit nothing more (they are broken or forged
 * counters; see MAX_DELTA in src/tracker/counters.ts).
 */
export function saturatedNumber(value: Counter): number {
  const max = Number.MAX_SAFE_INTEGER;
  return typeof value === 'number' ? (value > max ? max : value) : max;
}

const NO_PEERS: readonly Peer[] = Object.freeze([]);
const NO_COUNTERS: readonly number[] = Object.freeze([]);

/**
 * Above this many peers a swarm keeps a key → peer map; at or below, a lookup
 * scans the array. Most swarms of a real site are this small, and a map costs
 * ~40 bytes per entry plus ~150 bytes of table per swarm — a third of a tracked
 * peer's memory — while scanning 16 keys costs less than hashing one.
 */
const SCAN_LIMIT = 16;

/**
 * A set of peers (the seeders or the leechers of one torrent), by peer.key.
 *
 * Peers live in a dense array (for O(k) random sampling); a big swarm also indexes
 * them by key (O(1) lookup). Removal swaps the last peer into the hole.
 */
export class Swarm {
  /**
   * Made on the first add: most torrents of a big site have no peers, and at a million
   * torrents empty arrays are millions of objects for the garbage collector to mark.
   * While small it is grown one slot at a time (a pushed array keeps 16+ spare slots).
   */
  private list: Peer[] | undefined;
  private byKey: Map<string, Peer> | undefined;
  /** With byKey: how many of the peers each user has here (hasUser in O(1) on big swarms). */
  private byUser: Map<number, number> | undefined;
  /**
   * Each peer's uploaded, downloaded and left as last announced, at 3 × peer.slot.
   * Kept here rather than on the peer: a counter above 2^31 (any torrent over 2 GB)
   * is a 16-byte heap box per field per peer; here it is 8 unboxed bytes. Sized like
   * the list: exact while small, doubled once big. A JS array of doubles rather than a
   * Float64Array: a typed array costs ~100 more bytes per swarm (its ArrayBuffer and
   * backing store), and most swarms hold one to a few peers.
   */
  private counters: number[] | undefined;
  /**
   * The exact counters of the peers that announced a value above 2^53 − 1, by peer key
   * (rare: a magnet's left = 2^63 − 1, a broken client's counter). Their doubles in
   * `counters` hold the value rounded, always above 2^53 − 1, which sends a read here;
   * keyed by peer rather than slot, so swaps and removals need not move entries.
   */
  private exact: Map<string, [Counter, Counter, Counter]> | undefined;

  /** The peers, densely packed; read-only outside this class (positions are kept in peer.slot). */
  get peers(): readonly Peer[] {
    return this.list ?? NO_PEERS;
  }

  get size(): number {
    return this.list === undefined ? 0 : this.list.length;
  }

  get(key: string): Peer | undefined {
    if (this.byKey !== undefined) return this.byKey.get(key);
    const list = this.list;
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      const peer = list[i]!;
      if (peer.key === key) return peer;
    }
    return undefined;
  }

  /**
   * Whether any peer here belongs to `userId`: a scan while small, a lookup once big.
   * Used to tell a user's second client (a magnet's metadata-phase peer, a killed client's
   * leftover) from the user's own state on the torrent.
   */
  hasUser(userId: number): boolean {
    if (this.byUser !== undefined) return this.byUser.has(userId);
    const list = this.list;
    if (list === undefined) return false;
    for (let i = 0; i < list.length; i++) if (list[i]!.userId === userId) return true;
    return false;
  }

  /** The peer's uploaded counter as last announced, exact (the peer must be in this swarm). */
  uploaded(peer: Peer): Counter {
    const value = this.counters![peer.slot * 3]!;
    return value > Number.MAX_SAFE_INTEGER ? (this.exact?.get(peer.key)?.[0] ?? value) : value;
  }

  downloaded(peer: Peer): Counter {
    const value = this.counters![peer.slot * 3 + 1]!;
    return value > Number.MAX_SAFE_INTEGER ? (this.exact?.get(peer.key)?.[1] ?? value) : value;
  }

  left(peer: Peer): Counter {
    const value = this.counters![peer.slot * 3 + 2]!;
    return value > Number.MAX_SAFE_INTEGER ? (this.exact?.get(peer.key)?.[2] ?? value) : value;
  }

  /**
   * The exact counters of the peers holding a value above 2^53 − 1 (whose countersSnapshot
   * doubles are rounded), by peer key; undefined when there are none. A copy.
   */
  exactSnapshot(): Map<string, readonly [Counter, Counter, Counter]> | undefined {
    return this.exact === undefined || this.exact.size === 0 ? undefined : new Map(this.exact);
  }

  /**
   * The counters themselves in peer order (peers[i]'s at 3i), not a copy: valid only until the
   * swarm next changes, so for a reader that does not yield to the event loop before it is done
   * (the cache writer, for swarms it writes in one go). Empty when the swarm is.
   */
  countersInPlace(): readonly number[] {
    return this.counters ?? NO_COUNTERS;
  }

  /** The exact counters (see exactSnapshot), not a copy: same rule as countersInPlace. */
  exactInPlace(): ReadonlyMap<string, readonly [Counter, Counter, Counter]> | undefined {
    return this.exact === undefined || this.exact.size === 0 ? undefined : this.exact;
  }

  /** A copy of the counters in peer order (peers[i] at 3i): what a paced writer reads after yielding. */
  countersSnapshot(): Float64Array {
    const snapshot = new Float64Array(3 * this.size);
    const counters = this.counters;
    for (let i = 0; i < snapshot.length; i++) snapshot[i] = counters![i]!;
    return snapshot;
  }

  /** Sets the peer's counters (the peer must be in this swarm). */
  setCounters(peer: Peer, uploaded: Counter, downloaded: Counter, left: Counter): void {
    const at = peer.slot * 3;
    const counters = this.counters!;
    if (typeof uploaded === 'number' && typeof downloaded === 'number' && typeof left === 'number') {
      counters[at] = uploaded;
      counters[at + 1] = downloaded;
      counters[at + 2] = left;
      if (this.exact !== undefined) this.exact.delete(peer.key);
      return;
    }
    // A bigint is above 2^53 − 1: its double is too, and sends reads to `exact`.
    counters[at] = Number(uploaded);
    counters[at + 1] = Number(downloaded);
    counters[at + 2] = Number(left);
    (this.exact ??= new Map()).set(peer.key, [uploaded, downloaded, left]);
  }

  /** Adds the peer under peer.key with its counters (replacing a peer with the same key). */
  add(peer: Peer, uploaded: Counter, downloaded: Counter, left: Counter): void {
    if (this === EMPTY_SWARM) throw new Error('a peer added to the shared empty swarm: add through swarmToAdd()');
    const key = peer.key;
    const existing = this.get(key);
    const list = this.list;
    if (existing !== undefined) {
      peer.slot = existing.slot;
      list![existing.slot] = peer;
      this.byKey?.set(key, peer);
      this.setCounters(peer, uploaded, downloaded, left);
      return;
    }
    if (list === undefined) {
      peer.slot = 0;
      this.list = [peer];
      this.counters = newCounters(1);
      this.setCounters(peer, uploaded, downloaded, left);
      return;
    }
    const n = list.length;
    peer.slot = n;
    // Small and scanned: exact arrays. A swarm that shrank from big keeps its map (and
    // spare slots) down to SCAN_LIMIT / 2, so it must keep indexing new peers.
    if (n < SCAN_LIMIT && this.byKey === undefined) {
      const grown = new Array<Peer>(n + 1);
      for (let i = 0; i < n; i++) grown[i] = list[i]!;
      grown[n] = peer;
      this.list = grown;
      this.counters = copyCounters(this.counters!, n, n + 1);
      this.setCounters(peer, uploaded, downloaded, left);
      return;
    }
    list.push(peer);
    if (this.counters!.length < 3 * (n + 1)) this.counters = copyCounters(this.counters!, n, 2 * n);
    this.setCounters(peer, uploaded, downloaded, left);
    if (this.byKey !== undefined) {
      this.byKey.set(key, peer);
      countUser(this.byUser!, peer.userId, 1);
    } else {
      const byKey = new Map<string, Peer>();
      const byUser = new Map<number, number>();
      for (const p of list) {
        byKey.set(p.key, p);
        countUser(byUser, p.userId, 1);
      }
      this.byKey = byKey;
      this.byUser = byUser;
    }
  }

  delete(key: string): Peer | undefined {
    const peer = this.get(key);
    if (peer === undefined) return undefined;
    if (this.exact !== undefined) this.exact.delete(key);
    const list = this.list!;
    const last = list.pop()!;
    const counters = this.counters!;
    if (last !== peer) {
      const from = last.slot * 3;
      const to = peer.slot * 3;
      counters[to] = counters[from]!;
      counters[to + 1] = counters[from + 1]!;
      counters[to + 2] = counters[from + 2]!;
      last.slot = peer.slot;
      list[peer.slot] = last;
    }
    if (this.byKey !== undefined) {
      this.byKey.delete(key);
      countUser(this.byUser!, peer.userId, -1);
      // Shrunk well below the limit: back to scanning, in arrays without spare slots.
      if (list.length <= SCAN_LIMIT / 2) {
        this.byKey = undefined;
        this.byUser = undefined;
        this.list = list.slice();
        this.counters = copyCounters(counters, list.length, list.length);
      }
    }
    return peer;
  }

  /** Swaps two positions (used by partial Fisher-Yates sampling). */
  swap(i: number, j: number): void {
    if (i === j) return;
    const list = this.list!;
    const a = list[i]!;
    const b = list[j]!;
    list[i] = b;
    list[j] = a;
    a.slot = j;
    b.slot = i;
    const counters = this.counters!;
    const x = i * 3;
    const y = j * 3;
    for (let k = 0; k < 3; k++) {
      const t = counters[x + k]!;
      counters[x + k] = counters[y + k]!;
      counters[y + k] = t;
    }
  }

  static keyOf(peer: Peer): string {
    return peer.key;
  }
}

/** Adds `by` to the user's count, dropping the entry at 0. */
function countUser(byUser: Map<number, number>, userId: number, by: number): void {
  const n = (byUser.get(userId) ?? 0) + by;
  if (n > 0) byUser.set(userId, n);
  else byUser.delete(userId);
}

/**
 * The swarm every torrent starts with, on both sides, until its first peer arrives
 * (swarmToAdd() in types.ts then gives it its own). Most torrents of a big site have
 * no peers: two empty Swarm objects each were a third of a loaded torrent's memory
 * and two million objects for every full garbage collection to mark on a
 * million-torrent site. Reading it is free; adding to it throws.
 */
export const EMPTY_SWARM: Swarm = new Swarm();

/**
 * Room for `capacity` peers' counters, zeroed, as unboxed doubles: one double stored
 * first moves the array to double elements for good, so every swarm's counters have
 * the same elements kind (reads stay monomorphic) and a value past 2^31 is never boxed.
 */
function newCounters(capacity: number): number[] {
  const counters: number[] = new Array<number>(3 * capacity);
  counters[0] = 0.5;
  return counters.fill(0);
}

/** The first `peers` peers' counters in a new array with room for `capacity` peers. */
function copyCounters(from: number[], peers: number, capacity: number): number[] {
  const to = newCounters(capacity);
  for (let i = 0; i < 3 * peers; i++) to[i] = from[i]!;
  return to;
}
