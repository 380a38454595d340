import type { Torrent, User } from '../store/types.js';
import type { RecordReader, RecordWriter } from './records.js';

/**
 * The two big tables a reload pass reads (SPEC §3), as the reload thread reads them and
 * as their rows travel to the main thread: the query (keyset pages, `ID > ?` and a page
 * size), how a row becomes a record (src/database/records.ts) and how a record is read back.
 * One place for the layout, so the writer (reload-worker.ts) and the reader (reload.ts)
 * cannot disagree.
 */
export interface ReloadTable<Row> {
  readonly name: 'users' | 'torrents';
  /** Parameters: the last ID read (0 first), the page size. */
  readonly sql: string;
  /** Float64s before the key in a record (TableMirror compares keys). */
  readonly numbers: number;
  /**
   * Writes the record of a row (mysql2, rowsAsArray) and returns its ID, or returns
   * undefined, writing nothing, for a row that cannot be loaded (an info_hash that is not
   * 20 bytes cannot be announced).
   */
  encode(row: unknown[], out: RecordWriter): number | undefined;
  /** A database row's key as the main thread's map holds it (passkey; info_hash as latin1). */
  rawKey(row: unknown[]): string;
  /** A decoded row's key. */
  keyOf(row: Row): string;
  /** Reads one record into `into` (reused: no allocation but the key). */
  decode(r: RecordReader, into: Row): void;
}

/** A user as a reload row carries it: the store's User without the reloader's bookkeeping. */
export type UserRow = Omit<User, 'reloadMark'>;

/** A torrent as a reload row carries it: the store's Torrent without its swarms and bookkeeping. */
export type TorrentRow = Omit<Torrent, 'seeders' | 'leechers' | 'reloadMark'>;

/**
 * A FLOAT column's value as MariaDB's text protocol writes it. The binary protocol (the
 * reload's prepared statements) gives the stored float32 widened to a double (1.1 reads
 * 1.100000023841858); the text protocol prints it with 6 significant digits (FLT_DIG),
 * and that is what multipliers were read as before. Whole numbers below 10^6 (the usual
 * 0, 1, 2) are already that.
 */
export function floatColumn(value: unknown): number {
  const x = Number(value);
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return x;
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : x;
}

const DISABLE_DOWNLOAD = 1;
const TRACKER_HIDE = 2;
const INFO_HASH_BYTES = 20;

export const usersTable: ReloadTable<UserRow> = {
  name: 'users',
  sql: `SELECT ID, torrent_pass, UpMultiplier, DownMultiplier, DisableDownload, TrackerHide
          FROM users_main WHERE Enabled = '1' AND ID > ? ORDER BY ID LIMIT ?`,
  numbers: 4,
  encode(row, out) {
    const id = Number(row[0]);
    out.number(id);
    out.number(floatColumn(row[2]));
    out.number(floatColumn(row[3]));
    out.number((Number(row[4]) !== 0 ? DISABLE_DOWNLOAD : 0) | (Number(row[5]) !== 0 ? TRACKER_HIDE : 0));
    out.string(String(row[1]), 'utf8');
    return id;
  },
  rawKey: (row) => String(row[1]),
  keyOf: (row) => row.passkey,
  decode(r, into) {
    into.id = r.number();
    into.upMultiplier = r.number();
    into.downMultiplier = r.number();
    const flags = r.number();
    into.disableDownload = (flags & DISABLE_DOWNLOAD) !== 0;
    into.trackerHide = (flags & TRACKER_HIDE) !== 0;
    into.passkey = r.string('utf8');
  },
};

export const torrentsTable: ReloadTable<TorrentRow> = {
  name: 'torrents',
  sql: `SELECT ID, info_hash, GroupID, TorrentType, Snatched, Status, UpMultiplier, DownMultiplier, last_action
          FROM torrents WHERE TorrentType <> 'internal' AND ID > ? ORDER BY ID LIMIT ?`,
  numbers: 7,
  encode(row, out) {
    const raw = row[1];
    if (!Buffer.isBuffer(raw) || raw.length < INFO_HASH_BYTES) return undefined;
    const id = Number(row[0]);
    out.number(id);
    out.number(Number(row[2]));
    out.number(Number(row[4]));
    out.number(Number(row[5]));
    out.number(floatColumn(row[6]));
    out.number(floatColumn(row[7]));
    out.number(Number(row[8]));
    out.bytes(raw, 0, INFO_HASH_BYTES);
    out.string(String(row[3]), 'utf8');
    return id;
  },
  rawKey: (row) => (Buffer.isBuffer(row[1]) ? row[1].toString('latin1', 0, INFO_HASH_BYTES) : ''),
  keyOf: (row) => row.infoHash,
  decode(r, into) {
    into.id = r.number();
    into.groupId = r.number();
    into.snatched = r.number();
    into.status = r.number();
    into.upMultiplier = r.number();
    into.downMultiplier = r.number();
    into.lastAction = r.number();
    into.infoHash = r.string('latin1');
    into.type = r.string('utf8');
  },
};
