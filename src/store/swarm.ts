import type { Peer } from './peer.js';

const NO_PEERS: readonly Peer[] = Object.freeze([]);

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

  /** Adds the peer under peer.key (replacing a peer with the same key). */
  add(peer: Peer): void {
    const key = peer.key;
    const existing = this.get(key);
    const list = this.list;
    if (existing !== undefined) {
      peer.slot = existing.slot;
      list![existing.slot] = peer;
      this.byKey?.set(key, peer);
      return;
    }
    if (list === undefined) {
      peer.slot = 0;
      this.list = [peer];
      return;
    }
    const n = list.length;
    peer.slot = n;
    if (n < SCAN_LIMIT) {
      const grown: Peer[] = new Array(n + 1);
      for (let i = 0; i < n; i++) grown[i] = list[i]!;
      grown[n] = peer;
      this.list = grown;
      return;
    }
    list.push(peer);
    if (this.byKey !== undefined) {
      this.byKey.set(key, peer);
    } else {
      const byKey = new Map<string, Peer>();
      for (const p of list) byKey.set(p.key, p);
      this.byKey = byKey;
    }
  }

  delete(key: string): Peer | undefined {
    const peer = this.get(key);
    if (peer === undefined) return undefined;
    const list = this.list!;
    const last = list.pop()!;
    if (last !== peer) {
      last.slot = peer.slot;
      list[peer.slot] = last;
    }
    if (this.byKey !== undefined) {
      this.byKey.delete(key);
      // Shrunk well below the limit: back to scanning, in an array without spare slots.
      if (list.length <= SCAN_LIMIT / 2) {
        this.byKey = undefined;
        this.list = list.slice();
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
  }

  static keyOf(peer: Peer): string {
    return peer.key;
  }
}
