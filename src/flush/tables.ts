/**
 * The five accounting tables (plus torrent revivals): what a queued record of
 * each holds, how two records of the same key combine, and the SQL that writes
 * a chunk of them (SPEC §6).
 *
 * Combining rules, for a record `older` met by a record `newer` of the same key:
 * additive fields add, "latest" fields take newer's value, first-time fields
 * (starttime, snatched_time) keep older's, last_action keeps the larger.
 */

export type QueueName = 'users' | 'torrents' | 'transfer_history' | 'transfer_ips' | 'snatches' | 'revivals';

export const queueNames: readonly QueueName[] = [
  'users',
  'torrents',
  'transfer_history',
  'transfer_ips',
  'snatches',
  'revivals',
];

export type Key = number | string;

export interface Keyed {
  key: Key;
}

export interface UserRecord extends Keyed {
  id: number;
  up: number;
  down: number;
  rawUp: number;
  rawDown: number;
}

export interface TorrentRecord extends Keyed {
  id: number;
  snatches: number;
  seeders: number;
  leechers: number;
  lastAction: number;
}

export interface HistoryRecord extends Keyed {
  uid: number;
  fid: number;
  up: number;
  down: number;
  activeTime: number;
  seedTime: number;
  snatches: number;
  seeding: boolean;
  remaining: number;
  lastAnnounce: number;
  startTime: number;
  active: boolean;
}

export interface IpRecord extends Keyed {
  uid: number;
  fid: number;
  ip: number;
  clientId: number;
  up: number;
  down: number;
  port: number;
  lastAnnounce: number;
  startTime: number;
}

export interface SnatchRecord extends Keyed {
  uid: number;
  fid: number;
  time: number;
}

export interface RevivalRecord extends Keyed {
  id: number;
}

/** What a table knows how to do with its records. */
export interface Table<R extends Keyed> {
  readonly name: QueueName;
  /** Folds an older record of the same key into a newer one (used when a failed batch goes back). */
  absorbOlder(newer: R, older: R): void;
  /** A stable order (by key columns) so concurrent writers take row locks in the same order. */
  compare(a: R, b: R): number;
  /** One statement writing every record of the chunk. */
  statement(chunk: readonly R[]): string;
  /** Bytes a record carries (raw up, raw down), for the shutdown report. */
  bytes(record: R): [number, number];
}

// ---------------------------------------------------------------------------
// Rendering numbers into SQL. Values are our own numbers, never text; clamping
// them to the column's range means a record can never make its statement fail
// (a failing record would otherwise hold its whole chunk back for ever).

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A non-negative integer no larger than max (NaN and negatives become 0). */
function nat(value: number, max = MAX_SAFE): string {
  if (!(value > 0)) return '0';
  return String(value >= max ? max : Math.floor(value));
}

/** An integer in [min, max] (NaN becomes 0). */
function int(value: number, min: number, max: number): string {
  if (!(value === value)) return '0';
  if (value <= min) return String(min);
  if (value >= max) return String(max);
  return String(Math.trunc(value));
}

/** Database IDs are taken as they are (clamping one would write to another row). */
function id(value: number): string {
  return String(Math.trunc(value));
}

const INT_MAX = 2147483647;
const INT_MIN = -2147483648;
const UINT_MAX = 4294967295;
const MEDIUMINT_UNSIGNED_MAX = 16777215;
const SMALLINT_UNSIGNED_MAX = 65535;

const BIGINT_MAX = '9223372036854775807';
const BIGINT_UNSIGNED_MAX = '18446744073709551615';

/**
 * `column + delta`, saturating at the column's maximum. A plain add that overflows
 * fails the whole statement (error 1690) on every retry, holding back every other
 * record of its chunk for ever; saturating keeps one absurd counter from doing that.
 * `delta` is never negative (nat() above), so `max - delta` cannot overflow.
 */
function saturatingAdd(column: string, delta: string, max: string): string {
  return `IF(${column} > ${max} - ${delta}, ${max}, ${column} + ${delta})`;
}

function bit(value: boolean): string {
  return value ? '1' : '0';
}

/** (uid, fid) order; compared field by field (no arrays: a sort makes ~n log n of these calls). */
function byPair(a: { uid: number; fid: number }, b: { uid: number; fid: number }): number {
  return a.uid - b.uid || a.fid - b.fid;
}

// ---------------------------------------------------------------------------

