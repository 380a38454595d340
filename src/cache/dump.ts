/**
 * The JSON form of cache records used by `cc dump` / `cc restore`: info hashes,
 * peer keys and peer_ids in hex, addresses as "a.b.c.d:port". Values that JSON
 * numbers cannot carry exactly are strings: 64-bit integers beyond 2^53 as
 * decimal, and multipliers that are NaN, ±Infinity or -0 as "NaN", "Infinity",
 * "-Infinity", "-0" — so dump then restore gives back the same bytes.
 */
import { ipFromString, ipToString } from '../store/peer.js';
import type { U64 } from './binary.js';
import type { PeerEntry, PeerRecord, TorrentRecord, UserRecord } from './format.js';

/** Bad content in a dump file; names where. */
export class DumpFormatError extends Error {
  constructor(message: string, readonly where: string) {
    super(`${where}: ${message}`);
    this.name = 'DumpFormatError';
  }
}

type Json = Record<string, unknown>;

const hex = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('hex');

function u64Json(v: U64): number | string {
  return typeof v === 'bigint' ? v.toString() : v;
}

function floatJson(v: number): number | string {
  if (Number.isFinite(v) && !Object.is(v, -0)) return v;
  return Object.is(v, -0) ? '-0' : String(v);
}

export function peerToJson({ key, peer }: PeerEntry): Json {
  return {
    key: hex(key),
    peerId: hex(peer.peerId),
    addr: `${ipToString(peer.ip)}:${peer.port}`,
    userId: peer.userId,
    torrentId: peer.torrentId,
    clientId: peer.clientId,
    seeding: peer.seeding,
    uploaded: u64Json(peer.uploaded),
    downloaded: u64Json(peer.downloaded),
    left: u64Json(peer.left),
    startTime: u64Json(peer.startTime),
    lastAnnounce: u64Json(peer.lastAnnounce),
  };
}

export function torrentToJson(t: TorrentRecord): Json {
  return {
    infoHash: hex(t.infoHash),
    id: t.id,
    groupId: t.groupId,
    type: t.type,
    snatched: t.snatched,
    status: t.status,
    lastAction: u64Json(t.lastAction),
    upMultiplier: floatJson(t.upMultiplier),
    downMultiplier: floatJson(t.downMultiplier),
    seeders: t.seeders.map(peerToJson),
    leechers: t.leechers.map(peerToJson),
  };
}

export function userToJson(u: UserRecord): Json {
  // Passkeys are printable ASCII in practice; anything else is kept exact as hex.
  const printable = /^[\x20-\x7e]*$/.test(u.passkey);
  return {
    ...(printable ? { passkey: u.passkey } : { passkeyHex: hex(u.passkey) }),
    id: u.id,
    disableDownload: u.disableDownload,
    trackerHide: u.trackerHide,
    upMultiplier: floatJson(u.upMultiplier),
    downMultiplier: floatJson(u.downMultiplier),
  };
}

// ------------------------------------------------------------------ parsing

class Fields {
  constructor(
    private readonly obj: Json,
    readonly where: string,
  ) {}

  static of(value: unknown, where: string): Fields {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new DumpFormatError('expected an object', where);
    return new Fields(value as Json, where);
  }

  fail(field: string, message: string): never {
    throw new DumpFormatError(message, `${this.where}.${field}`);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined;
  }

  uint(field: string, max: number): number {
    const v = this.obj[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) this.fail(field, `expected an integer 0..${max}`);
    return v;
  }

  bool(field: string): boolean {
    const v = this.obj[field];
    if (typeof v !== 'boolean') this.fail(field, 'expected true or false');
    return v;
  }

  string(field: string): string {
    const v = this.obj[field];
    if (typeof v !== 'string') this.fail(field, 'expected a string');
    return v;
  }

  hexBytes(field: string, length: number | undefined): string {
    const v = this.string(field);
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(v) || (length !== undefined && v.length !== length * 2)) {
      this.fail(field, `expected ${length !== undefined ? `${length} bytes as ` : ''}hex`);
    }
    return Buffer.from(v, 'hex').toString('latin1');
  }

  /** 64-bit integer: a JSON number within 2^53, or a decimal string. */
  int64(field: string, signed: boolean): U64 {
    const v = this.obj[field];
    let big: bigint;
    if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
    else if (typeof v === 'string' && /^-?\d+$/.test(v)) big = BigInt(v);
    else return this.fail(field, 'expected an integer (a decimal string beyond 2^53)');
    const min = signed ? -(2n ** 63n) : 0n;
    const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
    if (big < min || big > max) this.fail(field, `out of range for a ${signed ? 'signed' : 'unsigned'} 64-bit integer`);
    return big >= -BigInt(Number.MAX_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }

  float(field: string): number {
    const v = this.obj[field];
    if (typeof v === 'number') return v;
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    if (v === '-0') return -0;
    return this.fail(field, 'expected a number');
  }

  list(field: string): unknown[] {
    const v = this.obj[field];
    if (!Array.isArray(v)) this.fail(field, 'expected an array');
    return v;
  }
}

export function peerFromJson(value: unknown, where: string): PeerEntry {
  const f = Fields.of(value, where);
  const addr = f.string('addr');
  const match = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(addr);
  const ip = match ? ipFromString(match[1]!) : -1;
  const port = match ? Number(match[2]) : -1;
  if (ip < 0 || port > 0xffff) f.fail('addr', `"${addr}" is not an IPv4 address and port`);
  const peer: PeerRecord = {
    peerId: f.hexBytes('peerId', 20),
    ip,
    port,
    uploaded: f.int64('uploaded', false),
    downloaded: f.int64('downloaded', false),
    left: f.int64('left', false),
    startTime: f.int64('startTime', true),
    lastAnnounce: f.int64('lastAnnounce', true),
    torrentId: f.uint('torrentId', 0xffffffff),
    userId: f.uint('userId', 0xffffffff),
    clientId: f.uint('clientId', 0xffff),
    seeding: f.bool('seeding'),
  };
  return { key: f.hexBytes('key', 24), peer };
}

export function torrentFromJson(value: unknown, where: string): TorrentRecord {
  const f = Fields.of(value, where);
  const type = f.string('type');
  if (!/^[\x01-\xff]{0,8}$/.test(type)) f.fail('type', 'expected at most 8 single-byte characters');
  return {
    infoHash: f.hexBytes('infoHash', 20),
    seeders: f.list('seeders').map((p, i) => peerFromJson(p, `${where}.seeders[${i}]`)),
    leechers: f.list('leechers').map((p, i) => peerFromJson(p, `${where}.leechers[${i}]`)),
    type,
    groupId: f.uint('groupId', 0xffffffff),
    id: f.uint('id', 0xffffffff),
    snatched: f.uint('snatched', 0xffff),
    status: f.uint('status', 0xff),
    lastAction: f.int64('lastAction', true),
    upMultiplier: f.float('upMultiplier'),
    downMultiplier: f.float('downMultiplier'),
  };
}

export function userFromJson(value: unknown, where: string): UserRecord {
  const f = Fields.of(value, where);
  const passkey = f.has('passkeyHex') ? f.hexBytes('passkeyHex', undefined) : f.string('passkey');
  if (!/^[\x00-\xff]*$/.test(passkey)) f.fail('passkey', 'expected single-byte characters (use passkeyHex for raw bytes)');
  return {
    passkey,
    id: f.uint('id', 0xffffffff),
    disableDownload: f.bool('disableDownload'),
    trackerHide: f.bool('trackerHide'),
    upMultiplier: f.float('upMultiplier'),
    downMultiplier: f.float('downMultiplier'),
  };
}
