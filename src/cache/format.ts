/**
 * chihaya's cache-file format (SPEC §7), record by record.
 *
 * torrent-cache.bin: uvarint version (3), uvarint count, then per torrent:
 *   info_hash[20], uvarint seeders, (peer key[24], peer)*, uvarint leechers, (peer key[24], peer)*,
 *   TorrentType u64 (ASCII, zero-padded), GroupID u32, ID u32, Snatched u16, Status u8,
 *   LastAction i64, UpMultiplier f64, DownMultiplier f64.
 * peer: peer_id[20], IPv4[4] + port[2] big-endian, Uploaded, Downloaded, Left u64,
 *   StartTime, LastAnnounce i64, TorrentID u32, UserID u32, ClientID u16, Seeding u8.
 * user-cache.bin: uvarint version (1), uvarint count, then per user:
 *   uvarint passkey length, passkey, ID u32, DisableDownload u8, TrackerHide u8,
 *   UpMultiplier f64, DownMultiplier f64.
 * All integers little-endian except the address. Versions 1 and 2 of the torrent
 * file (older chihaya) are read too; we always write the current versions.
 */
import type { Peer } from '../store/peer.js';
import { ByteReader, CacheFormatError, ChunkWriter, type U64 } from './binary.js';

export const TORRENT_CACHE_VERSION = 3;
export const USER_CACHE_VERSION = 1;
export const TORRENT_CACHE_FILE = 'torrent-cache.bin';
export const USER_CACHE_FILE = 'user-cache.bin';

/** peer_id + address + 5×8 + 4 + 4 + 2 + 1. */
export const PEER_SIZE = 20 + 6 + 40 + 11;
export const PEER_KEY_SIZE = 24;
/** Everything after the swarms. */
export const TORRENT_TRAILER_SIZE = 8 + 4 + 4 + 2 + 1 + 8 + 8 + 8;

/** A peer as stored: the model Peer's fields, 64-bit ones exact (bigint beyond 2^53). */
export interface PeerRecord {
  peerId: string;
  ip: number;
  port: number;
  uploaded: U64;
  downloaded: U64;
  left: U64;
  startTime: U64;
  lastAnnounce: U64;
  torrentId: number;
  userId: number;
  clientId: number;
  seeding: boolean;
}

export interface PeerEntry<P extends PeerRecord = PeerRecord> {
  /** 24 bytes, latin1: user ID u32 LE + peer_id. */
  key: string;
  peer: P;
}

export interface TorrentRecord<P extends PeerRecord = PeerRecord> {
  /** 20 bytes, latin1. */
  infoHash: string;
  seeders: PeerEntry<P>[];
  leechers: PeerEntry<P>[];
  type: string;
  groupId: number;
  id: number;
  snatched: number;
  status: number;
  lastAction: U64;
  upMultiplier: number;
  downMultiplier: number;
}

export interface UserRecord {
  /** Raw bytes, latin1 (32 ASCII chars in practice). */
  passkey: string;
  id: number;
  disableDownload: boolean;
  trackerHide: boolean;
  upMultiplier: number;
  downMultiplier: number;
}

// ---------------------------------------------------------------- header

export function readHeader(r: ByteReader, maxVersion: number): { version: number; count: number } {
  const version = r.uvarint('version');
  if (version === 0 || version > maxVersion) {
    throw new CacheFormatError(`unknown version ${version} (this build reads versions 1 to ${maxVersion})`, 0);
  }
  const count = r.uvarint('record count');
  return { version, count };
}

export function writeHeader(w: ChunkWriter, version: number, count: number): void {
  w.uvarint(version);
  w.uvarint(count);
}

// ---------------------------------------------------------------- peers

/** Reads one peer. With exact=false the 64-bit fields are always numbers. */
export function readPeer(r: ByteReader, version: number, exact: boolean): PeerRecord {
  const peerId = r.latin1(20, 'peer_id');
  let ip: number;
  let port: number;
  if (version === 1) {
    // v1: IP as text, then a length-prefixed address, then IP and port again (ignored).
    const textLength = r.uvarint('peer IP text length');
    r.latin1(checkedLength(r, textLength, 'peer IP text'), 'peer IP text');
    const addrLength = r.uvarint('peer address length');
    if (addrLength !== 6) throw new CacheFormatError(`peer address length ${addrLength}, expected 6`, r.pos);
    ip = readAddressIp(r);
    port = readAddressPort(r);
    r.u32('peer IP (v1)');
    r.u16('peer port (v1)');
  } else {
    ip = readAddressIp(r);
    port = readAddressPort(r);
  }
  return {
    peerId,
    ip,
    port,
    uploaded: r.u64('peer Uploaded', exact),
    downloaded: r.u64('peer Downloaded', exact),
    left: r.u64('peer Left', exact),
    startTime: r.i64('peer StartTime', exact),
    lastAnnounce: r.i64('peer LastAnnounce', exact),
    torrentId: r.u32('peer TorrentID'),
    userId: r.u32('peer UserID'),
    clientId: r.u16('peer ClientID'),
    seeding: r.u8('peer Seeding') !== 0,
  };
}

function readAddressIp(r: ByteReader): number {
  const at = r.pos;
  r.latin1(4, 'peer IPv4 address');
  return r.buf.readUInt32BE(at);
}

function readAddressPort(r: ByteReader): number {
  const at = r.pos;
  r.latin1(2, 'peer port');
  return r.buf.readUInt16BE(at);
}

function checkedLength(r: ByteReader, length: number, what: string): number {
  if (length > r.remaining) {
    throw new CacheFormatError(`truncated: ${what} claims ${length} bytes, ${r.remaining} left`, r.pos);
  }
  return length;
}

