/**
 * The five accounting tables (plus torrent revivals): the columns of a queued
 * row of each, how two rows of the same key combine, and the SQL that writes a
 * chunk of them (SPEC §6).
 *
 * Combining rules, for a row `older` met by a row `newer` of the same key:
 * additive fields add, "latest" fields take newer's value, first-time fields
 * (starttime, snatched_time) keep older's, last_action keeps the larger.
 */

import type { Batch } from './queue.js';
import { SqlText } from './sql-text.js';

export type QueueName = 'users' | 'torrents' | 'transfer_history' | 'transfer_ips' | 'transfer_ips6' | 'snatches' | 'revivals';

export const queueNames: readonly QueueName[] = [
  'users',
  'torrents',
  'transfer_history',
  'transfer_ips',
  'transfer_ips6',
  'snatches',
  'revivals',
];

/**
 * What a table knows how to do with its rows. A row is `keyWidth` uint32 key
 * columns and `valueWidth` float64 value columns (see RowQueue); the column
 * layout of each table is spelled out beside it.
 */
export interface Table {
  readonly name: QueueName;
  readonly keyWidth: number;
  readonly valueWidth: number;
  /**
   * Folds an older row (a batch going back after a failed flush) into the newer
   * row waiting for the same key: nv[n…] is the newer row's values, ov[o…] the older's.
   */
  readonly absorbOlder: (nv: Float64Array, n: number, ov: Float64Array, o: number) => void;
  /** One statement writing rows order[from…to) of the batch. */
  statement(batch: Batch, order: Uint32Array, from: number, to: number): string;
  /** Value columns holding raw bytes up and down, for the shutdown report. */
  readonly bytesColumns: readonly [number, number] | undefined;
}

// ---------------------------------------------------------------------------
// Statements are written into one SqlText (clamped numbers, no string trees);
// building one is synchronous, so the tables share it.

const sql = new SqlText();

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
 * `delta` is never negative (SqlText.nat), so `max - delta` cannot overflow.
 */
function saturatingAdd(column: string, delta: string, max: string): string {
  return `IF(${column} > ${max} - ${delta}, ${max}, ${column} + ${delta})`;
}

// ---------------------------------------------------------------------------

const usersTail =
  ') AS d ON u.ID = d.ID ' +
  `SET u.Uploaded = ${saturatingAdd('u.Uploaded', 'd.up', BIGINT_UNSIGNED_MAX)}, ` +
  `u.Downloaded = ${saturatingAdd('u.Downloaded', 'd.down', BIGINT_UNSIGNED_MAX)}, ` +
  `u.rawup = ${saturatingAdd('u.rawup', 'd.rawup', BIGINT_UNSIGNED_MAX)}, ` +
  `u.rawdl = ${saturatingAdd('u.rawdl', 'd.rawdl', BIGINT_UNSIGNED_MAX)}`;

/** users_main rows: key [ID]; values: */
export const UserColumn = {
  up: 0,
  down: 1,
  rawUp: 2,
  rawDown: 3,
} as const;

/**
 * users_main. Never inserts: the chunk is a derived table joined to the
 * existing rows, so a user deleted meanwhile is simply not matched.
 */
export const usersTable: Table = {
  name: 'users',
  keyWidth: 1,
  valueWidth: 4,
  absorbOlder(nv, n, ov, o) {
    for (let c = 0; c < 4; c++) nv[n + c]! += ov[o + c]!;
  },
  statement({ keys: K, values: V }, order, from, to) {
    let r = order[from]!;
    let v = r * 4;
    sql
      .begin('UPDATE users_main AS u JOIN (SELECT ')
      .id(K[r]!)
      .text(' AS ID, ')
      .nat(V[v]!)
      .text(' AS up, ')
      .nat(V[v + 1]!);
    sql
      .text(' AS down, ')
      .nat(V[v + 2]!)
      .text(' AS rawup, ')
      .nat(V[v + 3]!)
      .text(' AS rawdl');
    // The other rows as one table value constructor (MariaDB >= 10.3): 3 bytes of
    // syntax per row instead of 18 for ' UNION ALL SELECT '; names come from the first row.
    for (let i = from + 1; i < to; i++) {
      r = order[i]!;
      v = r * 4;
      sql
        .text(i === from + 1 ? ' UNION ALL VALUES (' : ',(')
        .id(K[r]!)
        .char(44)
        .nat(V[v]!)
        .char(44)
        .nat(V[v + 1]!);
      sql
        .char(44)
        .nat(V[v + 2]!)
        .char(44)
        .nat(V[v + 3]!)
        .char(41);
    }
    return sql.text(usersTail).finish();
  },
  bytesColumns: [UserColumn.rawUp, UserColumn.rawDown],
};

