/**
 * The operations behind the `cc` tool, on the cache files of one directory.
 * Each throws CacheFormatError / DumpFormatError / CacheToolError for bad input.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { decodeTorrentFile, decodeUserFile, Pacer, writeFileAtomically, writeTorrentsBody, writeUsersBody } from './files.js';
import { DumpFormatError, torrentFromJson, torrentToJson, userFromJson, userToJson } from './dump.js';
import {
  TORRENT_CACHE_FILE,
  TORRENT_CACHE_VERSION,
  USER_CACHE_FILE,
  USER_CACHE_VERSION,
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
    throw new CacheToolError(code === 'ENOENT' ? `${name}: no such file` : `${name}: cannot read (${code ?? (err as Error).message})`);
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
    await writeTorrentsBody(w, torrents, (t) => t, new Pacer(50_000));
  });
}

export async function saveUserRecords(path: string, users: readonly UserRecord[]): Promise<number> {
  return writeFileAtomically(path, (w) => writeUsersBody(w, users, new Pacer(50_000)));
}

// ------------------------------------------------------------------ dump / restore

/**
 * Dump files are JSON laid out one record per line between a header line and a
 * closing line, so restore can stream files of any size; any other valid JSON
 * of the same shape (e.g. after `jq`) is read too.
 */
async function writeJsonLines(path: string, version: number, listKey: string, records: readonly unknown[]): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    let chunk = `{"version":${version},"${listKey}":[\n`;
    for (let i = 0; i < records.length; i++) {
      chunk += JSON.stringify(records[i]) + (i < records.length - 1 ? ',\n' : '\n');
      if (chunk.length > 1 << 20) {
        await handle.write(chunk);
        chunk = '';
      }
    }
    await handle.write(`${chunk}]}\n`);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(tmp, path);
}

async function readJsonLines(path: string, name: string, listKey: string): Promise<{ version: number; items: unknown[] }> {
  try {
    await access(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheToolError(code === 'ENOENT' ? `${name}: no such file` : `${name}: cannot read (${code})`);
  }
  const header = new RegExp(`^\\{"version":(\\d+),"${listKey}":\\[$`);
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  const items: unknown[] = [];
  let version = -1;
  let lineNo = 0;
  let closed = false;
  let streamable = true;
  for await (const line of lines) {
    lineNo++;
    if (lineNo === 1) {
      const m = header.exec(line);
      if (!m) {
        streamable = false;
        break;
      }
      version = Number(m[1]);
      continue;
    }
    if (closed) {
      if (line.trim() !== '') {
        streamable = false;
        break;
      }
      continue;
    }
    if (line === ']}') {
      closed = true;
      continue;
    }
    const body = line.endsWith(',') ? line.slice(0, -1) : line;
    try {
      items.push(JSON.parse(body));
    } catch (err) {
      throw new DumpFormatError(`invalid JSON: ${(err as Error).message}`, `${name} line ${lineNo}`);
    }
  }
  lines.close();
  if (streamable && closed) return { version, items };

  // Not our line layout: parse it as one JSON document.
  let doc: unknown;
  try {
    doc = JSON.parse((await readInput(path, name)).toString('utf8'));
  } catch (err) {
    if (err instanceof CacheToolError) throw err;
    throw new DumpFormatError(`invalid JSON: ${(err as Error).message}`, name);
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as Record<string, unknown>)[listKey])) {
    throw new DumpFormatError(`expected {"version": N, "${listKey}": [...]}`, name);
  }
  const d = doc as Record<string, unknown>;
  return { version: typeof d['version'] === 'number' ? d['version'] : -1, items: d[listKey] as unknown[] };
}

export interface DumpResult {
  torrents: number;
  peers: number;
  users: number;
}

export async function dumpCache(dir: string, progress?: Progress): Promise<DumpResult> {
  const torrents = await loadTorrentRecords(dir, progress);
  const users = await loadUserRecords(dir, progress);
  await writeJsonLines(join(dir, TORRENT_DUMP_FILE), TORRENT_CACHE_VERSION, 'torrents', torrents.map(torrentToJson));
  await writeJsonLines(join(dir, USER_DUMP_FILE), USER_CACHE_VERSION, 'users', users.map(userToJson));
  return { torrents: torrents.length, peers: countPeers(torrents), users: users.length };
}

export async function restoreCache(dir: string): Promise<DumpResult> {
  const torrentDump = await readJsonLines(join(dir, TORRENT_DUMP_FILE), TORRENT_DUMP_FILE, 'torrents');
  checkVersion(torrentDump.version, TORRENT_CACHE_VERSION, TORRENT_DUMP_FILE);
  const torrents = torrentDump.items.map((t, i) => torrentFromJson(t, `${TORRENT_DUMP_FILE}: torrents[${i}]`));
  const userDump = await readJsonLines(join(dir, USER_DUMP_FILE), USER_DUMP_FILE, 'users');
  checkVersion(userDump.version, USER_CACHE_VERSION, USER_DUMP_FILE);
  const users = userDump.items.map((u, i) => userFromJson(u, `${USER_DUMP_FILE}: users[${i}]`));
  // Both parsed before either is written: a bad user dump leaves the .bin files untouched.
  await saveTorrentRecords(join(dir, TORRENT_CACHE_FILE), torrents);
  await saveUserRecords(join(dir, USER_CACHE_FILE), users);
  return { torrents: torrents.length, peers: countPeers(torrents), users: users.length };
}

function checkVersion(version: number, expected: number, name: string): void {
  if (version !== expected) {
    throw new DumpFormatError(`"version" is ${version}; this build restores version ${expected}`, name);
  }
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
  for (let i = 0; i < length; i++) out += PASSKEY_ALPHABET[randomInt(PASSKEY_ALPHABET.length)];
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

