/**
 * The JSON form of cache records used by `cc dump` / `cc restore`: chihaya's cc
 * layout (cmd/cc of anniemaybytes/chihaya v13), so dumps and the scripts that read
 * them move between the two tools unchanged.
 *
 * torrent-cache.json: one object keyed by info hash (40 hex), each torrent
 *   {"DownMultiplier", "Group": {"GroupID", "TorrentType"}, "ID", "LastAction",
 *    "Leechers", "Seeders", "Snatched", "Status", "UpMultiplier"}, the swarms keyed by
 *   peer key (48 hex: user ID u32 LE + peer_id), each peer {"Addr": "a.b.c.d:port",
 *   "Uploaded", "Downloaded", "Left", "StartTime", "LastAnnounce", "TorrentID",
 *   "UserID", "ID" (peer_id, 40 hex), "ClientID", "Seeding"}.
 * user-cache.json: one object keyed by passkey, each user {"DisableDownload",
 *   "DownMultiplier", "ID", "TrackerHide", "UpMultiplier"}.
 *
 * Written as Go's encoding/json writes it (keys sorted, tab indentation, `<>&`
 * escaped, 64-bit integers as exact decimal numbers), so hayate's dump of a file is
 * byte for byte chihaya's — except that chihaya writes each UpMultiplier in place of
 * the DownMultiplier (a bug in its MarshalJSON, which loses the real one); hayate
 * writes the real DownMultiplier. Multipliers JSON cannot hold (NaN, ±Infinity; Go
 * fails the whole dump on them) are the strings "NaN", "Infinity", "-Infinity".
 *
 * Read as Go reads it: field names matched case-insensitively (exact first), unknown
 * fields ignored; stricter where Go silently takes a zero: every field must be there,
 * a repeated key is an error, and numbers must fit their field.
 */
import { ipFromString, ipToString } from '../store/peer.js';
import type { U64 } from './binary.js';
import type { PeerEntry, PeerRecord, TorrentRecord, UserRecord } from './format.js';
import { JsonNumber, type JsonObject, type JsonValue } from './json-stream.js';

/** Bad content in a dump file; names where. */
export class DumpFormatError extends Error {
  constructor(
    message: string,
    readonly where: string,
  ) {
    super(`${where}: ${message}`);
    this.name = 'DumpFormatError';
  }
}

// ------------------------------------------------------------------ writing

const hex = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('hex');

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

