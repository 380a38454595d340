/**
 * Restart time after a crash with PEERS peers (docs/crash-safety.md): announces
 * build the swarms through the journal, the cache files are written as a
 * checkpoint, AFTER more announces follow, then a fresh store loads the cache
 * and replays the journal (every record after the checkpoint sets its peer; with
 * no stored position, every record is queued again into real accounting queues).
 *   node dist/bench/journal-restart.js [peers=1000000] [after=1000000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCacheFiles, writeCacheFiles } from '../src/cache/index.js';
import { defaultConfig } from '../src/config/config.js';
import { openPool } from '../src/database/pool.js';
import { AccountingQueues } from '../src/flush/index.js';
import { Journal, recoverFromJournal, writeCheckpoint } from '../src/journal/index.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { parseTrackerQuery } from '../src/protocol/query.js';
import { noRecorder } from '../src/recorder/recorder.js';
import { Store } from '../src/store/store.js';
import { newTorrent } from '../src/store/types.js';
import { announce } from '../src/tracker/announce.js';
import { createContext } from '../src/tracker/context.js';
import { droppedAccounting } from './micro-site.js';

const PEERS = Number(process.argv[2] ?? 1_000_000);
const AFTER = Number(process.argv[3] ?? 1_000_000);
const TORRENTS = Math.max(1, Math.floor(PEERS / 10));
const USERS = Math.max(1, Math.floor(PEERS / 10));
const dir = mkdtempSync(join(tmpdir(), 'hayate-journal-restart-'));
const logger = silentLogger();
const passkeyOf = (u: number): string => String(u).padStart(32, '0');
const hashOf = (t: number): string => Buffer.from(t.toString(16).padStart(40, '0'), 'hex').toString('latin1');
const pct = (s: string): string => [...Buffer.from(s, 'latin1')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

function makeStore(): Store {
  const store = new Store();
  for (let u = 1; u <= USERS; u++)
    store.users.set(passkeyOf(u), {
      id: u,
      passkey: passkeyOf(u),
      upMultiplier: 1,
      downMultiplier: 1,
      disableDownload: false,
      trackerHide: false,
    });
  for (let t = 1; t <= TORRENTS; t++) {
    const torrent = newTorrent({
      id: t,
      infoHash: hashOf(t),
      groupId: t,
      type: 'anime',
    });
    store.torrents.set(torrent.infoHash, torrent);
  }
  store.approvedClients = [{ id: 1, prefix: '-TR' }];
  store.loadedFrom = 'database';
  return store;
}

const store = makeStore();
const journal = new Journal(droppedAccounting, { dir: join(dir, 'journal'), fdatasync: false, segmentBytes: 64 << 20, logger });
journal.start(1);
const ctx = createContext({ store, config: defaultConfig(), accounting: journal, recorder: noRecorder });
const hashes = Array.from({ length: TORRENTS + 1 }, (_, t) => pct(hashOf(t)));
function announceOne(i: number, round: number): void {
  const user = 1 + (i % USERS);
  const torrent = 1 + (Math.floor(i / USERS) % TORRENTS);
  const peerId = `-TR3000-${String(i).padStart(12, '0')}`;
  const target = `/${passkeyOf(user)}/announce?info_hash=${hashes[torrent]!}&peer_id=${peerId}&port=6881&uploaded=${round * 1000 + i}&downloaded=${round * 500}&left=${i % 2 ? 0 : 1000}&ip=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}&numwant=0`;
  const r = announce(
    ctx,
    { passkey: passkeyOf(user), query: parseTrackerQuery(target), proxyAddress: undefined, socketAddress: '127.0.0.1' },
    1_700_000_000 + round,
  );
  if (r.failed) throw new Error(r.body.toString('latin1'));
  if (i % 16 === 0) journal.writeNow();
}
for (let i = 0; i < PEERS; i++) announceOne(i, 0);
journal.writeNow();
const position = journal.appended();
await writeCacheFiles(dir, store, { logger });
await writeCheckpoint(dir, position, false);
for (let i = 0; i < AFTER; i++) announceOne(i % PEERS, 1);
journal.close();

// The crash: a new process's start.
global.gc?.();
const started = performance.now();
const cached = await readCacheFiles(dir, { logger });
const loaded = performance.now();
const fresh = makeStore();
fresh.torrents = cached.torrents;
const pool = openPool('mysql://nobody:@127.0.0.1:1/none'); // never used: queues only touch memory here
const config = defaultConfig();
config.channels.users =
  config.channels.torrents =
  config.channels.transfer_history =
  config.channels.transfer_ips =
  config.channels.snatches =
    1 << 30;
const queues = new AccountingQueues(pool, config, new Metrics(), logger);
const result = recoverFromJournal({
  dir: join(dir, 'journal'),
  store: fresh,
  sink: queues,
  checkpoint: position,
  positions: new Map(),
  logger,
});
const replayed = performance.now();
let peers = 0;
for (const t of fresh.torrents.values()) peers += t.seeders.size + t.leechers.size;
process.stdout.write(
  `${JSON.stringify({
    peers,
    recordsAfterCheckpoint: AFTER,
    recordsReplayed: result.replayed,
    cacheLoadSeconds: Math.round(loaded - started) / 1000,
    replaySeconds: Math.round(replayed - loaded) / 1000,
    restartSeconds: Math.round(replayed - started) / 1000,
    queued: queues.depths(),
  })}\n`,
);
await pool.end().catch(() => undefined);
rmSync(dir, { recursive: true, force: true });
