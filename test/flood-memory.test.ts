import type { Pool } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/config.js';
import { AccountingQueues } from '../src/flush/index.js';
import { purgeInactivePeers } from '../src/flush/purge.js';
import { parseTrackerQuery } from '../src/protocol/query.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { noRecorder } from '../src/recorder/recorder.js';
import { Store } from '../src/store/store.js';
import { newTorrent } from '../src/store/types.js';
import { announce } from '../src/tracker/announce.js';
import { createContext } from '../src/tracker/context.js';
import { encodeBytes, hash, peerIdOf } from './helpers/announce.js';

/**
 * A long flood of announces from ever-new peer_ids (issue 8). Memory stays
 * bounded by design, not by luck: peers silent for intervals.peer_inactivity go
 * at the next purge, and the accounting queues hold one record per distinct key
 * however many announces arrive — here with the database "down" (the flushers
 * never run), the worst case. Counts are asserted, not RSS (see the report and
 * bench/flood-memory.ts for that).
 */

const USERS = 20;
const TORRENTS = 10;
const IPS = 16;
const ANNOUNCES = 200_000;
/** Announces per simulated second. */
const RATE = 20;

describe('memory under a flood of announces for new peers', () => {
  it('peers and queue depths stay bounded by the inactivity window and the distinct keys', () => {
    const config = defaultConfig();
    const store = new Store();
    store.approvedClients = [
      { id: 1, prefix: '-TR' },
      { id: 2, prefix: '-qB' },
    ];
    for (let u = 1; u <= USERS; u++) {
      const passkey = `flood${u}`.padEnd(32, 'x');
      store.users.set(passkey, { id: u, passkey, upMultiplier: 1, downMultiplier: 1, disableDownload: false, trackerHide: false });
    }
    for (let f = 1; f <= TORRENTS; f++) {
      const t = newTorrent({
        id: f,
        infoHash: hash(f).toString('latin1'),
        groupId: f,
        type: 'anime',
      });
      store.torrents.set(t.infoHash, t);
    }
    const metrics = new Metrics({ defaultMetrics: false });
    // Never started: nothing is flushed, as if the database were down for the whole flood.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- never started: the pool is never used
    const queues = new AccountingQueues({} as Pool, config, metrics, silentLogger());
    const ctx = createContext({ store, config, accounting: queues, recorder: noRecorder, random: () => 0.5 });

    const countPeers = (): number => {
      let n = 0;
      for (const t of store.torrents.values()) n += t.seeders.size + t.leechers.size;
      return n;
    };

    const start = 1_700_000_000;
    const purgeEvery = config.intervals.purge_inactive_peers;
    const inactivity = config.intervals.peer_inactivity;
    let nextPurge = start + purgeEvery;
    let maxPeers = 0;
    let purged = 0;
    const maxDepth: Record<string, number> = {};
    for (let n = 0; n < ANNOUNCES; n++) {
      const now = start + Math.floor(n / RATE);
      if (now >= nextPurge) {
        purged += purgeInactivePeers(store, queues, now, inactivity);
        nextPurge += purgeEvery;
      }
      // Half the announces come from a brand-new peer_id; the other half re-announce a peer made
      // 40 announces earlier, with more bytes (so users, history and ips queues all see traffic).
      const fresh = n % 2 === 0 || n < 41;
      const peerNo = fresh ? n : n - 41;
      const uid = 1 + (peerNo % USERS);
      const fid = 1 + (Math.floor(peerNo / USERS) % TORRENTS);
      const client = peerNo % 3 === 0 ? '-qB4650-' : '-TR3000-';
      const ip = `9.9.${peerNo % IPS}.1`;
      const bytes = fresh ? 0 : 1000 + (n % 977);
      const query =
        `?info_hash=${encodeBytes(hash(fid))}&peer_id=${encodeBytes(peerIdOf(client, peerNo))}` +
        `&numwant=0&port=6881&uploaded=${bytes}&downloaded=${bytes}&left=${peerNo % 4 === 0 ? 0 : 500}&ip=${ip}`;
      const result = announce(
        ctx,
        {
          passkey: `flood${uid}`.padEnd(32, 'x'),
          query: parseTrackerQuery(`/x/announce${query}`),
          proxyAddress: undefined,
          socketAddress: '127.0.0.1',
        },
        now,
      );
      if (result.failed) throw new Error(`announce ${n} failed: ${result.body.toString('latin1')}`);
      if (n % 1000 === 0) {
        maxPeers = Math.max(maxPeers, countPeers());
        for (const [q, d] of Object.entries(queues.depths())) maxDepth[q] = Math.max(maxDepth[q] ?? 0, d);
      }
    }
    for (const [q, d] of Object.entries(queues.depths())) maxDepth[q] = Math.max(maxDepth[q] ?? 0, d);
    maxPeers = Math.max(maxPeers, countPeers());

    // 100,000 distinct peers were created; at most those of the last inactivity window plus one
    // purge period (and the re-announced ones) can be alive at once.
    const window = (inactivity + purgeEvery + 1) * RATE;
    expect(purged).toBeGreaterThan(0);
    expect(maxPeers).toBeLessThanOrEqual(window / 2 + 1);
    expect(maxPeers).toBeLessThan(ANNOUNCES / 2);

    // One record per distinct key, however many announces: the flood does not grow the queues.
    expect(maxDepth['users']).toBeLessThanOrEqual(USERS);
    expect(maxDepth['torrents']).toBeLessThanOrEqual(TORRENTS);
    expect(maxDepth['transfer_history']).toBeLessThanOrEqual(USERS * TORRENTS);
    expect(maxDepth['transfer_ips']).toBeLessThanOrEqual(USERS * TORRENTS * 2 * IPS);
    expect(maxDepth['snatches']).toBe(0);
    // And the bytes are all there, merged: every re-announce's delta is in the users queue.
    const summary = (queues as unknown as { users: { summary(): { uploaded: number } } }).users.summary();
    let expectedUp = 0;
    for (let n = 41; n < ANNOUNCES; n += 2) expectedUp += 1000 + (n % 977);
    expect(summary.uploaded).toBe(expectedUp);
    metrics.close();
  });
});
