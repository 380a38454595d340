/**
 * Measures cache-file serialization and load for a big in-memory store, and the
 * worst event-loop stall while serializing (what an announce would wait).
 *   npm run build && node dist/bench/bench-cache.js [peers=1000000] [yieldEvery]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readCacheFiles, writeCacheFiles } from '../src/cache/index.js';
import { newPeer, peerKey } from '../src/store/peer.js';
import { Store } from '../src/store/store.js';
import { newTorrent, swarmToAdd } from '../src/store/types.js';

const peerTotal = Number(process.argv[2] ?? 1_000_000);
const yieldEvery = process.argv[3] !== undefined ? Number(process.argv[3]) : undefined;

function buildStore(): Store {
  const store = new Store();
  const userCount = Math.max(1, Math.floor(peerTotal / 5));
  for (let id = 1; id <= userCount; id++) {
    const passkey = id.toString(36).padStart(32, 'k');
    store.users.set(passkey, { id, passkey, upMultiplier: 1, downMultiplier: 1, disableDownload: false, trackerHide: false });
  }
  // A realistic spread: most swarms small, a few huge (one of 50,000 peers).
  let made = 0;
  let torrentId = 0;
  while (made < peerTotal) {
    torrentId++;
    const size = torrentId === 1 ? Math.min(50_000, peerTotal) : Math.min(1 + (torrentId % 17), peerTotal - made);
    const infoHash = Buffer.alloc(20);
    infoHash.writeUInt32LE(torrentId);
    const torrent = newTorrent({
      id: torrentId,
      infoHash: infoHash.toString('latin1'),
      groupId: torrentId >> 2,
      type: 'anime',
      snatched: torrentId % 500,
      lastAction: 1_700_000_000,
    });
    for (let i = 0; i < size; i++) {
      const userId = 1 + ((made + i) % userCount);
      const peerId = `-qB4650-${(made + i).toString(16).padStart(12, '0')}`;
      const seeding = i % 3 === 0;
      const peer = newPeer(peerKey(userId, peerId), userId, 0x0a000000 + made + i, 1024 + (i % 60000), 1_700_000_000, 1_700_000_500, 1);
      swarmToAdd(torrent, seeding).add(peer, 123_456_789 * i, 987_654 * i, seeding ? 0 : 1_000_000);
    }
    made += size;
    store.torrents.set(torrent.infoHash, torrent);
  }
  return store;
}

const dir = await mkdtemp(join(tmpdir(), 'hayate-bench-cache-'));
try {
  let store: Store | undefined = buildStore();
  console.log(`store: ${store.torrents.size} torrents, ${store.peerCount()} peers, ${store.users.size} users`);

  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const written = await writeCacheFiles(dir, store, yieldEvery !== undefined ? { yieldEvery } : {});
  histogram.disable();
  console.log(
    `write: ${written.seconds.toFixed(2)} s, ${(written.bytes / 1e6).toFixed(1)} MB; ` +
      `event-loop delay while writing: max ${(histogram.max / 1e6).toFixed(1)} ms, ` +
      `p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms, mean ${(histogram.mean / 1e6).toFixed(2)} ms`,
  );

  // Reading happens at start-up with an empty heap: drop the store first (run with --expose-gc to collect it).
  store = undefined;
  (globalThis as { gc?: () => void }).gc?.();
  const readHistogram = monitorEventLoopDelay({ resolution: 1 });
  readHistogram.enable();
  const t0 = process.hrtime.bigint();
  const loaded = await readCacheFiles(dir, yieldEvery !== undefined ? { yieldEvery } : {});
  const readSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  readHistogram.disable();
  let peers = 0;
  for (const t of loaded.torrents.values()) peers += t.seeders.size + t.leechers.size;
  console.log(
    `read: ${readSeconds.toFixed(2)} s (${loaded.torrents.size} torrents, ${peers} peers, ${loaded.users.size} users, ` +
      `errors ${loaded.errors.length}); event-loop delay while reading: max ${(readHistogram.max / 1e6).toFixed(1)} ms`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
