/**
 * The tracker's side of the cache files: write the Store's swarms and users to
 * `torrent-cache.bin` / `user-cache.bin`, and read them back at start.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../log.js';
import { newPeer, type Peer } from '../store/peer.js';
import type { Store } from '../store/store.js';
import { newTorrent, swarmToAdd, type Torrent, type User } from '../store/types.js';
import { CacheFormatError } from './binary.js';
import {
  decodeTorrentFile,
  decodeUserFile,
  DEFAULT_YIELD_EVERY,
  Pacer,
  writeFileAtomically,
  writeTorrentsBody,
  writeUsersBody,
  type SwarmsSnapshot,
} from './files.js';
import { TORRENT_CACHE_FILE, USER_CACHE_FILE } from './format.js';
import { ipv6EndpointOf, writeIpv6Endpoints, type Ipv6EndpointRecord } from './ipv6-endpoints.js';

export interface CacheWriteOptions {
  /** Records (torrents, peers, users) encoded between two yields to the event loop. */
  yieldEvery?: number;
  logger?: Logger;
  /** `announce.ipv6`: also write the peers' IPv6 endpoints to peers6-cache.bin (ipv6-endpoints.ts). */
  ipv6?: boolean;
}

export interface CacheWriteResult {
  torrents: number;
  peers: number;
  users: number;
  /** The files together. */
  bytes: number;
  seconds: number;
}

/**
 * Writes both cache files (each via `.tmp` + rename). Announces keep running while
 * this runs: the torrent and user lists are gathered in slices, and each torrent is
 * written as it stood when the writer reached it (in one go from its live swarms, or,
 * for one bigger than a slice, from a copy made then). Calls must not overlap for one directory
 * (use CacheWriter, which queues them).
 */
export async function writeCacheFiles(dir: string, store: Store, options: CacheWriteOptions = {}): Promise<CacheWriteResult> {
  const started = process.hrtime.bigint();
  const pacer = new Pacer(options.yieldEvery ?? DEFAULT_YIELD_EVERY);

  const torrents = await collect(store.torrents, pacer);
  let peers = 0;
  // With IPv6 on, each peer's IPv6 endpoint is taken from the same snapshot as the peer.
  const endpoints6: Ipv6EndpointRecord[] | undefined = options.ipv6 === true ? [] : undefined;
  const torrentBytes = await writeFileAtomically(join(dir, TORRENT_CACHE_FILE), async (w) => {
    peers = await writeTorrentsBody(
      w,
      torrents,
      {
        peerCount: (t: Torrent) => t.seeders.size + t.leechers.size,
        swarms: (t: Torrent, inPlace: boolean) => {
          const swarms: SwarmsSnapshot = inPlace
            ? {
                seeders: t.seeders.peers,
                leechers: t.leechers.peers,
                seederCounters: t.seeders.countersInPlace(),
                leecherCounters: t.leechers.countersInPlace(),
                seederExact: t.seeders.exactInPlace(),
                leecherExact: t.leechers.exactInPlace(),
              }
            : {
                seeders: t.seeders.peers.slice(),
                leechers: t.leechers.peers.slice(),
                seederCounters: t.seeders.countersSnapshot(),
                leecherCounters: t.leechers.countersSnapshot(),
                seederExact: t.seeders.exactSnapshot(),
                leecherExact: t.leechers.exactSnapshot(),
              };
          if (endpoints6 !== undefined) {
            for (const list of [swarms.seeders, swarms.leechers] as (readonly Peer[])[]) {
              for (const peer of list) {
                const record = ipv6EndpointOf(t.infoHash, peer);
                if (record !== undefined) endpoints6.push(record);
              }
            }
          }
          return swarms;
        },
      },
      pacer,
    );
  });
  const ipv6Bytes = endpoints6 === undefined ? 0 : await writeIpv6Endpoints(dir, endpoints6, options.yieldEvery);

  const users = await collect(store.users, pacer);
  const userBytes = await writeFileAtomically(join(dir, USER_CACHE_FILE), (w) => writeUsersBody(w, users, pacer));

  const result: CacheWriteResult = {
    torrents: torrents.length,
    peers,
    users: users.length,
    bytes: torrentBytes + userBytes + ipv6Bytes,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
  options.logger?.info(result, 'cache files written');
  return result;
}

/**
 * Copies a map's values into an array a slice at a time. A Map iterator stays
 * valid while the map changes: entries deleted before we reach them are skipped,
 * entries added are visited. The array is made at the map's size (grown only if
 * entries arrive meanwhile): grown by pushes from empty it was copied ~20 times,
 * megabytes per write at a million torrents, each copy old enough to be left for a
 * full garbage collection.
 */
async function collect<T>(map: ReadonlyMap<unknown, T>, pacer: Pacer): Promise<T[]> {
  const out = new Array<T>(map.size);
  let n = 0;
  for (const value of map.values()) {
    if (n < out.length) out[n] = value;
    else out.push(value);
    n++;
    if (pacer.due(0.05)) await pacer.pause(); // copying a reference is ~20× cheaper than encoding a record
  }
  out.length = n; // fewer when entries were deleted meanwhile
  return out;
}

/** Serializes writeCacheFiles calls: a shutdown write waits for a periodic one in flight. */
export class CacheWriter {
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly options: CacheWriteOptions = {},
  ) {}

  /** `onStart` runs when this write begins, before its first snapshot (the journal takes its checkpoint position there). */
  write(store: Store, onStart?: () => void): Promise<CacheWriteResult> {
    const run = (): Promise<CacheWriteResult> => {
      onStart?.();
      return writeCacheFiles(this.dir, store, this.options);
    };
    const next = this.last.then(run, run);
    this.last = next.catch(() => undefined);
    return next;
  }
}

