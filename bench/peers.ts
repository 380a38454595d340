/**
 * A store of N peers across the benchmark site's torrents, built in-process.
 *
 *   node --expose-gc dist/bench/peers.js measure <peers> <torrents> <users> [--big-counters]
 *     → JSON: heap bytes per tracked peer (heap after GC, peers minus no peers; typed-array
 *       backing stores outside the JS heap are counted too). --big-counters: every peer's
 *       uploaded, downloaded and left above 2^31, as on real torrents over 2 GB.
 *       --dual-stack: every peer also has an IPv6 endpoint (announce.ipv6, docs/ipv6.md).
 *   node dist/bench/peers.js cache <dir> <peers> <torrents> <users>
 *     → writes torrent-cache.bin/user-cache.bin for that store, so hayate starts with N peers
 *
 * Torrent IDs and info hashes, users and passkeys are the generated site's (bench/site.ts).
 */
import { writeCacheFiles } from '../src/cache/index.js';
import { newPeer, peerKey } from '../src/store/peer.js';
import { newPeerV6 } from '../src/tracker/dual-stack.js';
import { Store } from '../src/store/store.js';
import { newTorrent, swarmToAdd, type Torrent } from '../src/store/types.js';
import { BENCH_CLIENTS, infoHashOf, passkeyOf } from './site.js';

function addTorrents(store: Store, torrents: number): Torrent[] {
  const list: Torrent[] = [];
  for (let id = 1; id <= torrents; id++) {
    const torrent = newTorrent({
      id,
      infoHash: infoHashOf(id).toString('latin1'),
      groupId: Math.floor(id / 3),
      type: id % 5 === 0 ? 'music' : 'anime',
    });
    store.torrents.set(torrent.infoHash, torrent);
    list.push(torrent);
  }
  return list;
}

function addUsers(store: Store, users: number): void {
  for (let id = 1; id <= users; id++) {
    const passkey = passkeyOf(id);
    store.users.set(passkey, { id, passkey, upMultiplier: 1, downMultiplier: 1, disableDownload: false, trackerHide: false });
  }
}

/** Peers spread like a real site: one torrent of 50,000, the rest 1..17 each, cycling over the torrents. */
function addPeers(list: Torrent[], peers: number, users: number, now: number, bigCounters: boolean, dualStack = false): void {
  const addr = Buffer.alloc(16);
  addr.writeUInt32BE(0x2a001234, 0);
  const base = bigCounters ? 2 ** 31 + 12_345 : 0;
  let made = 0;
  let t = 0;
  while (made < peers) {
    const torrent = list[t % list.length]!;
    const size = t === 0 ? Math.min(50_000, peers) : Math.min(1 + (t % 17), peers - made);
    for (let i = 0; i < size; i++) {
      const n = made + i;
      const userId = 1 + (n % users);
      // Distinct per (user, torrent): the counter makes it unique site-wide.
      const key = peerKey(userId, `${BENCH_CLIENTS[0]}4650-${n.toString(36).padStart(12, '0')}`);
      const seeding = n % 3 === 0;
      const peer = newPeer(key, userId, (0x0b000000 + n) >>> 0, 1024 + (n % 60000), now - 600, now - (n % 600), 1);
      const uploaded = base + 123_456_789 * (n % 1000);
      const downloaded = base + 987_654 * (n % 1000);
      if (dualStack) {
        // A distinct address per peer, as a site's clients have.
        addr.writeUInt32BE(n >>> 0, 12);
        peer.v6 = newPeerV6(addr.toString('latin1', 0, 16), 1024 + (n % 60000), now - (n % 600), now - (n % 600), 6, uploaded, downloaded);
        peer.v6.last[0] = uploaded; // both families have reported
        peer.v6.last[1] = downloaded;
      }
      swarmToAdd(torrent, seeding).add(peer, uploaded, downloaded, seeding ? 0 : base + 1_000_000 + n);
    }
    made += size;
    t++;
  }
}

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'measure') {
    const bigCounters = args.includes('--big-counters');
    const dualStack = args.includes('--dual-stack');
    const [peers = 1_000_000, torrents = 100_000, users = 100_000] = args.filter((a) => !a.startsWith('--')).map(Number);
    const store = new Store();
    const list = addTorrents(store, torrents);
    const before = heapAfterGc();
    const started = process.hrtime.bigint();
    addPeers(list, peers, users, now, bigCounters, dualStack);
    const buildSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const after = heapAfterGc();
    const tracked = store.peerCount();
    process.stdout.write(
      `${JSON.stringify({ peers: tracked, torrents, bigCounters, dualStack, heapBefore: before, heapAfter: after, bytesPerPeer: Math.round((after - before) / tracked), buildSeconds, rss: process.memoryUsage().rss })}\n`,
    );
    return;
  }
  if (mode === 'cache') {
    const [dir, ...rest] = args;
    const [peers = 1_000_000, torrents = 100_000, users = 100_000] = rest.map(Number);
    const store = new Store();
    addUsers(store, users);
    addPeers(addTorrents(store, torrents), peers, users, now, false);
    const written = await writeCacheFiles(dir!, store);
    process.stdout.write(`${JSON.stringify({ peers: store.peerCount(), bytes: written.bytes, seconds: written.seconds })}\n`);
    return;
  }
  throw new Error('usage: peers.js measure <peers> <torrents> <users> | cache <dir> <peers> <torrents> <users>');
}

await main();