const torrentsTail =
  ') AS d ON t.ID = d.ID SET t.Snatched = t.Snatched + d.sn, t.Seeders = d.se, t.Leechers = d.le, ' +
  't.last_action = GREATEST(t.last_action, d.la)';

/** torrents rows: key [ID]; values: */
export const TorrentColumn = {
  snatches: 0,
  seeders: 1,
  leechers: 2,
  lastAction: 3,
} as const;

/** torrents: Snatched adds, counts are the latest, last_action the larger. Never inserts. */
export const torrentsTable: Table = {
  name: 'torrents',
  keyWidth: 1,
  valueWidth: 4,
  absorbOlder(nv, n, ov, o) {
    nv[n + TorrentColumn.snatches]! += ov[o + TorrentColumn.snatches]!;
    if (ov[o + TorrentColumn.lastAction]! > nv[n + TorrentColumn.lastAction]!) {
      nv[n + TorrentColumn.lastAction] = ov[o + TorrentColumn.lastAction]!;
    }
  },
  statement({ keys: K, values: V }, order, from, to) {
    let r = order[from]!;
    let v = r * 4;
    sql.begin('UPDATE torrents AS t JOIN (SELECT ').id(K[r]!).text(' AS ID, ').nat(V[v]!, UINT_MAX).text(' AS sn, ');
    sql
      .int(V[v + 1]!, 0, INT_MAX)
      .text(' AS se, ')
      .int(V[v + 2]!, 0, INT_MAX)
      .text(' AS le, ')
      .int(V[v + 3]!, INT_MIN, INT_MAX)
      .text(' AS la');
    for (let i = from + 1; i < to; i++) {
      r = order[i]!;
      v = r * 4;
      sql
        .text(i === from + 1 ? ' UNION ALL VALUES (' : ',(')
        .id(K[r]!)
        .char(44)
        .nat(V[v]!, UINT_MAX)
        .char(44);
      sql
        .int(V[v + 1]!, 0, INT_MAX)
        .char(44)
        .int(V[v + 2]!, 0, INT_MAX)
        .char(44)
        .int(V[v + 3]!, INT_MIN, INT_MAX)
        .char(41);
    }
    return sql.text(torrentsTail).finish();
  },
  bytesColumns: undefined,
};

/** A pruned torrent a seeder revived goes back to Status 0 (never inserts). Key [ID], no values. */
export const revivalsTable: Table = {
  name: 'revivals',
  keyWidth: 1,
  valueWidth: 0,
  absorbOlder() {},
  statement({ keys: K }, order, from, to) {
    sql.begin('UPDATE torrents SET Status = 0 WHERE ID IN (').id(K[order[from]!]!);
    for (let i = from + 1; i < to; i++) sql.char(44).id(K[order[i]!]!);
    return sql.char(41).finish();
  },
  bytesColumns: undefined,
};

const historyTail =
  ` ON DUPLICATE KEY UPDATE uploaded = ${saturatingAdd('uploaded', 'VALUES(uploaded)', BIGINT_MAX)}, ` +
  `downloaded = ${saturatingAdd('downloaded', 'VALUES(downloaded)', BIGINT_MAX)}, ` +
  'remaining = VALUES(remaining), seeding = VALUES(seeding), activetime = activetime + VALUES(activetime), ' +
  'seedtime = seedtime + VALUES(seedtime), last_announce = VALUES(last_announce), active = VALUES(active), ' +
  'snatched = snatched + VALUES(snatched), starttime = IF(starttime = 0, VALUES(starttime), starttime)';

