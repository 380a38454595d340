/**
 * Whole cache files: atomic writing (`.tmp` then rename) through a chunked writer
 * that yields to the event loop, and decoding that yields too — so neither a
 * serialization nor a start-up load of millions of peers blocks announces.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { yieldToLoop } from '../event-loop.js';
import type { Peer } from '../store/peer.js';
import { ByteReader, CacheFormatError, ChunkWriter, type U64 } from './binary.js';
import {
  PEER_KEY_SIZE,
  PEER_SIZE,
  TORRENT_CACHE_VERSION,
  TORRENT_TRAILER_SIZE,
  USER_CACHE_VERSION,
  readHeader,
  readPeer,
  readTorrentTrailer,
  readUser,
  userRecordSize,
  writeHeader,
  writePeer,
  writeSwarmPeer,
  writeTorrentTrailer,
  writeUser,
  type PeerEntry,
  type TorrentRecord,
  type UserRecord,
} from './format.js';

export const DEFAULT_YIELD_EVERY = 2000;

/** Counts records and says when it is time to let the event loop run. */
export class Pacer {
  private sinceYield = 0;
  constructor(
    /** Records between two yields. */
    readonly every: number = DEFAULT_YIELD_EVERY,
  ) {}

  /** Records the current slice has room for. */
  get left(): number {
    return this.every - this.sinceYield;
  }

  /** Counts n records; true when the caller should `await pacer.pause()`. */
  due(n = 1): boolean {
    this.sinceYield += n;
    return this.sinceYield >= this.every;
  }

  pause(): Promise<void> {
    this.sinceYield = 0;
    return yieldToLoop();
  }
}

/**
 * Writes the whole chunk at the handle's position. A write may be short (a full disk fails only
 * on the next one): the rest is written, never dropped. Throws what the write throws.
 */
export async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
}

/**
 * Writes `path` via `path.tmp`: the old file stays whole until the new one is
 * complete and synced, so a crash mid-write never leaves a half file behind.
 */
export async function writeFileAtomically(path: string, produce: (w: ChunkWriter) => Promise<void>): Promise<number> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  let ok = false;
  try {
    const writer = new ChunkWriter((chunk) => writeAll(handle, chunk));
    await produce(writer);
    await writer.flush();
    await handle.sync();
    ok = true;
    return writer.total;
  } finally {
    await handle.close();
    if (ok) await rename(tmp, path);
    else await unlink(tmp).catch(() => undefined);
  }
}

/** Anything with the torrent fields; swarms come from `seeders`/`leechers` snapshots. */
export type TorrentFields = Omit<TorrentRecord, 'seeders' | 'leechers'>;

/**
 * Where the torrent writer gets each torrent's swarms. The model's swarms change while a
 * paced write runs (announces between yields); records from a file do not.
 */
export interface TorrentSwarms<T> {
  /** The peers the torrent holds now, seeders and leechers together. */
  peerCount(torrent: T): number;
  /**
   * The torrent's swarms now. `inPlace` true: the writer is done with them before it next
   * yields to the event loop, so they may be the live arrays; false: the writer yields
   * inside them, so they must be a copy (what is written is each swarm as it was when reached).
   */
  swarms(torrent: T, inPlace: boolean): SwarmsSnapshot;
}

/**
 * Writes a torrent file body; returns the peers written. A torrent with fewer peers than the
 * pacer's slice (nearly all of them) is written in one go from its live swarms; a bigger one
 * from a copy, yielding inside it.
 */
export async function writeTorrentsBody<T extends TorrentFields>(
  w: ChunkWriter,
  torrents: readonly T[],
  source: TorrentSwarms<T>,
  pacer: Pacer,
): Promise<number> {
  let peers = 0;
  await ensure(w, 20);
  writeHeader(w, TORRENT_CACHE_VERSION, torrents.length);
  for (const torrent of torrents) {
    // In one go, nothing is copied: a copy of every swarm (two arrays and two typed arrays with
    // their backing stores per torrent) was most of what a serialization left for the garbage
    // collector, and what made the collector's marking steps land inside the writer's slices.
    // Room in the slice and in the chunk first; the swarms change while either is awaited, so
    // the count is read again after each await, and the last one read is what is written.
    let n = source.peerCount(torrent);
    if (n < pacer.every && pacer.left <= n) {
      await pacer.pause();
      n = source.peerCount(torrent);
    }
    while (n < pacer.every && w.full(torrentSize(n))) {
      await w.flush(torrentSize(n));
      n = source.peerCount(torrent);
    }
    if (n < pacer.every) {
      peers += writeTorrentInOneGo(w, torrent, source.swarms(torrent, true));
      if (pacer.due(n + 1)) await pacer.pause();
    } else {
      peers += await writeTorrentPaced(w, torrent, source.swarms(torrent, false), pacer);
    }
  }
  return peers;
}

