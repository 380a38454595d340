/**
 * The operations behind the `cc` tool, on the cache files of one directory.
 * Each throws CacheFormatError / DumpFormatError / CacheToolError for bad input.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ByteReader, CacheFormatError, ChunkWriter } from './binary.js';
import {
  decodeTorrentFile,
  decodeUserFile,
  Pacer,
  readTorrentRecord,
  writeAll,
  writeFileAtomically,
  writeTorrentsBody,
  writeUsersBody,
} from './files.js';
import { DumpFormatError, torrentDumpKey, torrentFromGoJson, torrentToGoJson, userDumpKey, userFromGoJson, userToGoJson } from './dump.js';
import { JsonObjectStream, JsonSyntaxError, type JsonValue } from './json-stream.js';
import {
  PEER_KEY_SIZE,
  PEER_SIZE,
  TORRENT_CACHE_FILE,
  TORRENT_CACHE_VERSION,
  TORRENT_TRAILER_SIZE,
  USER_CACHE_FILE,
  USER_CACHE_VERSION,
  readHeader,
  readUser,
  userRecordSize,
  writeHeader,
  writePeer,
  writeTorrentTrailer,
  writeUser,
  type TorrentRecord,
  type UserRecord,
} from './format.js';

export const TORRENT_DUMP_FILE = 'torrent-cache.json';
export const USER_DUMP_FILE = 'user-cache.json';
export const TORRENT_ANON_FILE = 'torrent-cache-anonymized.bin';
export const USER_ANON_FILE = 'user-cache-anonymized.bin';

/** A file missing or unreadable: bad input for the tool, not a bug. */
export class CacheToolError extends Error {
  override name = 'CacheToolError';
}

export type Progress = (file: string, done: number, total: number) => void;

async function readInput(path: string, name: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheToolError(
      code === 'ENOENT' ? `${name}: no such file in ${dirname(path)}` : `${name}: cannot read (${code ?? (err as Error).message})`,
    );
  }
}

export async function loadTorrentRecords(dir: string, progress?: Progress, file = TORRENT_CACHE_FILE): Promise<TorrentRecord[]> {
  const buf = await readInput(join(dir, file), file);
  const torrents: TorrentRecord[] = [];
  await decodeTorrentFile(buf, file, (t) => torrents.push(t), {
    exact: true,
    ...(progress ? { onProgress: (d: number, t: number) => progress(file, d, t) } : {}),
  });
  return torrents;
}

export async function loadUserRecords(dir: string, progress?: Progress, file = USER_CACHE_FILE): Promise<UserRecord[]> {
  const buf = await readInput(join(dir, file), file);
  const users: UserRecord[] = [];
  await decodeUserFile(buf, file, (u) => users.push(u), {
    exact: true,
    ...(progress ? { onProgress: (d: number, t: number) => progress(file, d, t) } : {}),
  });
  return users;
}

export async function saveTorrentRecords(path: string, torrents: readonly TorrentRecord[]): Promise<number> {
  return writeFileAtomically(path, async (w) => {
    await writeTorrentsBody(w, torrents, { peerCount: (t) => t.seeders.length + t.leechers.length, swarms: (t) => t }, new Pacer(50_000));
  });
}

export async function saveUserRecords(path: string, users: readonly UserRecord[]): Promise<number> {
  return writeFileAtomically(path, (w) => writeUsersBody(w, users, new Pacer(50_000)));
}

// ------------------------------------------------------------------ dump / restore

export interface DumpResult {
  torrents: number;
  peers: number;
  users: number;
}

/** Where each record starts, by its key (a repeated key keeps the last, as chihaya's map does). */
interface RecordIndex {
  version: number;
  starts: Map<string, number>;
}

