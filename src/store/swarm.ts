import { peerKey, type Peer } from './peer.js';

const EMPTY: ReadonlyMap<string, Peer> = new Map();

/**
 * A set of peers (the seeders or the leechers of one torrent).
 *
 * Peers live in a dense array (for O(k) random sampling) indexed by a map from
 * peer key to peer (for O(1) lookup). Removal swaps the last peer into the hole.
 */
export class Swarm {
  readonly peers: Peer[] = [];
  /** Made on the first add: most torrents of a big site have no peers, and an empty Map costs ~100 bytes. */
  private byKey: Map<string, Peer> | undefined;

  get size(): number {
    return this.peers.length;
  }

  get(key: string): Peer | undefined {
    return this.byKey?.get(key);
  }

  /** Adds (or replaces) the peer under its key. */
  add(key: string, peer: Peer): void {
    this.byKey ??= new Map();
    const existing = this.byKey.get(key);
    if (existing !== undefined) {
      peer.slot = existing.slot;
      this.peers[existing.slot] = peer;
      this.byKey.set(key, peer);
      return;
    }
    peer.slot = this.peers.length;
    this.peers.push(peer);
    this.byKey.set(key, peer);
  }

  delete(key: string): Peer | undefined {
    const peer = this.byKey?.get(key);
    if (peer === undefined) return undefined;
    this.byKey!.delete(key);
    const last = this.peers.pop()!;
    if (last !== peer) {
      last.slot = peer.slot;
      this.peers[peer.slot] = last;
    }
    return peer;
  }

  /** Swaps two positions (used by partial Fisher-Yates sampling). */
  swap(i: number, j: number): void {
    if (i === j) return;
    const a = this.peers[i]!;
    const b = this.peers[j]!;
    this.peers[i] = b;
    this.peers[j] = a;
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