/** A JSON string as Go's encoder writes it (HTML-sensitive characters as \u escapes). */
export function goString(text: string): string {
  return JSON.stringify(text).replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Raw bytes (latin1) as the JSON string Go writes for them: UTF-8 text, invalid sequences as U+FFFD. */
function goBytesString(latin1: string): string {
  return goString(Buffer.from(latin1, 'latin1').toString('utf8'));
}

/** A float64 as Go writes it (shortest round-trip digits, same exponent thresholds as JS). */
function goFloat(v: number): string {
  if (Object.is(v, -0)) return '-0';
  if (!Number.isFinite(v)) return `"${String(v)}"`;
  return String(v);
}

const int = (v: U64): string => v.toString();

/**
 * Writes an object of already-serialised member values at `depth`, as Go's
 * indenting encoder does: `{}` when empty, else one member per line.
 */
function goObject(members: readonly (readonly [string, string])[], depth: number): string {
  if (members.length === 0) return '{}';
  const inner = '\n' + '\t'.repeat(depth + 1);
  let out = '{';
  for (let i = 0; i < members.length; i++) {
    const [key, value] = members[i]!;
    out += `${inner}${key}: ${value}${i < members.length - 1 ? ',' : ''}`;
  }
  return `${out}\n${'\t'.repeat(depth)}}`;
}

function peerToGoJson(peer: PeerRecord, depth: number): string {
  return goObject(
    [
      ['"Addr"', `"${ipToString(peer.ip)}:${peer.port}"`],
      ['"Uploaded"', int(peer.uploaded)],
      ['"Downloaded"', int(peer.downloaded)],
      ['"Left"', int(peer.left)],
      ['"StartTime"', int(peer.startTime)],
      ['"LastAnnounce"', int(peer.lastAnnounce)],
      ['"TorrentID"', int(peer.torrentId)],
      ['"UserID"', int(peer.userId)],
      ['"ID"', `"${hex(peer.peerId)}"`],
      ['"ClientID"', int(peer.clientId)],
      ['"Seeding"', String(peer.seeding)],
    ],
    depth,
  );
}

/** A swarm keyed by peer key, sorted by key (Go sorts map keys; a repeated key keeps the last). */
function swarmToGoJson(entries: readonly PeerEntry[], depth: number): string {
  const byKey = new Map<string, PeerRecord>();
  for (const { key, peer } of entries) byKey.set(key, peer);
  const keys = [...byKey.keys()].sort();
  return goObject(
    keys.map((k) => [`"${hex(k)}"`, peerToGoJson(byKey.get(k)!, depth + 1)] as const),
    depth,
  );
}

/** One torrent's value in torrent-cache.json, indented for its place at `depth`. */
export function torrentToGoJson(t: TorrentRecord, depth = 1): string {
  return goObject(
    [
      ['"DownMultiplier"', goFloat(t.downMultiplier)],
      [
        '"Group"',
        goObject(
          [
            ['"GroupID"', int(t.groupId)],
            ['"TorrentType"', goBytesString(t.type)],
          ],
          depth + 1,
        ),
      ],
      ['"ID"', int(t.id)],
      ['"LastAction"', int(t.lastAction)],
      ['"Leechers"', swarmToGoJson(t.leechers, depth + 1)],
      ['"Seeders"', swarmToGoJson(t.seeders, depth + 1)],
      ['"Snatched"', int(t.snatched)],
      ['"Status"', int(t.status)],
      ['"UpMultiplier"', goFloat(t.upMultiplier)],
    ],
    depth,
  );
}

/** One user's value in user-cache.json, indented for its place at `depth`. */
export function userToGoJson(u: UserRecord, depth = 1): string {
  return goObject(
    [
      ['"DisableDownload"', String(u.disableDownload)],
      ['"DownMultiplier"', goFloat(u.downMultiplier)],
      ['"ID"', int(u.id)],
      ['"TrackerHide"', String(u.trackerHide)],
      ['"UpMultiplier"', goFloat(u.upMultiplier)],
    ],
    depth,
  );
}

/** The member key of a torrent: its info hash in hex. */
export function torrentDumpKey(infoHash: string): string {
  return `"${hex(infoHash)}"`;
}

/**
 * The member key of a user: the passkey. Passkeys that are not valid UTF-8 cannot be
 * written in this layout without changing them (chihaya writes U+FFFD for such bytes,
 * so its restore gives that user another passkey): refused.
 */
export function userDumpKey(passkey: string): string {
  const bytes = Buffer.from(passkey, 'latin1');
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) {
    throw new DumpFormatError(
      `passkey ${bytes.toString('hex')} (hex) is not UTF-8 text; chihaya's dump layout cannot hold it`,
      'user-cache.bin',
    );
  }
  return goString(text);
}

// ------------------------------------------------------------------ reading

class Fields {
  private constructor(
    private readonly obj: JsonObject,
    readonly where: string,
  ) {}

  static of(value: JsonValue | undefined, where: string): Fields {
    if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value) || value instanceof JsonNumber) {
      throw new DumpFormatError('expected an object', where);
    }
    return new Fields(value, where);
  }

  fail(field: string, message: string): never {
    throw new DumpFormatError(message, `${this.where}.${field}`);
  }

  /** The field's value: exact name first, else a case-insensitive match (Go's rule). */
  get(field: string): JsonValue {
    if (field in this.obj) return this.obj[field]!;
    const lower = field.toLowerCase();
    for (const k of Object.keys(this.obj)) if (k.toLowerCase() === lower) return this.obj[k]!;
    return this.fail(field, 'missing');
  }

  object(field: string): Fields {
    return Fields.of(this.get(field), `${this.where}.${field}`);
  }

  members(field: string): [string, JsonValue][] {
    const v = this.get(field);
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof JsonNumber) this.fail(field, 'expected an object');
    return Object.entries(v);
  }

  private integer(field: string, min: bigint, max: bigint): bigint {
    const v = this.get(field);
    if (!(v instanceof JsonNumber) || !/^-?\d+$/.test(v.text)) this.fail(field, 'expected an integer');
    const big = BigInt(v.text);
    if (big < min || big > max) this.fail(field, `${v.text} is out of range ${min}..${max}`);
    return big;
  }

  uint(field: string, bits: 8 | 16 | 32): number {
    return Number(this.integer(field, 0n, (1n << BigInt(bits)) - 1n));
  }

  u64(field: string): U64 {
    return narrow(this.integer(field, 0n, 2n ** 64n - 1n));
  }

  i64(field: string): U64 {
    return narrow(this.integer(field, -(2n ** 63n), 2n ** 63n - 1n));
  }

  bool(field: string): boolean {
    const v = this.get(field);
    if (typeof v !== 'boolean') this.fail(field, 'expected true or false');
    return v;
  }

  string(field: string): string {
    const v = this.get(field);
    if (typeof v !== 'string') this.fail(field, 'expected a string');
    return v;
  }

  hexBytes(field: string, length: number): string {
    return hexKey(this.string(field), length, `${this.where}.${field}`);
  }

  float(field: string): number {
    const v = this.get(field);
    if (v instanceof JsonNumber) {
      const f = Number(v.text);
      if (!Number.isFinite(f)) this.fail(field, `${v.text} does not fit a float64`);
      return f;
    }
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    return this.fail(field, 'expected a number');
  }
}

