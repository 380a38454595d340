import { peerKey, type Peer } from './peer.js';

const EMPTY: ReadonlyMap<string, Peer> = new Map();
const NO_PEERS: readonly Peer[] = Object.freeze([]);

/**
 * A set of peers (the seeders or the leechers of one torrent).
 *
 * Peers live in a dense array (for O(k) random sampling) indexed by a map from
 * peer key to peer (for O(1) lookup). Removal swaps the last peer into the hole.
 */
export class Swarm {
  /**
   * The array and the map are made on the first add: most torrents of a big site have
   * no peers, and at a million torrents two empty arrays and maps each are millions of
   * objects for the garbage collector to mark on every major collection.
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
    return this.byKey?.get(key);
  }

  /** Adds (or replaces) the peer under its key. */
  add(key: string, peer: Peer): void {
    this.byKey ??= new Map();
    const list = (this.list ??= []);
    const existing = this.byKey.get(key);
    if (existing !== undefined) {
      peer.slot = existing.slot;
      list[existing.slot] = peer;
      this.byKey.set(key, peer);
      return;
    }
    peer.slot = list.length;
    list.push(peer);
    this.byKey.set(key, peer);
  }

  delete(key: string): Peer | undefined {
    const peer = this.byKey?.get(key);
    if (peer === undefined) return undefined;
    this.byKey!.delete(key);
    const list = this.list!;
    const last = list.pop()!;
    if (last !== peer) {
      last.slot = peer.slot;
      list[peer.slot] = last;
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

  keys(): IterableIterator<string> {
    return (this.byKey ?? EMPTY).keys();
  }

  entries(): IterableIterator<[string, Peer]> {
    return (this.byKey ?? EMPTY).entries();
  }

  static keyOf(peer: Peer): string {
    return peerKey(peer.userId, peer.peerId);
  }
}
