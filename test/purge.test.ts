import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { MemoryAccounting } from '../src/accounting/sink.js';
import { openPool } from '../src/database/pool.js';
import { AccountingQueues, PurgeJob, purgeInactivePeers } from '../src/flush/index.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { newPeer, peerKey, type Peer } from '../src/store/peer.js';
import { Store } from '../src/store/store.js';
import { Swarm } from '../src/store/swarm.js';
import { newTorrent, swarmToAdd, type Torrent } from '../src/store/types.js';
import { createTestDatabase } from './helpers/db.js';
import { counterValue, eventually, flushConfig, histogramCount } from './helpers/flush-setup.js';

function torrent(id: number, lastAction = 0): Torrent {
  return newTorrent({
    id,
    infoHash: String.fromCharCode(id).repeat(20),
    groupId: 1,
    type: 'anime',
    lastAction,
  });
}

/** `torrentId` names the torrent the caller adds it to (a peer does not hold it). */
/** `torrentId` names the torrent the caller adds it to; `seeding` says which swarm. */
function peer(userId: number, _torrentId: number, lastAnnounce: number, seeding: boolean, tag = 'p'): { peer: Peer; seeding: boolean } {
  const peerId = `${tag}-${userId}`.padEnd(20, '.');
  return { peer: newPeer(peerKey(userId, peerId), userId, 0x0a000001, 6881, lastAnnounce, lastAnnounce, 1), seeding };
}

function addPeer(t: Torrent, p: { peer: Peer; seeding: boolean }): void {
  swarmToAdd(t, p.seeding).add(p.peer, 0, 0, p.seeding ? 0 : 100);
}

const NOW = 1_700_000_000;
const INACTIVITY = 4200;

describe('purgeInactivePeers', () => {
  it('drops peers silent since before now − peer_inactivity and queues the new counts of the torrents that changed', () => {
    const store = new Store();
    const a = torrent(1, NOW - 10);
    const b = torrent(2, NOW - 20);
    store.torrents.set(a.infoHash, a);
    store.torrents.set(b.infoHash, b);
    // Torrent 1: many peers, every third one stale (including the last in the arrays).
    for (let u = 1; u <= 30; u++) addPeer(a, peer(u, 1, u % 3 === 0 ? NOW - INACTIVITY - 1 : NOW - INACTIVITY, u % 2 === 0));
    // Torrent 2: all fresh.
    addPeer(b, peer(1, 2, NOW, true));
    addPeer(b, peer(2, 2, NOW - 5, false));
    const sink = new MemoryAccounting();

    const purged = purgeInactivePeers(store, sink, NOW, INACTIVITY);

    expect(purged).toBe(10);
    const survivors = [...a.seeders.peers, ...a.leechers.peers];
    expect(survivors.map((p) => p.userId).sort((x, y) => x - y)).toEqual(
      [...Array(30).keys()].map((i) => i + 1).filter((u) => u % 3 !== 0),
    );
    // The swarms stay consistent: every survivor is found by its key at its slot.
    for (const swarm of [a.seeders, a.leechers]) {
      swarm.peers.forEach((p, i) => {
        expect(p.slot).toBe(i);
        expect(swarm.get(Swarm.keyOf(p))).toBe(p);
      });
    }
    expect(sink.torrents).toEqual([
      { torrentId: 1, snatches: 0, seeders: a.seeders.size, leechers: a.leechers.size, lastAction: NOW - 10 },
    ]);
    expect(b.seeders.size + b.leechers.size).toBe(2);
    expect(sink.users).toEqual([]);
    expect(sink.histories).toEqual([]);
  });
});