/** The most bytes a torrent with `peers` peers takes in the file. */
function torrentSize(peers: number): number {
  return 20 + 10 + 10 + peers * (PEER_KEY_SIZE + PEER_SIZE) + TORRENT_TRAILER_SIZE;
}

/** Writes a torrent without yielding; the chunk must have room for it (torrentSize). */
function writeTorrentInOneGo(w: ChunkWriter, torrent: TorrentFields, swarms: SwarmsSnapshot): number {
  const { seeders, leechers } = swarms;
  if (w.full(torrentSize(seeders.length + leechers.length))) throw new Error('cache writer: no room made for a torrent written in one go');
  w.latin1(torrent.infoHash);
  w.uvarint(seeders.length);
  for (let i = 0; i < seeders.length; i++) writeEntry(w, seeders[i]!, i, swarms.seederCounters, swarms.seederExact, torrent.id, true);
  w.uvarint(leechers.length);
  for (let i = 0; i < leechers.length; i++) writeEntry(w, leechers[i]!, i, swarms.leecherCounters, swarms.leecherExact, torrent.id, false);
  writeTorrentTrailer(w, torrent);
  return seeders.length + leechers.length;
}

async function writeTorrentPaced(w: ChunkWriter, torrent: TorrentFields, swarms: SwarmsSnapshot, pacer: Pacer): Promise<number> {
  await ensure(w, 20 + 10);
  w.latin1(torrent.infoHash);
  let peers = await writeSwarm(w, swarms.seeders, swarms.seederCounters, swarms.seederExact, torrent.id, true, pacer);
  peers += await writeSwarm(w, swarms.leechers, swarms.leecherCounters, swarms.leecherExact, torrent.id, false, pacer);
  await ensure(w, TORRENT_TRAILER_SIZE);
  writeTorrentTrailer(w, torrent);
  if (pacer.due()) await pacer.pause();
  return peers;
}

/**
 * A record from a file with its key (written as it is), or a model peer (written
 * with the torrent ID and seeding flag of the swarm that holds it).
 */
export type PeerEntryLike = PeerEntry | Peer;

/**
 * A torrent's swarms as the writer reads them. Model peers keep their counters in the
 * swarm, so model peers come with those (peers[i]'s at 3i: Swarm.countersSnapshot for a
 * copy, Swarm.countersInPlace for one written in one go).
 */
export interface SwarmsSnapshot {
  seeders: readonly PeerEntryLike[];
  leechers: readonly PeerEntryLike[];
  seederCounters?: ArrayLike<number>;
  leecherCounters?: ArrayLike<number>;
  /** Exact counters of the peers whose doubles above are rounded (Swarm.exactSnapshot, or exactInPlace). */
  seederExact?: ReadonlyMap<string, readonly [U64, U64, U64]> | undefined;
  leecherExact?: ReadonlyMap<string, readonly [U64, U64, U64]> | undefined;
}

async function writeSwarm(
  w: ChunkWriter,
  entries: readonly PeerEntryLike[],
  counters: ArrayLike<number> | undefined,
  exact: ReadonlyMap<string, readonly [U64, U64, U64]> | undefined,
  torrentId: number,
  seeding: boolean,
  pacer: Pacer,
): Promise<number> {
  await ensure(w, 10);
  w.uvarint(entries.length);
  for (let i = 0; i < entries.length; i++) {
    if (w.full(PEER_KEY_SIZE + PEER_SIZE)) await w.flush();
    writeEntry(w, entries[i]!, i, counters, exact, torrentId, seeding);
    if (pacer.due()) await pacer.pause();
  }
  return entries.length;
}

/** One peer (key and record) at entries[i]; a model peer's counters are at 3i in `counters`. */
function writeEntry(
  w: ChunkWriter,
  entry: PeerEntryLike,
  i: number,
  counters: ArrayLike<number> | undefined,
  exact: ReadonlyMap<string, readonly [U64, U64, U64]> | undefined,
  torrentId: number,
  seeding: boolean,
): void {
  if ('peer' in entry) {
    w.latin1(entry.key);
    writePeer(w, entry.peer);
    return;
  }
  if (counters === undefined || counters.length < 3 * (i + 1)) {
    throw new Error('cache writer: model peers need their counters');
  }
  const big = exact?.get(entry.key);
  if (big !== undefined) writeSwarmPeer(w, entry, big[0], big[1], big[2], torrentId, seeding);
  else writeSwarmPeer(w, entry, counters[3 * i]!, counters[3 * i + 1]!, counters[3 * i + 2]!, torrentId, seeding);
}

export async function writeUsersBody(w: ChunkWriter, users: readonly UserRecord[], pacer: Pacer): Promise<void> {
  await ensure(w, 20);
  writeHeader(w, USER_CACHE_VERSION, users.length);
  for (const user of users) {
    await ensure(w, userRecordSize(user));
    writeUser(w, user);
    if (pacer.due()) await pacer.pause();
  }
}