/** transfer_history rows: key [uid, fid]; values: */
export const HistoryColumn = {
  up: 0,
  down: 1,
  activeTime: 2,
  seedTime: 3,
  snatches: 4,
  /** 0/1, the latest */
  seeding: 5,
  /** the latest */
  remaining: 6,
  /** the latest */
  lastAnnounce: 7,
  /** the first */
  startTime: 8,
  /** 0/1, the latest */
  active: 9,
  /**
   * the latest: remaining = remainingHigh × 2^32 + remaining, so a left above 2^53 − 1 (a
   * magnet's 2^63 − 1) is written exactly; 0 for every left up to 2^53 − 1
   */
  remainingHigh: 10,
} as const;

/** The `remaining` of a history row, exact (see HistoryColumn.remainingHigh). */
function writeRemaining(V: Float64Array, v: number): void {
  const high = V[v + HistoryColumn.remainingHigh]!;
  if (high === 0) sql.nat(V[v + HistoryColumn.remaining]!);
  else sql.text(String((BigInt(high) << 32n) + BigInt(V[v + HistoryColumn.remaining]!)));
}

/**
 * transfer_history upsert. starttime is only set while it is 0, so a row the
 * snatches queue happened to create first still gets its start time.
 */
export const historyTable: Table = {
  name: 'transfer_history',
  keyWidth: 2,
  valueWidth: 11,
  absorbOlder(nv, n, ov, o) {
    nv[n + HistoryColumn.up]! += ov[o + HistoryColumn.up]!;
    nv[n + HistoryColumn.down]! += ov[o + HistoryColumn.down]!;
    nv[n + HistoryColumn.activeTime]! += ov[o + HistoryColumn.activeTime]!;
    nv[n + HistoryColumn.seedTime]! += ov[o + HistoryColumn.seedTime]!;
    nv[n + HistoryColumn.snatches]! += ov[o + HistoryColumn.snatches]!;
    nv[n + HistoryColumn.startTime] = ov[o + HistoryColumn.startTime]!;
  },
  statement({ keys: K, values: V }, order, from, to) {
    sql.begin(
      'INSERT INTO transfer_history (uid, fid, uploaded, downloaded, seeding, starttime, last_announce, ' +
        'activetime, seedtime, active, snatched, remaining) VALUES ',
    );
    for (let i = from; i < to; i++) {
      const r = order[i]!;
      const k = r * 2;
      const v = r * 11;
      sql
        .text(i === from ? '(' : ',(')
        .id(K[k]!)
        .char(44)
        .id(K[k + 1]!)
        .char(44)
        .nat(V[v]!)
        .char(44)
        .nat(V[v + 1]!)
        .char(44);
      sql
        .flag(V[v + HistoryColumn.seeding]!)
        .char(44)
        .int(V[v + HistoryColumn.startTime]!, INT_MIN, INT_MAX)
        .char(44);
      sql
        .int(V[v + HistoryColumn.lastAnnounce]!, INT_MIN, INT_MAX)
        .char(44)
        .nat(V[v + HistoryColumn.activeTime]!, INT_MAX)
        .char(44);
      sql
        .nat(V[v + HistoryColumn.seedTime]!, INT_MAX)
        .char(44)
        .flag(V[v + HistoryColumn.active]!)
        .char(44);
      sql.nat(V[v + HistoryColumn.snatches]!, INT_MAX).char(44);
      writeRemaining(V, v);
      sql.char(41);
    }
    return sql.text(historyTail).finish();
  },
  bytesColumns: [HistoryColumn.up, HistoryColumn.down],
};

const ipsTail =
  ' ON DUPLICATE KEY UPDATE ' +
  `uploaded = ${saturatingAdd('uploaded', 'VALUES(uploaded)', BIGINT_UNSIGNED_MAX)}, ` +
  `downloaded = ${saturatingAdd('downloaded', 'VALUES(downloaded)', BIGINT_UNSIGNED_MAX)}, ` +
  'port = VALUES(port), last_announce = VALUES(last_announce)';

/** transfer_ips rows: key [uid, fid, ip, client_id]; values: */
export const IpColumn = {
  up: 0,
  down: 1,
  /** the latest */
  port: 2,
  /** the latest */
  lastAnnounce: 3,
  /** the first */
  startTime: 4,
} as const;