describe('PurgeJob', () => {
  it('flushes pending transfer_history first, then marks rows silent since the cutoff inactive', async () => {
    const db = await createTestDatabase();
    const pool = openPool(db.dsn);
    const metrics = new Metrics({ defaultMetrics: false });
    const config = flushConfig(db.dsn, (c) => (c.intervals.peer_inactivity = INACTIVITY));
    const queues = new AccountingQueues(pool, config, metrics, silentLogger());
    try {
      await db.conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash, Seeders, Leechers) VALUES (1, 1, 'anime', ?, 2, 1)`, [
        Buffer.alloc(20, 1),
      ]);
      const cutoff = NOW - INACTIVITY;
      await db.conn.query(
        `INSERT INTO transfer_history (uid, fid, active, last_announce) VALUES
           (1, 1, 1, ${cutoff - 1}),  -- stale: goes inactive
           (2, 1, 1, ${cutoff}),      -- exactly at the cutoff: stays
           (3, 1, 1, ${cutoff - 100}),-- stale in the table, but a fresh announce is still queued
           (4, 1, 0, ${cutoff - 100})`,
      );
      queues.transferHistory(3, 1, 5, 0, 10, 0, 0, false, 10, NOW - 1, NOW - 1000, true);
      // A record queued long ago and never flushed: written first, then marked inactive.
      queues.transferHistory(5, 1, 7, 0, 10, 0, 0, false, 10, cutoff - 50, cutoff - 60, true);

      const store = new Store();
      const t = torrent(1, NOW - 30);
      store.torrents.set(t.infoHash, t);
      addPeer(t, peer(1, 1, cutoff - 1, true));
      addPeer(t, peer(2, 1, NOW, true));
      addPeer(t, peer(3, 1, NOW, false));
      const job = new PurgeJob(store, queues, pool, config, metrics, silentLogger(), () => NOW);

      const result = await job.runOnce();
      expect(result).toEqual({ purgedPeers: 1, deactivatedRows: 2 });
      const [rows] = await db.conn.query<RowDataPacket[]>('SELECT uid, active, uploaded FROM transfer_history ORDER BY uid');
      expect(rows).toEqual([
        { uid: 1, active: 0, uploaded: 0 },
        { uid: 2, active: 1, uploaded: 0 },
        { uid: 3, active: 1, uploaded: 5 },
        { uid: 4, active: 0, uploaded: 0 },
        { uid: 5, active: 0, uploaded: 7 },
      ]);
      expect(await counterValue(metrics.purgedPeers)).toBe(1);
      expect(await histogramCount(metrics.purgeSeconds)).toBe(1);

      // The changed torrent's counts were queued for the torrents flusher.
      expect(queues.depths().torrents).toBe(1);
      await queues.flushNow('torrents');
      const [torrents] = await db.conn.query<RowDataPacket[]>('SELECT Seeders, Leechers, last_action FROM torrents');
      expect(torrents).toEqual([{ Seeders: 1, Leechers: 1, last_action: NOW - 30 }]);
    } finally {
      await queues.stop(5_000);
      metrics.close();
      await pool.end();
      await db.drop();
    }
  });

  it('runs on its own every purge_inactive_peers seconds', async () => {
    const db = await createTestDatabase();
    const pool = openPool(db.dsn);
    const metrics = new Metrics({ defaultMetrics: false });
    const config = flushConfig(db.dsn, (c) => (c.intervals.purge_inactive_peers = 0.05));
    const queues = new AccountingQueues(pool, config, metrics, silentLogger());
    const store = new Store();
    const t = torrent(1);
    store.torrents.set(t.infoHash, t);
    addPeer(t, peer(1, 1, 0, true));
    const job = new PurgeJob(store, queues, pool, config, metrics, silentLogger());
    try {
      job.start();
      await eventually(
        () => t.seeders.size,
        (n) => n === 0,
        'the stale peer purged',
      );
      await eventually(
        () => histogramCount(metrics.purgeSeconds),
        (n) => n >= 1,
        'a purge observed',
      );
    } finally {
      await job.stop();
      await queues.stop(5_000);
      metrics.close();
      await pool.end();
      await db.drop();
    }
  });
});
