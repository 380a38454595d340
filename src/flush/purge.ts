import { performance } from 'node:perf_hooks';
import type { Pool } from 'mysql2/promise';
import type { AccountingSink } from '../accounting/sink.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Store } from '../store/store.js';
import type { Torrent } from '../store/types.js';
import { Swarm } from '../store/swarm.js';
import { runStatement } from '../database/pool.js';
import type { Accounting } from './accounting-queues.js';
import { Wakeable } from './wait.js';
import { expireStaleEndpoint } from '../store/peer.js';
import { yieldToLoop } from '../event-loop.js';

/** The purge's UPDATE of transfer_history fails after this long without an answer (ms; a flush statement's limit). */
const PURGE_STATEMENT_TIMEOUT_MS = 120_000;

/** Removes peers whose last announce is before the cutoff; returns how many. */
function purgeSwarm(swarm: Swarm, cutoff: number): number {
  let purged = 0;
  // Backwards: delete() moves the last peer into the hole, and that one was already checked.
  for (let i = swarm.peers.length - 1; i >= 0; i--) {
    const peer = swarm.peers[i]!;
    if (peer.lastAnnounce < cutoff) {
      swarm.delete(Swarm.keyOf(peer));
      purged++;
    } else if (peer.v6 !== undefined) {
      expireStaleEndpoint(peer, cutoff);
    }
  }
  return purged;
}

/** Purges one torrent's swarms; queues its new counts when it lost peers. Returns how many went. */
function purgeTorrent(torrent: Torrent, sink: AccountingSink, cutoff: number): number {
  const purged = purgeSwarm(torrent.seeders, cutoff) + purgeSwarm(torrent.leechers, cutoff);
  if (purged > 0) sink.torrent(torrent.id, 0, torrent.seeders.size, torrent.leechers.size, torrent.lastAction);
  return purged;
}

/**
 * Drops every peer silent since before `now − peerInactivity` (unix seconds)
 * and queues the new counts of each torrent that lost peers. Returns the
 * number of peers dropped.
 */
export function purgeInactivePeers(store: Store, sink: AccountingSink, now: number, peerInactivity: number): number {
  const cutoff = now - peerInactivity;
  let total = 0;
  for (const torrent of store.torrents.values()) total += purgeTorrent(torrent, sink, cutoff);
  return total;
}

/**
 * The same as purgeInactivePeers, yielding to the event loop every `sliceTorrents`
 * torrents so a site with a million torrents never stalls announces. Announces
 * that run between slices only refresh peers, so the result is the same.
 */
export async function purgeInactivePeersYielding(
  store: Store,
  sink: AccountingSink,
  now: number,
  peerInactivity: number,
  sliceTorrents = 20_000,
): Promise<number> {
  const cutoff = now - peerInactivity;
  let total = 0;
  let inSlice = 0;
  // A Map iterator stays valid while a reload swaps or edits the map.
  for (const torrent of store.torrents.values()) {
    total += purgeTorrent(torrent, sink, cutoff);
    if (++inSlice === sliceTorrents) {
      inSlice = 0;
      await yieldToLoop();
    }
  }
  return total;
}

export interface PurgeResult {
  purgedPeers: number;
  /** transfer_history rows set inactive, or undefined when that step failed (it runs again next time). */
  deactivatedRows: number | undefined;
}

/**
 * Every `intervals.purge_inactive_peers` seconds: purge inactive peers from
 * memory, write the pending transfer_history records (so a row's last_announce
 * is current), then mark rows silent since the cutoff inactive.
 */
export class PurgeJob {
  private readonly sleeper = new Wakeable();
  private halted = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly queues: Accounting,
    private readonly pool: Pool,
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** Unix seconds; injectable for tests. */
    private readonly clock: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  start(): void {
    if (this.loop !== undefined) return;
    this.halted = false;
    this.loop = (async () => {
      while (!this.halted) {
        await this.sleeper.sleep(this.config.intervals.purge_inactive_peers * 1000);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run while the loop slept
        if (this.halted) break;
        try {
          await this.runOnce();
        } catch (err) {
          this.logger.error({ err }, 'purge failed');
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.halted = true;
    this.sleeper.wake();
    await this.loop;
    this.loop = undefined;
  }

  async runOnce(now = this.clock()): Promise<PurgeResult> {
    const started = performance.now();
    const inactivity = this.config.intervals.peer_inactivity;
    const purgedPeers = await purgeInactivePeersYielding(this.store, this.queues, now, inactivity);
    this.metrics.purgedPeers.inc(purgedPeers);
    const memoryMs = performance.now() - started;

    let deactivatedRows: number | undefined;
    const flushed = await this.queues.flushNow('transfer_history');
    if (!flushed.ok) {
      this.logger.warn('purge: pending transfer_history could not be written; marking inactive rows next time');
    } else {
      try {
        // Within a flush statement's limit: a frozen database must not hold the purge, nor a stop waiting for it, for ever.
        deactivatedRows = await runStatement(
          this.pool,
          'UPDATE transfer_history SET active = 0 WHERE last_announce < ? AND active = 1',
          [now - inactivity],
          PURGE_STATEMENT_TIMEOUT_MS,
        );
      } catch (err) {
        this.metrics.sqlErrors.inc({ queue: 'purge' });
        this.logger.error({ err }, 'purge: marking inactive transfer_history rows failed; retried next time');
      }
    }
    const seconds = (performance.now() - started) / 1000;
    this.metrics.purgeSeconds.observe(seconds);
    this.logger.info(
      { purgedPeers, deactivatedRows, memoryMs: Math.round(memoryMs), ms: Math.round(seconds * 1000) },
      'purged inactive peers',
    );
    return { purgedPeers, deactivatedRows };
  }
}