function indexRecords(
  buf: Buffer,
  file: string,
  maxVersion: number,
  readKey: (r: ByteReader, version: number) => string,
  progress?: Progress,
): RecordIndex {
  const r = new ByteReader(buf);
  try {
    if (buf.length === 0) throw new CacheFormatError('empty file', 0);
    const { version, count } = readHeader(r, maxVersion);
    const starts = new Map<string, number>();
    let nextProgress = 0;
    for (let i = 0; i < count; i++) {
      const at = r.pos;
      starts.set(readKey(r, version), at);
      if (progress !== undefined && r.pos >= nextProgress) {
        progress(file, r.pos, buf.length);
        nextProgress = r.pos + (1 << 22);
      }
    }
    if (r.remaining !== 0) throw new CacheFormatError(`${r.remaining} unexpected bytes after the last of ${count} records`, r.pos);
    progress?.(file, buf.length, buf.length);
    return { version, starts };
  } catch (err) {
    if (err instanceof CacheFormatError) throw err.inFile(file);
    if (err instanceof RangeError) throw new CacheFormatError(`corrupt: ${err.message}`, r.pos, file);
    throw err;
  }
}

/**
 * Writes `{ key: value, ... }` as Go's indenting encoder does (members in the given
 * order, tab indentation, a final newline), via `path.tmp`, in chunks.
 */
