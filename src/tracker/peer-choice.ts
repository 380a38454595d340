import type { Peer } from '../store/peer.js';
import type { Swarm } from '../store/swarm.js';

/**
 * Uniform random choice without replacement by a partial Fisher-Yates shuffle
 * of the swarm's own array: each step swaps a random remaining peer into the
 * next position. O(peers examined), no allocation, and no bias from Map
 * insertion order. The swarm's order carries no meaning, so reordering it is free.
 *
 * Appends to `out` the eligible peers (not `userId`'s, port >= 1024) until it
 * holds `want`; with `oneSeederPerUser`, at most one peer per user, tracked in `usersSeen`.
 */
export function samplePeers(
  swarm: Swarm,
  userId: number,
  want: number,
  out: Peer[],
  random: () => number,
  usersSeen?: UserSet,
): void {
  const peers = swarm.peers;
  // Look at a bounded number of peers: a swarm mostly of ineligible peers (one user's thousands of
  // peer_ids, or seeders of few users) must not make every announce on it walk the whole swarm.
  const n = Math.min(peers.length, examineLimit(want));
  for (let i = 0; i < n && out.length < want; i++) {
    // j ranges over the whole rest of the swarm, so the sample stays uniform.
    const j = i + Math.floor(random() * (peers.length - i));
    swarm.swap(i, j);
    const peer = peers[i]!;
    if (peer.userId === userId || peer.port < 1024) continue;
    if (usersSeen !== undefined && !usersSeen.add(peer.userId)) continue;
    out.push(peer);
  }
}

/** Peers examined per swarm for an announce wanting `want`: room for ineligible ones, yet O(want). */
export function examineLimit(want: number): number {
  return want * 8 + 64;
}

/**
 * Peers for an announce (SPEC §5): to a seeder, leechers only; to a leecher, at
 * most one seeder per user first, then leechers.
 */
export function choosePeers(
  seeders: Swarm,
  leechers: Swarm,
  userId: number,
  seeding: boolean,
  want: number,
  random: () => number,
): Peer[] {
  const out: Peer[] = [];
  if (want <= 0) return out;
  if (!seeding && seeders.size > 0) samplePeers(seeders, userId, want, out, random, seenUsers.clear(examineLimit(want)));
  samplePeers(leechers, userId, want, out, random);
  return out;
}

/**
 * A set of user IDs for one answer, cleared in O(1) by a new generation number:
 * open addressing over typed arrays, so choosing seeders allocates nothing (a
 * Set per leecher's answer, grown as it fills, was a few allocations each).
 */
export class UserSet {
  private ids = new Int32Array(1024);
  private stamps = new Uint32Array(1024);
  private stamp = 0;

  /** Empties the set, with room for `adds` additions. */
  clear(adds: number): this {
    if (this.ids.length < adds * 2) {
      let size = this.ids.length;
      while (size < adds * 2) size *= 2;
      this.ids = new Int32Array(size);
      this.stamps = new Uint32Array(size);
      this.stamp = 0;
    }
    if (++this.stamp === 0xffffffff) {
      this.stamps.fill(0);
      this.stamp = 1;
    }
    return this;
  }

  /** Adds `id`; false when it was already there. */
  add(id: number): boolean {
    const mask = this.ids.length - 1;
    const h = Math.imul(id ^ (id >>> 16), 0x45d9f3b);
    let at = (h ^ (h >>> 16)) & mask;
    for (;;) {
      if (this.stamps[at] !== this.stamp) {
        this.stamps[at] = this.stamp;
        this.ids[at] = id;
        return true;
      }
      if (this.ids[at] === id) return false;
      at = (at + 1) & mask;
    }
  }
}

/** Scratch for choosePeers (used synchronously, one answer at a time). */
const seenUsers = new UserSet();