async function ensure(w: ChunkWriter, n: number): Promise<void> {
  if (w.full(n)) await w.flush(n);
}

export interface DecodeOptions {
  /** Keep 64-bit values beyond 2^53 exact (bigint) — for the cc tool. */
  exact?: boolean;
  yieldEvery?: number;
  /** Called now and then with (bytes read, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Decodes a whole torrent-cache file; throws CacheFormatError naming `fileName`.
 * Yields inside big swarms too, so one torrent with 100,000 peers is no stall.
 */
export async function decodeTorrentFile(
  buf: Buffer,
  fileName: string,
  onTorrent: (t: TorrentRecord) => void,
  options: DecodeOptions = {},
): Promise<{ version: number; count: number }> {
  const exact = options.exact ?? false;
  return decodeFile(buf, fileName, TORRENT_CACHE_VERSION, options, async (r, version, pacer) => {
    const infoHash = r.latin1(20, 'info_hash');
    const seeders = await readSwarmPaced(r, version, exact, 'seeders', pacer);
    const leechers = await readSwarmPaced(r, version, exact, 'leechers', pacer);
    onTorrent({ infoHash, seeders, leechers, ...readTorrentTrailer(r, version, exact) });
  });
}

async function readSwarmPaced(r: ByteReader, version: number, exact: boolean, what: string, pacer: Pacer): Promise<PeerEntry[]> {
  const count = r.uvarint(`${what} count`);
  // Each entry takes 24 + PEER_SIZE bytes at least: a bigger count is corruption, not a reason to allocate.
  if (count * (PEER_KEY_SIZE + PEER_SIZE) > r.remaining) {
    throw new CacheFormatError(`truncated: ${count} ${what} cannot fit in the ${r.remaining} bytes left`, r.pos);
  }
  const entries = new Array<PeerEntry>(count);
  for (let i = 0; i < count; i++) {
    const key = r.latin1(PEER_KEY_SIZE, 'peer key');
    entries[i] = { key, peer: readPeer(r, version, exact) };
    if (pacer.due()) await pacer.pause();
  }
  return entries;
}

/**
 * Reads one torrent record (info hash to multipliers) at the reader's position,
 * without yielding: for tools that index a file and come back to its records.
 */
export function readTorrentRecord(r: ByteReader, version: number, exact: boolean): TorrentRecord {
  const infoHash = r.latin1(20, 'info_hash');
  const swarm = (what: string): PeerEntry[] => {
    const count = r.uvarint(`${what} count`);
    if (count * (PEER_KEY_SIZE + PEER_SIZE) > r.remaining) {
      throw new CacheFormatError(`truncated: ${count} ${what} cannot fit in the ${r.remaining} bytes left`, r.pos);
    }
    const entries = new Array<PeerEntry>(count);
    for (let i = 0; i < count; i++) entries[i] = { key: r.latin1(PEER_KEY_SIZE, 'peer key'), peer: readPeer(r, version, exact) };
    return entries;
  };
  const seeders = swarm('seeders');
  const leechers = swarm('leechers');
  return { infoHash, seeders, leechers, ...readTorrentTrailer(r, version, exact) };
}

export async function decodeUserFile(
  buf: Buffer,
  fileName: string,
  onUser: (u: UserRecord) => void,
  options: DecodeOptions = {},
): Promise<{ version: number; count: number }> {
  return decodeFile(buf, fileName, USER_CACHE_VERSION, options, (r) => {
    onUser(readUser(r));
  });
}

async function decodeFile(
  buf: Buffer,
  fileName: string,
  maxVersion: number,
  options: DecodeOptions,
  readRecord: (r: ByteReader, version: number, pacer: Pacer) => void | Promise<void>,
): Promise<{ version: number; count: number }> {
  const r = new ByteReader(buf);
  const pacer = new Pacer(options.yieldEvery);
  try {
    if (buf.length === 0) throw new CacheFormatError('empty file', 0);
    const { version, count } = readHeader(r, maxVersion);
    let nextProgress = 0;
    for (let i = 0; i < count; i++) {
      await readRecord(r, version, pacer);
      if (pacer.due()) await pacer.pause();
      if (options.onProgress !== undefined && r.pos >= nextProgress) {
        options.onProgress(r.pos, buf.length);
        nextProgress = r.pos + (1 << 22);
      }
    }
    if (r.remaining !== 0) {
      throw new CacheFormatError(`${r.remaining} unexpected bytes after the last of ${count} records`, r.pos);
    }
    options.onProgress?.(buf.length, buf.length);
    return { version, count };
  } catch (err) {
    if (err instanceof CacheFormatError) throw err.inFile(fileName);
    if (err instanceof RangeError) {
      // A bounds check we did not anticipate: still a damaged file, not a crash.
      throw new CacheFormatError(`corrupt: ${err.message}`, r.pos, fileName);
    }
    throw err;
  }
}
