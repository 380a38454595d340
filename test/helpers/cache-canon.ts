/**
 * Cache files in a canonical order: chihaya writes its maps in Go's random iteration
 * order, so two equal caches are equal as sets of records, not as byte strings. This
 * re-encodes a pair of .bin files with torrents sorted by info hash, peers by key and
 * users by passkey: equal caches give equal bytes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTorrentRecords, loadUserRecords, saveTorrentRecords, saveUserRecords } from '../../src/cache/tool.js';

const byKey =
  <T>(key: (x: T) => string) =>
  (a: T, b: T): number =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

export interface CanonicalCache {
  torrents: Buffer;
  users: Buffer;
}

/**
 * The canonical bytes of `torrent-cache.bin` and `user-cache.bin` in `dir`.
 * `torrentIds: 'zero'` writes every torrent ID as 0 (chihaya's cc restore does, see
 * test/cc-chihaya.test.ts), to compare everything else.
 */
export async function canonicalCache(dir: string, options: { torrentIds?: 'keep' | 'zero' } = {}): Promise<CanonicalCache> {
  const files = { torrents: 'torrent-cache.bin', users: 'user-cache.bin' };
  const torrents = await loadTorrentRecords(dir, undefined, files.torrents);
  if (options.torrentIds === 'zero') for (const t of torrents) t.id = 0;
  const users = await loadUserRecords(dir, undefined, files.users);
  torrents.sort(byKey((t) => t.infoHash));
  for (const t of torrents) {
    t.seeders.sort(byKey((e) => e.key));
    t.leechers.sort(byKey((e) => e.key));
  }
  users.sort(byKey((u) => u.passkey));
  const out = await mkdtemp(join(tmpdir(), 'hayate-canon-'));
  try {
    await saveTorrentRecords(join(out, 't.bin'), torrents);
    await saveUserRecords(join(out, 'u.bin'), users);
    return { torrents: await readFile(join(out, 't.bin')), users: await readFile(join(out, 'u.bin')) };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