/** A number when exact as a double, else a bigint (as the .bin reader gives them). */
function narrow(big: bigint): U64 {
  return big >= -BigInt(Number.MAX_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function hexKey(text: string, length: number, where: string): string {
  if (text.length !== length * 2 || !/^[0-9a-fA-F]*$/.test(text))
    throw new DumpFormatError(`expected ${length} bytes as hex, got ${JSON.stringify(text.slice(0, 60))}`, where);
  return Buffer.from(text, 'hex').toString('latin1');
}

function peerFromGoJson(keyHex: string, value: JsonValue, where: string): PeerEntry {
  const key = hexKey(keyHex, 24, `${where} (peer key)`);
  const f = Fields.of(value, where);
  const addr = f.string('Addr');
  // Go's rule: the address up to the first ':' must be IPv4, the rest a 16-bit port.
  const colon = addr.indexOf(':');
  const ip = colon > 0 ? ipFromString(addr.slice(0, colon)) : -1;
  const portText = colon > 0 ? addr.slice(colon + 1) : '';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : -1;
  if (ip < 0 || port < 0 || port > 0xffff) f.fail('Addr', `"${addr}" is not an IPv4 address and port`);
  const peer: PeerRecord = {
    peerId: f.hexBytes('ID', 20),
    ip,
    port,
    uploaded: f.u64('Uploaded'),
    downloaded: f.u64('Downloaded'),
    left: f.u64('Left'),
    startTime: f.i64('StartTime'),
    lastAnnounce: f.i64('LastAnnounce'),
    torrentId: f.uint('TorrentID', 32),
    userId: f.uint('UserID', 32),
    clientId: f.uint('ClientID', 16),
    seeding: f.bool('Seeding'),
  };
  return { key, peer };
}

/** A torrent from its member of torrent-cache.json (`hashHex`: the member's key). */
export function torrentFromGoJson(hashHex: string, value: JsonValue, where: string): TorrentRecord {
  const infoHash = hexKey(hashHex, 20, `${where} (info hash)`);
  const f = Fields.of(value, where);
  const group = f.object('Group');
  const type = Buffer.from(group.string('TorrentType'), 'utf8');
  if (type.length > 8) group.fail('TorrentType', 'longer than 8 bytes');
  const swarm = (field: string) => f.members(field).map(([k, v]) => peerFromGoJson(k, v, `${where}.${field}.${k}`));
  return {
    infoHash,
    seeders: swarm('Seeders'),
    leechers: swarm('Leechers'),
    type: type.toString('latin1'),
    groupId: group.uint('GroupID', 32),
    id: f.uint('ID', 32),
    snatched: f.uint('Snatched', 16),
    status: f.uint('Status', 8),
    lastAction: f.i64('LastAction'),
    upMultiplier: f.float('UpMultiplier'),
    downMultiplier: f.float('DownMultiplier'),
  };
}

/** A user from its member of user-cache.json (`passkey`: the member's key). */
export function userFromGoJson(passkey: string, value: JsonValue, where: string): UserRecord {
  const f = Fields.of(value, where);
  return {
    passkey: Buffer.from(passkey, 'utf8').toString('latin1'),
    id: f.uint('ID', 32),
    disableDownload: f.bool('DisableDownload'),
    trackerHide: f.bool('TrackerHide'),
    upMultiplier: f.float('UpMultiplier'),
    downMultiplier: f.float('DownMultiplier'),
  };
}
