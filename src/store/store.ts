import { TimeSlice } from '../event-loop.js';
import type { ApprovedClient, GroupFreeleech, Torrent, User } from './types.js';
import { groupKey, hnrKey } from './types.js';
import { Pushes } from './pushes.js';
import { Unregistered } from './unregistered.js';

/**
 * Everything the announce path reads: users, torrents (with their swarms) and
 * site-wide settings. Each collection is replaced whole by a reload (a plain
 * field assignment, so readers never see a half-built set).
 */
export class Store {
  /** Enabled users by passkey. */
  users = new Map<string, User>();
  /** Loaded torrents by info_hash (latin1). */
  torrents = new Map<string, Torrent>();
  /** Hit-and-run (uid:fid) pairs: these lift DisableDownload for that torrent. */
  hitAndRuns = new Set<string>();
  /** Group freeleech by (type, group). */
  groupFreeleech = new Map<string, GroupFreeleech>();
  approvedClients: ApprovedClient[] = [];
  globalFreeleech = false;
  /**
   * Where the data came from: undefined until the cache files (users, torrents)
   * or a whole database pass filled the store; 'database' from the first whole
   * pass on. Until then an unknown passkey proves nothing (announce and scrape
   * answer a retryable failure, not "passkey is invalid"), and until the database
   * answered neither does an unknown client (the cache files hold no clients).
   */
  loadedFrom: 'cache' | 'database' | undefined = undefined;
  /** Orders the site's pushes against the reload passes (src/update/, src/database/reload.ts). */
  readonly pushes = new Pushes();
  /** Torrents the site deleted with a reason: announces get `Unregistered torrent: …` for a day. */
  readonly unregistered = new Unregistered();

  /** Returns the approved client ID for a peer_id (latin1), or 0. */
  clientIdFor(peerId: string): number {
    for (const client of this.approvedClients) {
      if (peerId.startsWith(client.prefix)) return client.id;
    }
    return 0;
  }

  groupMultipliers(torrent: Torrent): GroupFreeleech | undefined {
    // Most of the time a site has no group freeleech: no key string to build for every announce.
    if (this.groupFreeleech.size === 0) return undefined;
    return this.groupFreeleech.get(groupKey(torrent.type, torrent.groupId));
  }

  hasHitAndRun(userId: number, torrentId: number): boolean {
    return this.hitAndRuns.has(hnrKey(userId, torrentId));
  }

  /** May this user download this torrent (DisableDownload, lifted by a hit-and-run)? */
  mayDownload(user: User, torrent: Torrent): boolean {
    return !user.disableDownload || this.hasHitAndRun(user.id, torrent.id);
  }

  /** Seeders and leechers over every torrent, counted in one pass. */
  peerCounts(): { seeders: number; leechers: number } {
    let seeders = 0;
    let leechers = 0;
    for (const torrent of this.torrents.values()) {
      seeders += torrent.seeders.size;
      leechers += torrent.leechers.size;
    }
    return { seeders, leechers };
  }

  /**
   * peerCounts() for a live tracker: the walk yields to the event loop every few
   * milliseconds, so a metrics scrape of a million-torrent site does not stall
   * announces for the tens of milliseconds a walk takes. Torrents added or removed
   * meanwhile may or may not be counted (a gauge, not accounting).
   */
  async peerCountsYielding(sliceMs = 4): Promise<{ seeders: number; leechers: number }> {
    let seeders = 0;
    let leechers = 0;
    const slice = new TimeSlice(sliceMs);
    for (const torrent of this.torrents.values()) {
      seeders += torrent.seeders.size;
      leechers += torrent.leechers.size;
      if (slice.due()) await slice.yield();
    }
    return { seeders, leechers };
  }

  /**
   * Peers holding an endpoint of each family (a dual-stack peer counts in both), an
   * endpoint refreshed before `cutoff` (unix seconds) not counted: what could be handed out.
   * A yielding walk over every peer, as peerCountsYielding's over every torrent.
   */
  async endpointCountsYielding(cutoff: number, sliceMs = 4): Promise<{ ipv4: number; ipv6: number }> {
    let ipv4 = 0;
    let ipv6 = 0;
    const slice = new TimeSlice(sliceMs);
    for (const torrent of this.torrents.values()) {
      for (const swarm of [torrent.seeders, torrent.leechers]) {
        const peers = swarm.peers;
        for (let i = 0; i < peers.length; i++) {
          const v6 = peers[i]!.v6;
          if (v6 === undefined) {
            ipv4++;
            continue;
          }
          if (peers[i]!.ip !== 0 && v6.seen4 >= cutoff) ipv4++;
          if (v6.seen6 >= cutoff) ipv6++;
        }
      }
      if (slice.due()) await slice.yield();
    }
    return { ipv4, ipv6 };
  }

  peerCount(): number {
    const { seeders, leechers } = this.peerCounts();
    return seeders + leechers;
  }
}