export interface CacheReadOptions {
  yieldEvery?: number;
  logger?: Logger;
}

export interface CacheReadResult {
  /** By info_hash (latin1), with their swarms. */
  torrents: Map<string, Torrent>;
  /** By passkey. */
  users: Map<string, User>;
  /** One line per file that could not be used (missing files are not errors). */
  errors: string[];
  /** The cache files that were not there (a first start, or a working directory without them). */
  missing: string[];
}

/**
 * Reads both cache files, each on its own: a missing file gives an empty set (and is named in
 * `missing`), a damaged or unknown-version one gives an empty set and an error naming the file
 * and the problem. Never throws for file contents.
 */
export async function readCacheFiles(dir: string, options: CacheReadOptions = {}): Promise<CacheReadResult> {
  const errors: string[] = [];
  const missing: string[] = [];
  const yieldEvery = options.yieldEvery ?? DEFAULT_YIELD_EVERY;

  let torrents = new Map<string, Torrent>();
  const torrentBuf = await readIfPresent(join(dir, TORRENT_CACHE_FILE), errors, missing);
  if (torrentBuf !== undefined) {
    try {
      await decodeTorrentFile(
        torrentBuf,
        TORRENT_CACHE_FILE,
        (record) => {
          const torrent = newTorrent({
            id: record.id,
            infoHash: record.infoHash,
            groupId: record.groupId,
            type: record.type,
            snatched: record.snatched,
            status: record.status,
            lastAction: Number(record.lastAction),
            upMultiplier: record.upMultiplier,
            downMultiplier: record.downMultiplier,
          });
          // The file's torrent ID and seeding flag per peer are implied by where it is read.
          for (const { key, peer: p } of record.seeders) {
            swarmToAdd(torrent, true).add(
              newPeer(key, p.userId, p.ip, p.port, Number(p.startTime), Number(p.lastAnnounce), p.clientId),
              p.uploaded,
              p.downloaded,
              p.left,
            );
          }
          for (const { key, peer: p } of record.leechers) {
            swarmToAdd(torrent, false).add(
              newPeer(key, p.userId, p.ip, p.port, Number(p.startTime), Number(p.lastAnnounce), p.clientId),
              p.uploaded,
              p.downloaded,
              p.left,
            );
          }
          torrents.set(record.infoHash, torrent);
        },
        // Exact counters: a magnet's left of 2^63 − 1 must come back as it was written.
        { yieldEvery, exact: true },
      );
    } catch (err) {
      torrents = new Map();
      errors.push(describe(err, TORRENT_CACHE_FILE));
    }
  }

  let users = new Map<string, User>();
  const userBuf = await readIfPresent(join(dir, USER_CACHE_FILE), errors, missing);
  if (userBuf !== undefined) {
    try {
      await decodeUserFile(
        userBuf,
        USER_CACHE_FILE,
        (record) => {
          users.set(record.passkey, {
            id: record.id,
            passkey: record.passkey,
            upMultiplier: record.upMultiplier,
            downMultiplier: record.downMultiplier,
            disableDownload: record.disableDownload,
            trackerHide: record.trackerHide,
            reloadMark: 0, // the same shape as the users the reloader makes
          });
        },
        { yieldEvery },
      );
    } catch (err) {
      users = new Map();
      errors.push(describe(err, USER_CACHE_FILE));
    }
  }

  // The caller decides how to report `errors` (the tracker logs them as it starts empty).
  options.logger?.debug(
    { torrents: torrents.size, users: users.size, peers: countPeers(torrents), errors: errors.length },
    'cache files read',
  );
  return { torrents, users, errors, missing };
}

async function readIfPresent(path: string, errors: string[], missing: string[]): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      missing.push(basename(path));
      return undefined;
    }
    errors.push(`${path}: cannot read: ${(err as Error).message}`);
    return undefined;
  }
}

function describe(err: unknown, file: string): string {
  if (err instanceof CacheFormatError) return err.message;
  return `${file}: ${err instanceof Error ? err.message : String(err)}`;
}

function countPeers(torrents: Map<string, Torrent>): number {
  let n = 0;
  for (const t of torrents.values()) n += t.seeders.size + t.leechers.size;
  return n;
}