/** Writes a peer; the caller has reserved PEER_SIZE bytes. */
export function writePeer(w: ChunkWriter, p: PeerRecord): void {
  w.latin1(p.peerId.length === 20 ? p.peerId : p.peerId.padEnd(20, '\0').slice(0, 20));
  w.buf.writeUInt32BE(p.ip >>> 0, w.pos);
  w.buf.writeUInt16BE(p.port & 0xffff, w.pos + 4);
  w.pos += 6;
  w.i64(p.uploaded);
  w.i64(p.downloaded);
  w.i64(p.left);
  w.i64(p.startTime);
  w.i64(p.lastAnnounce);
  w.u32(p.torrentId);
  w.u32(p.userId);
  w.u16(p.clientId & 0xffff);
  w.u8(p.seeding ? 1 : 0);
}

/**
 * Writes a model peer with its key, as writePeer would write the record: the peer_id
 * is the key's tail, and the counters, torrent ID and seeding flag come from the swarm
 * being written. The caller has reserved PEER_KEY_SIZE + PEER_SIZE bytes.
 */
export function writeSwarmPeer(
  w: ChunkWriter,
  p: Peer,
  uploaded: U64,
  downloaded: U64,
  left: U64,
  torrentId: number,
  seeding: boolean,
): void {
  const key = p.key.length === PEER_KEY_SIZE ? p.key : p.key.padEnd(PEER_KEY_SIZE, '\0').slice(0, PEER_KEY_SIZE);
  w.latin1(key);
  // peer_id: the 20 key bytes just written, copied (no string made for it).
  w.buf.copy(w.buf, w.pos, w.pos - 20, w.pos);
  w.pos += 20;
  w.buf.writeUInt32BE(p.ip >>> 0, w.pos);
  w.buf.writeUInt16BE(p.port & 0xffff, w.pos + 4);
  w.pos += 6;
  w.i64(uploaded);
  w.i64(downloaded);
  w.i64(left);
  w.i64(p.startTime);
  w.i64(p.lastAnnounce);
  w.u32(torrentId);
  w.u32(p.userId);
  w.u16(p.clientId & 0xffff);
  w.u8(seeding ? 1 : 0);
}

// ---------------------------------------------------------------- torrents

/** TorrentType as uint64 LE of its ASCII bytes: the bytes up to the first zero. */
export function readTorrentType(r: ByteReader): string {
  const raw = r.latin1(8, 'TorrentType');
  const nul = raw.indexOf('\0');
  return nul === -1 ? raw : raw.slice(0, nul);
}

export function writeTorrentType(w: ChunkWriter, type: string): void {
  // chihaya refuses types over 8 bytes; the schema's are 'anime'/'music', so truncating is moot.
  for (let i = 0; i < 8; i++) w.u8(i < type.length ? type.charCodeAt(i) & 0xff : 0);
}

/** Reads the fields after the swarms. */
export function readTorrentTrailer(
  r: ByteReader,
  version: number,
  exact: boolean,
): Omit<TorrentRecord, 'infoHash' | 'seeders' | 'leechers'> {
  let type: string;
  if (version <= 2) {
    // v1/v2: TorrentType as a uvarint-length string of at most 8 bytes.
    const length = r.uvarint('TorrentType length');
    if (length > 8) throw new CacheFormatError(`TorrentType length ${length}, at most 8`, r.pos);
    type = r.latin1(length, 'TorrentType');
  } else {
    type = readTorrentType(r);
  }
  return {
    type,
    groupId: r.u32('GroupID'),
    id: r.u32('torrent ID'),
    snatched: r.u16('Snatched'),
    status: r.u8('Status'),
    lastAction: r.i64('LastAction', exact),
    upMultiplier: r.f64('UpMultiplier'),
    downMultiplier: r.f64('DownMultiplier'),
  };
}

/** Writes the fields after the swarms; the caller has reserved TORRENT_TRAILER_SIZE bytes. */
export function writeTorrentTrailer(w: ChunkWriter, t: Omit<TorrentRecord, 'infoHash' | 'seeders' | 'leechers'>): void {
  writeTorrentType(w, t.type);
  w.u32(t.groupId);
  w.u32(t.id);
  // Snatched is 16 bits in chihaya's format: a torrent snatched more often is written as 65535
  // (the real count lives in the database; the cache value is only a starting point until reload).
  w.u16(Math.min(Math.max(t.snatched, 0), 0xffff));
  w.u8(Math.min(Math.max(t.status, 0), 0xff));
  w.i64(t.lastAction);
  w.f64(t.upMultiplier);
  w.f64(t.downMultiplier);
}

// ---------------------------------------------------------------- users

export function readUser(r: ByteReader): UserRecord {
  const length = r.uvarint('passkey length');
  const passkey = r.latin1(checkedLength(r, length, 'passkey'), 'passkey');
  return {
    passkey,
    id: r.u32('user ID'),
    disableDownload: r.u8('DisableDownload') !== 0,
    trackerHide: r.u8('TrackerHide') !== 0,
    upMultiplier: r.f64('UpMultiplier'),
    downMultiplier: r.f64('DownMultiplier'),
  };
}

export function userRecordSize(u: { passkey: string }): number {
  return 10 + u.passkey.length + 4 + 1 + 1 + 8 + 8;
}

/** Writes a user; the caller has reserved userRecordSize(u) bytes. */
export function writeUser(w: ChunkWriter, u: UserRecord): void {
  w.uvarint(u.passkey.length);
  w.latin1(u.passkey);
  w.u32(u.id);
  w.u8(u.disableDownload ? 1 : 0);
  w.u8(u.trackerHide ? 1 : 0);
  w.f64(u.upMultiplier);
  w.f64(u.downMultiplier);
}