/** transfer_ips upsert: bytes add, port and last_announce are the latest, starttime on insert. */
export const ipsTable: Table = {
  name: 'transfer_ips',
  keyWidth: 4,
  valueWidth: 5,
  absorbOlder(nv, n, ov, o) {
    nv[n + IpColumn.up]! += ov[o + IpColumn.up]!;
    nv[n + IpColumn.down]! += ov[o + IpColumn.down]!;
    nv[n + IpColumn.startTime] = ov[o + IpColumn.startTime]!;
  },
  statement({ keys: K, values: V }, order, from, to) {
    sql.begin('INSERT INTO transfer_ips (uid, fid, ip, client_id, uploaded, downloaded, port, starttime, last_announce) VALUES ');
    for (let i = from; i < to; i++) {
      const r = order[i]!;
      const k = r * 4;
      const v = r * 5;
      sql
        .text(i === from ? '(' : ',(')
        .id(K[k]!)
        .char(44)
        .id(K[k + 1]!)
        .char(44)
        .nat(K[k + 2]!, UINT_MAX)
        .char(44);
      writeIpRowTail(K[k + 3]!, V, v);
    }
    return sql.text(ipsTail).finish();
  },
  bytesColumns: [IpColumn.up, IpColumn.down],
};

/**
 * `client_id,uploaded,downloaded,port,starttime,last_announce)`: the end of a transfer_ips or
 * transfer_ips6 row, the same columns after their different address.
 */
function writeIpRowTail(clientId: number, V: Float64Array, v: number): void {
  sql
    .nat(clientId, MEDIUMINT_UNSIGNED_MAX)
    .char(44)
    .nat(V[v]!)
    .char(44)
    .nat(V[v + 1]!)
    .char(44);
  sql
    .nat(V[v + IpColumn.port]!, SMALLINT_UNSIGNED_MAX)
    .char(44)
    .nat(V[v + IpColumn.startTime]!, UINT_MAX)
    .char(44);
  sql.nat(V[v + IpColumn.lastAnnounce]!, UINT_MAX).char(41);
}

/**
 * transfer_ips6 (database/migrations/002-transfer-ips6.sql): transfer_ips for announces
 * made from IPv6 addresses, the address as BINARY(16). Key [uid, fid, address as four
 * big-endian words, client_id]; values as transfer_ips (IpColumn).
 */
export const ips6Table: Table = {
  name: 'transfer_ips6',
  keyWidth: 7,
  valueWidth: 5,
  absorbOlder: ipsTable.absorbOlder,
  statement({ keys: K, values: V }, order, from, to) {
    sql.begin('INSERT INTO transfer_ips6 (uid, fid, ip, client_id, uploaded, downloaded, port, starttime, last_announce) VALUES ');
    for (let i = from; i < to; i++) {
      const r = order[i]!;
      const k = r * 7;
      const v = r * 5;
      sql
        .text(i === from ? '(' : ',(')
        .id(K[k]!)
        .char(44)
        .id(K[k + 1]!)
        .text(",X'");
      sql
        .hexWord(K[k + 2]!)
        .hexWord(K[k + 3]!)
        .hexWord(K[k + 4]!)
        .hexWord(K[k + 5]!)
        .text("',");
      writeIpRowTail(K[k + 6]!, V, v);
    }
    return sql.text(ipsTail).finish();
  },
  bytesColumns: [IpColumn.up, IpColumn.down],
};

/** transfer_history.snatched_time: the first snatch's time, kept once set. Key [uid, fid], value [time]. */
export const snatchesTable: Table = {
  name: 'snatches',
  keyWidth: 2,
  valueWidth: 1,
  absorbOlder(nv, n, ov, o) {
    nv[n] = ov[o]!;
  },
  statement({ keys: K, values: V }, order, from, to) {
    sql.begin('INSERT INTO transfer_history (uid, fid, snatched_time) VALUES ');
    for (let i = from; i < to; i++) {
      const r = order[i]!;
      sql
        .text(i === from ? '(' : ',(')
        .id(K[r * 2]!)
        .char(44)
        .id(K[r * 2 + 1]!)
        .char(44)
        .int(V[r]!, INT_MIN, INT_MAX)
        .char(41);
    }
    return sql.text(' ON DUPLICATE KEY UPDATE snatched_time = IF(snatched_time = 0, VALUES(snatched_time), snatched_time)').finish();
  },
  bytesColumns: undefined,
};