const usersTail =
  ') AS d ON u.ID = d.ID ' +
  `SET u.Uploaded = ${saturatingAdd('u.Uploaded', 'd.up', BIGINT_UNSIGNED_MAX)}, ` +
  `u.Downloaded = ${saturatingAdd('u.Downloaded', 'd.down', BIGINT_UNSIGNED_MAX)}, ` +
  `u.rawup = ${saturatingAdd('u.rawup', 'd.rawup', BIGINT_UNSIGNED_MAX)}, ` +
  `u.rawdl = ${saturatingAdd('u.rawdl', 'd.rawdl', BIGINT_UNSIGNED_MAX)}`;

/**
 * users_main. Never inserts: the chunk is a derived table joined to the
 * existing rows, so a user deleted meanwhile is simply not matched.
 */
export const usersTable: Table<UserRecord> = {
  name: 'users',
  absorbOlder(newer, older) {
    newer.up += older.up;
    newer.down += older.down;
    newer.rawUp += older.rawUp;
    newer.rawDown += older.rawDown;
  },
  compare: (a, b) => a.id - b.id,
  statement(chunk) {
    // One string built by appending (this runs for every row flushed; no per-row arrays or closures).
    const first = chunk[0]!;
    let sql =
      `UPDATE users_main AS u JOIN (SELECT ${id(first.id)} AS ID, ${nat(first.up)} AS up, ${nat(first.down)} AS down, ` +
      `${nat(first.rawUp)} AS rawup, ${nat(first.rawDown)} AS rawdl`;
    // The other rows as one table value constructor (MariaDB >= 10.3): 3 bytes of
    // syntax per row instead of 18 for ' UNION ALL SELECT '; names come from the first row.
    for (let i = 1; i < chunk.length; i++) {
      const r = chunk[i]!;
      sql += (i === 1 ? ' UNION ALL VALUES (' : ',(') + id(r.id) + ',' + nat(r.up) + ',' + nat(r.down) + ',' + nat(r.rawUp) + ',' + nat(r.rawDown) + ')';
    }
    return sql + usersTail;
  },
  bytes: (r) => [r.rawUp, r.rawDown],
};

/** torrents: Snatched adds, counts are the latest, last_action the larger. Never inserts. */
export const torrentsTable: Table<TorrentRecord> = {
  name: 'torrents',
  absorbOlder(newer, older) {
    newer.snatches += older.snatches;
    if (older.lastAction > newer.lastAction) newer.lastAction = older.lastAction;
  },
  compare: (a, b) => a.id - b.id,
  statement(chunk) {
    const first = chunk[0]!;
    let sql =
      `UPDATE torrents AS t JOIN (SELECT ${id(first.id)} AS ID, ${nat(first.snatches, UINT_MAX)} AS sn, ` +
      `${int(first.seeders, 0, INT_MAX)} AS se, ${int(first.leechers, 0, INT_MAX)} AS le, ${int(first.lastAction, INT_MIN, INT_MAX)} AS la`;
    for (let i = 1; i < chunk.length; i++) {
      const r = chunk[i]!;
      sql +=
        (i === 1 ? ' UNION ALL VALUES (' : ',(') + id(r.id) + ',' + nat(r.snatches, UINT_MAX) + ',' + int(r.seeders, 0, INT_MAX) + ',' +
        int(r.leechers, 0, INT_MAX) + ',' + int(r.lastAction, INT_MIN, INT_MAX) + ')';
    }
    return (
      sql +
      ') AS d ON t.ID = d.ID SET t.Snatched = t.Snatched + d.sn, t.Seeders = d.se, t.Leechers = d.le, ' +
      't.last_action = GREATEST(t.last_action, d.la)'
    );
  },
  bytes: () => [0, 0],
};

/** A pruned torrent a seeder revived goes back to Status 0 (never inserts). */
export const revivalsTable: Table<RevivalRecord> = {
  name: 'revivals',
  absorbOlder() {},
  compare: (a, b) => a.id - b.id,
  statement(chunk) {
    let sql = 'UPDATE torrents SET Status = 0 WHERE ID IN (' + id(chunk[0]!.id);
    for (let i = 1; i < chunk.length; i++) sql += ',' + id(chunk[i]!.id);
    return sql + ')';
  },
  bytes: () => [0, 0],
};

const historyTail =
  ` ON DUPLICATE KEY UPDATE uploaded = ${saturatingAdd('uploaded', 'VALUES(uploaded)', BIGINT_MAX)}, ` +
  `downloaded = ${saturatingAdd('downloaded', 'VALUES(downloaded)', BIGINT_MAX)}, ` +
  'remaining = VALUES(remaining), seeding = VALUES(seeding), activetime = activetime + VALUES(activetime), ' +
  'seedtime = seedtime + VALUES(seedtime), last_announce = VALUES(last_announce), active = VALUES(active), ' +
  'snatched = snatched + VALUES(snatched), starttime = IF(starttime = 0, VALUES(starttime), starttime)';