async function writeGoMap(path: string, keys: readonly string[], member: (key: string) => [string, string]): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  let ok = false;
  try {
    let chunk = keys.length === 0 ? '{}\n' : '{\n';
    for (let i = 0; i < keys.length; i++) {
      const [key, value] = member(keys[i]!);
      chunk += `\t${key}: ${value}${i < keys.length - 1 ? ',' : ''}\n`;
      if (chunk.length > 1 << 20) {
        await handle.write(chunk);
        chunk = '';
      }
    }
    if (keys.length > 0) chunk += '}\n';
    await handle.write(chunk);
    await handle.sync();
    ok = true;
  } finally {
    await handle.close();
    if (ok) await rename(tmp, path);
    else await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Writes torrent-cache.json and user-cache.json (chihaya's cc layout, src/cache/dump.ts)
 * from the .bin files. Both files are read and checked before either dump is written;
 * memory holds the .bin files and an index of their records, not the records.
 */
export async function dumpCache(dir: string, progress?: Progress): Promise<DumpResult> {
  const torrentBuf = await readInput(join(dir, TORRENT_CACHE_FILE), TORRENT_CACHE_FILE);
  const userBuf = await readInput(join(dir, USER_CACHE_FILE), USER_CACHE_FILE);
  const torrents = indexRecords(
    torrentBuf,
    TORRENT_CACHE_FILE,
    TORRENT_CACHE_VERSION,
    (r, v) => readTorrentRecord(r, v, true).infoHash,
    progress,
  );
  const users = indexRecords(userBuf, USER_CACHE_FILE, USER_CACHE_VERSION, (r) => readUser(r).passkey, progress);
  const userKeys = [...users.starts.keys()].sort();
  const userKeyText = userKeys.map(userDumpKey); // refuses what the layout cannot hold, before writing

  let peers = 0;
  const tr = new ByteReader(torrentBuf);
  await writeGoMap(join(dir, TORRENT_DUMP_FILE), [...torrents.starts.keys()].sort(), (hash) => {
    tr.pos = torrents.starts.get(hash)!;
    const t = readTorrentRecord(tr, torrents.version, true);
    peers += new Set(t.seeders.map((e) => e.key)).size + new Set(t.leechers.map((e) => e.key)).size;
    return [torrentDumpKey(hash), torrentToGoJson(t)];
  });
  const ur = new ByteReader(userBuf);
  let u = 0;
  await writeGoMap(join(dir, USER_DUMP_FILE), userKeys, (passkey) => {
    ur.pos = users.starts.get(passkey)!;
    return [userKeyText[u++]!, userToGoJson(readUser(ur))];
  });
  return { torrents: torrents.starts.size, peers, users: userKeys.length };
}

/** A .bin file's records written to a side file, waiting for their header. */
interface PendingBin {
  path: string;
  body: string;
  version: number;
  count: number;
  peers: number;
}

/**
 * Streams one dump file into the record bytes of its .bin (in `<bin>.body.tmp`),
 * one top-level member at a time.
 */
async function parseDump<R>(
  dumpPath: string,
  dumpName: string,
  binPath: string,
  version: number,
  fromJson: (key: string, value: JsonValue, where: string) => R,
  size: (record: R) => number,
  write: (w: ChunkWriter, record: R) => number,
): Promise<PendingBin> {
  try {
    await access(dumpPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheToolError(
      code === 'ENOENT' ? `${dumpName}: no such file in ${dirname(dumpPath)}` : `${dumpName}: cannot read (${String(code)})`,
    );
  }
  const body = `${binPath}.body.tmp`;
  const handle = await open(body, 'w', 0o600);
  let ok = false;
  const pending: PendingBin = { path: binPath, body, version, count: 0, peers: 0 };
  try {
    const w = new ChunkWriter((chunk) => writeAll(handle, chunk));
    const ready: R[] = [];
    const parser = new JsonObjectStream((key, value, line) => {
      ready.push(fromJson(key, value, `${dumpName} line ${line}: ${key}`));
    });
    const drain = async () => {
      for (const record of ready) {
        const n = size(record);
        if (w.full(n)) await w.flush(n);
        pending.peers += write(w, record);
        pending.count++;
      }
      ready.length = 0;
    };
    try {
      for await (const chunk of createReadStream(dumpPath, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
        parser.write(chunk as string);
        await drain();
      }
      parser.end();
      await drain();
    } catch (err) {
      if (err instanceof JsonSyntaxError) throw new DumpFormatError(`invalid JSON: ${err.detail}`, `${dumpName} line ${err.line}`);
      throw err;
    }
    await w.flush();
    ok = true;
    return pending;
  } finally {
    await handle.close();
    if (!ok) await unlink(body).catch(() => undefined);
  }
}

/** Header, then the records: the .bin via .tmp and rename. */
async function assembleBin(p: PendingBin): Promise<void> {
  try {
    await writeFileAtomically(p.path, async (w) => {
      writeHeader(w, p.version, p.count);
      for await (const chunk of createReadStream(p.body, { highWaterMark: 1 << 20 })) {
        const bytes = chunk as Buffer;
        if (w.full(bytes.length)) await w.flush(bytes.length);
        bytes.copy(w.buf, w.pos);
        w.pos += bytes.length;
      }
    });
  } finally {
    await unlink(p.body).catch(() => undefined);
  }
}

function torrentRecordSize(t: TorrentRecord): number {
  return 20 + 10 + 10 + (t.seeders.length + t.leechers.length) * (PEER_KEY_SIZE + PEER_SIZE) + TORRENT_TRAILER_SIZE;
}

function writeTorrentRecord(w: ChunkWriter, t: TorrentRecord): number {
  w.latin1(t.infoHash);
  for (const swarm of [t.seeders, t.leechers]) {
    w.uvarint(swarm.length);
    for (const { key, peer } of swarm) {
      w.latin1(key);
      writePeer(w, peer);
    }
  }
  writeTorrentTrailer(w, t);
  return t.seeders.length + t.leechers.length;
}

/**
 * Writes the .bin files back from torrent-cache.json and user-cache.json (chihaya's cc
 * layout; any JSON formatting). Both dumps are parsed before either .bin is replaced,
 * and each is read as a stream: memory holds one torrent at a time.
 */
export async function restoreCache(dir: string): Promise<DumpResult> {
  const torrents = await parseDump(
    join(dir, TORRENT_DUMP_FILE),
    TORRENT_DUMP_FILE,
    join(dir, TORRENT_CACHE_FILE),
    TORRENT_CACHE_VERSION,
    torrentFromGoJson,
    torrentRecordSize,
    writeTorrentRecord,
  );
  let users: PendingBin;
  try {
    users = await parseDump(
      join(dir, USER_DUMP_FILE),
      USER_DUMP_FILE,
      join(dir, USER_CACHE_FILE),
      USER_CACHE_VERSION,
      userFromGoJson,
      userRecordSize,
      (w, u) => (writeUser(w, u), 0),
    );
  } catch (err) {
    await unlink(torrents.body).catch(() => undefined);
    throw err;
  }
  await assembleBin(torrents);
  await assembleBin(users);
  return { torrents: torrents.count, peers: torrents.peers, users: users.count };
}

function countPeers(torrents: readonly TorrentRecord[]): number {
  let n = 0;
  for (const t of torrents) n += t.seeders.length + t.leechers.length;
  return n;
}

// ------------------------------------------------------------------ anonymize

const PASSKEY_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * Writes `-anonymized` copies: users renumbered 1..n (in file order; peers of users
 * missing from the user file get the next numbers), new random passkeys of the
 * same length, user multipliers 1, TrackerHide off; every peer gets its user's new
 * ID (in its key too), a random IPv4 address (one per original address, so peers
 * that shared an address still do) and a random port >= 1024. Torrents, counters,
 * times and peer_ids are kept.
 */
export async function anonymizeCache(dir: string, progress?: Progress): Promise<DumpResult> {
  const torrents = await loadTorrentRecords(dir, progress);
  const users = await loadUserRecords(dir, progress);

  const newIds = new Map<number, number>();
  const passkeys = new Set<string>();
  const anonUsers = users.map((u): UserRecord => {
    let id = newIds.get(u.id);
    if (id === undefined) newIds.set(u.id, (id = newIds.size + 1));
    let passkey: string;
    do passkey = randomPasskey(u.passkey.length);
    while (passkeys.has(passkey) && u.passkey.length > 0);
    passkeys.add(passkey);
    return { passkey, id, disableDownload: u.disableDownload, trackerHide: false, upMultiplier: 1, downMultiplier: 1 };
  });
  const idFor = (old: number): number => {
    let id = newIds.get(old);
    if (id === undefined) newIds.set(old, (id = newIds.size + 1));
    return id;
  };

  const newIps = new Map<number, number>();
  const usedIps = new Set<number>();
  const ipFor = (old: number): number => {
    let ip = newIps.get(old);
    if (ip === undefined) {
      do ip = randomBytes(4).readUInt32BE(0);
      while (usedIps.has(ip));
      usedIps.add(ip);
      newIps.set(old, ip);
    }
    return ip;
  };

  const anonTorrents = torrents.map((t): TorrentRecord => {
    const swarm = (entries: TorrentRecord['seeders']) =>
      entries.map(({ peer }) => {
        const userId = idFor(peer.userId);
        const key = Buffer.alloc(4);
        key.writeUInt32LE(userId);
        return {
          key: key.toString('latin1') + peer.peerId,
          peer: { ...peer, userId, ip: ipFor(peer.ip), port: randomInt(1024, 65536) },
        };
      });
    return { ...t, seeders: swarm(t.seeders), leechers: swarm(t.leechers) };
  });

  await saveTorrentRecords(join(dir, TORRENT_ANON_FILE), anonTorrents);
  await saveUserRecords(join(dir, USER_ANON_FILE), anonUsers);
  return { torrents: anonTorrents.length, peers: countPeers(anonTorrents), users: anonUsers.length };
}

function randomPasskey(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += PASSKEY_ALPHABET.charAt(randomInt(PASSKEY_ALPHABET.length));
  return out;
}

// ------------------------------------------------------------------ summary

export interface CacheSummary {
  torrents: number;
  seeders: number;
  leechers: number;
  users: number;
  /** Largest swarms first. */
  biggestSwarms: { infoHash: string; id: number; seeders: number; leechers: number }[];
}

export async function summarizeCache(dir: string, top = 10, progress?: Progress): Promise<CacheSummary> {
  const torrents = await loadTorrentRecords(dir, progress);
  const users = await loadUserRecords(dir, progress);
  let seeders = 0;
  let leechers = 0;
  for (const t of torrents) {
    seeders += t.seeders.length;
    leechers += t.leechers.length;
  }
  const biggestSwarms = [...torrents]
    .sort((a, b) => b.seeders.length + b.leechers.length - (a.seeders.length + a.leechers.length))
    .slice(0, top)
    .map((t) => ({
      infoHash: Buffer.from(t.infoHash, 'latin1').toString('hex'),
      id: t.id,
      seeders: t.seeders.length,
      leechers: t.leechers.length,
    }));
  return { torrents: torrents.length, seeders, leechers, users: users.length, biggestSwarms };
}
