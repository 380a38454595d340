import type { TrackerQuery } from '../protocol/query.js';
import type { Torrent } from '../store/types.js';
import { bstr } from './bencode.js';
import type { TrackerContext } from './context.js';
import { Failure } from './failures.js';

export interface ScrapeResult {
  body: Buffer;
  failed: boolean;
}

/**
 * BEP 48 scrape: known torrents among the requested hashes, in ascending byte
 * order of info_hash, leaving out those the user may not download.
 */
export function scrape(ctx: TrackerContext, passkey: string, query: TrackerQuery): ScrapeResult {
  const { store } = ctx;
  const user = store.users.get(passkey);
  if (user === undefined) {
    const [reason, interval] = store.loadedFrom === undefined ? Failure.notReady : Failure.invalidPasskey;
    return { body: ctx.failures.get(reason, interval), failed: true };
  }
  const hashes = query.infoHashes.filter((h) => h.length === 20);
  if (hashes.length === 0) return { body: ctx.failures.get(...Failure.scrapeWithoutInfoHash), failed: true };

  const found: Torrent[] = [];
  const seen = new Set<string>();
  for (const hash of hashes) {
    if (seen.has(hash)) continue;
    seen.add(hash);
    const torrent = store.torrents.get(hash);
    if (torrent !== undefined && store.mayDownload(user, torrent)) found.push(torrent);
  }
  // latin1 strings compare char by char, i.e. byte by byte.
  found.sort((a, b) => (a.infoHash < b.infoHash ? -1 : a.infoHash > b.infoHash ? 1 : 0));
  let out = 'd5:filesd';
  for (const t of found) {
    out += `${bstr(t.infoHash)}d8:completei${t.seeders.size}e10:downloadedi${t.snatched}e` + `10:incompletei${t.leechers.size}ee`;
  }
  out += `e5:flagsd20:min_request_intervali${ctx.config.intervals.scrape}eee`;
  return { body: Buffer.from(out, 'latin1'), failed: false };
}