/**
 * transfer_history upsert. starttime is only set while it is 0, so a row the
 * snatches queue happened to create first still gets its start time.
 */
export const historyTable: Table<HistoryRecord> = {
  name: 'transfer_history',
  absorbOlder(newer, older) {
    newer.up += older.up;
    newer.down += older.down;
    newer.activeTime += older.activeTime;
    newer.seedTime += older.seedTime;
    newer.snatches += older.snatches;
    newer.startTime = older.startTime;
  },
  compare: byPair,
  statement(chunk) {
    let sql =
      'INSERT INTO transfer_history (uid, fid, uploaded, downloaded, seeding, starttime, last_announce, ' +
      'activetime, seedtime, active, snatched, remaining) VALUES ';
    for (let i = 0; i < chunk.length; i++) {
      const r = chunk[i]!;
      sql +=
        (i === 0 ? '(' : ',(') + id(r.uid) + ',' + id(r.fid) + ',' + nat(r.up) + ',' + nat(r.down) + ',' + bit(r.seeding) + ',' +
        int(r.startTime, INT_MIN, INT_MAX) + ',' + int(r.lastAnnounce, INT_MIN, INT_MAX) + ',' + nat(r.activeTime, INT_MAX) + ',' +
        nat(r.seedTime, INT_MAX) + ',' + bit(r.active) + ',' + nat(r.snatches, INT_MAX) + ',' + nat(r.remaining) + ')';
    }
    return sql + historyTail;
  },
  bytes: (r) => [r.up, r.down],
};

const ipsTail =
  ' ON DUPLICATE KEY UPDATE ' +
  `uploaded = ${saturatingAdd('uploaded', 'VALUES(uploaded)', BIGINT_UNSIGNED_MAX)}, ` +
  `downloaded = ${saturatingAdd('downloaded', 'VALUES(downloaded)', BIGINT_UNSIGNED_MAX)}, ` +
  'port = VALUES(port), last_announce = VALUES(last_announce)';

/** transfer_ips upsert: bytes add, port and last_announce are the latest, starttime on insert. */
export const ipsTable: Table<IpRecord> = {
  name: 'transfer_ips',
  absorbOlder(newer, older) {
    newer.up += older.up;
    newer.down += older.down;
    newer.startTime = older.startTime;
  },
  compare: (a, b) => a.uid - b.uid || a.fid - b.fid || a.ip - b.ip || a.clientId - b.clientId,
  statement(chunk) {
    let sql = 'INSERT INTO transfer_ips (uid, fid, ip, client_id, uploaded, downloaded, port, starttime, last_announce) VALUES ';
    for (let i = 0; i < chunk.length; i++) {
      const r = chunk[i]!;
      sql +=
        (i === 0 ? '(' : ',(') + id(r.uid) + ',' + id(r.fid) + ',' + nat(r.ip, UINT_MAX) + ',' + nat(r.clientId, MEDIUMINT_UNSIGNED_MAX) + ',' +
        nat(r.up) + ',' + nat(r.down) + ',' + nat(r.port, SMALLINT_UNSIGNED_MAX) + ',' + nat(r.startTime, UINT_MAX) + ',' +
        nat(r.lastAnnounce, UINT_MAX) + ')';
    }
    return sql + ipsTail;
  },
  bytes: (r) => [r.up, r.down],
};

/** transfer_history.snatched_time: the first snatch's time, kept once set. */
export const snatchesTable: Table<SnatchRecord> = {
  name: 'snatches',
  absorbOlder(newer, older) {
    newer.time = older.time;
  },
  compare: byPair,
  statement(chunk) {
    let sql = 'INSERT INTO transfer_history (uid, fid, snatched_time) VALUES ';
    for (let i = 0; i < chunk.length; i++) {
      const r = chunk[i]!;
      sql += (i === 0 ? '(' : ',(') + id(r.uid) + ',' + id(r.fid) + ',' + int(r.time, INT_MIN, INT_MAX) + ')';
    }
    return sql + ' ON DUPLICATE KEY UPDATE snatched_time = IF(snatched_time = 0, VALUES(snatched_time), snatched_time)';
  },
  bytes: () => [0, 0],
};
