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
export function samplePeers(swarm: Swarm, userId: number, want: number, out: Peer[], random: () => number, usersSeen?: UserSet): void {
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

/**
 * samplePeers with `announce.ipv6` on: eligibility is the endpoint `endpoints` picks (and
 * notes in endpoints.families). A function of its own so that the IPv4-only path above
 * stays the small function V8 inlines into choosePeers.
 */
export function samplePeersDual(
  swarm: Swarm,
  userId: number,
  want: number,
  out: Peer[],
  random: () => number,
  usersSeen: UserSet | undefined,
  endpoints: EndpointPicker,
): void {
  const peers = swarm.peers;
  const n = Math.min(peers.length, examineLimit(want));
  for (let i = 0; i < n && out.length < want; i++) {
    const j = i + Math.floor(random() * (peers.length - i));
    swarm.swap(i, j);
    const peer = peers[i]!;
    if (peer.userId === userId || endpoints.pick(peer) === 0) continue;
    if (usersSeen !== undefined && !usersSeen.add(peer.userId)) {
      endpoints.families.pop();
      continue;
    }
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
  endpoints?: EndpointPicker,
): Peer[] {
  const out: Peer[] = [];
  if (want <= 0) return out;
  if (endpoints !== undefined) {
    if (!seeding && seeders.size > 0) samplePeersDual(seeders, userId, want, out, random, seenUsers.clear(examineLimit(want)), endpoints);
    samplePeersDual(leechers, userId, want, out, random, undefined, endpoints);
    return out;
  }
  if (!seeding && seeders.size > 0) samplePeers(seeders, userId, want, out, random, seenUsers.clear(examineLimit(want)));
  samplePeers(leechers, userId, want, out, random);
  return out;
}

/**
 * With `announce.ipv6` on (SPEC §13): which endpoint of a peer to hand out, one per peer,
 * so numwant counts peers across `peers` and `peers6`. The asker is given endpoints of the
 * families the caller allows (want4, want6), a peer with both by the `prefer`red family;
 * ports below 1024 are never given.
 * `families[i]` is the family (4 or 6) chosen for the i-th peer chosen.
 */
export class EndpointPicker {
  want4 = true;
  want6 = false;
  prefer: 4 | 6 = 4;
  readonly families: Array<4 | 6> = [];

  /** Starts a new answer. */
  reset(want4: boolean, want6: boolean, prefer: 4 | 6): this {
    this.want4 = want4;
    this.want6 = want6;
    this.prefer = prefer;
    this.families.length = 0;
    return this;
  }

  /**
   * Chooses the peer's endpoint and notes it in `families`; 0 (nothing noted) when none will
   * do. An IPv4 endpoint of the preferred family is taken without reading the IPv6 side (a
   * memory load per examined peer: most of the cost of choosing with IPv6 on); endpoints a
   * family stopped refreshing are dropped by the purge (expireStaleEndpoint).
   */
  pick(peer: Peer): 0 | 4 | 6 {
    const has4 = this.want4 && peer.ip !== 0 && peer.port >= 1024;
    if (has4 && (this.prefer === 4 || !this.want6)) {
      this.families.push(4);
      return 4;
    }
    const v6 = peer.v6;
    const has6 = this.want6 && v6 !== undefined && v6.port >= 1024;
    const family = has6 ? 6 : has4 ? 4 : 0;
    if (family !== 0) this.families.push(family);
    return family;
  }
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
