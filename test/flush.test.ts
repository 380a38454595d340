import type { Pool, RowDataPacket } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPool } from '../src/database/pool.js';
import { AccountingQueues } from '../src/flush/index.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { counterValue, eventually, flushConfig } from './helpers/flush-setup.js';

let db: TestDatabase;
let pool: Pool;
let metrics: Metrics;
let queues: AccountingQueues | undefined;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = openPool(db.dsn);
  metrics = new Metrics({ defaultMetrics: false });
});

afterEach(async () => {
  await queues?.stop(5_000);
  queues = undefined;
  metrics.close();
  await pool.end();
  await db.drop();
});

function make(overrides: Parameters<typeof flushConfig>[1] = () => {}): AccountingQueues {
  queues = new AccountingQueues(pool, flushConfig(db.dsn, overrides), metrics, silentLogger());
  return queues;
}

async function rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const [result] = await db.conn.query<RowDataPacket[]>(sql, params);
  return result as T[];
}

async function addUser(id: number): Promise<void> {
  await db.conn.query(`INSERT INTO users_main (ID, Enabled, torrent_pass) VALUES (?, '1', ?)`, [id, `pk${id}`.padEnd(32, 'x')]);
}

async function addTorrent(id: number, fields: Record<string, number> = {}): Promise<void> {
  await db.conn.query(
    `INSERT INTO torrents (ID, GroupID, TorrentType, info_hash, Snatched, Seeders, Leechers, last_action, Status) VALUES (?, 1, 'anime', ?, ?, ?, ?, ?, ?)`,
    [
      id,
      Buffer.alloc(20, id),
      fields['Snatched'] ?? 0,
      fields['Seeders'] ?? 0,
      fields['Leechers'] ?? 0,
      fields['last_action'] ?? 0,
      fields['Status'] ?? 0,
    ],
  );
}

describe('users_main', () => {
  it('adds credited and raw deltas exactly, merging records of the same user', async () => {
    await addUser(1);
    await addUser(2);
    await db.conn.query('UPDATE users_main SET Uploaded = 1000, rawup = 10 WHERE ID = 1');
    const sink = make();
    const expected = { up1: 1000, down1: 0, rawUp1: 10, rawDown1: 0, up2: 0, down2: 0, rawUp2: 0, rawDown2: 0 };
    for (let i = 1; i <= 300; i++) {
      sink.user(1, i, 2 * i, 3 * i, 4 * i);
      expected.rawUp1 += i;
      expected.rawDown1 += 2 * i;
      expected.up1 += 3 * i;
      expected.down1 += 4 * i;
      sink.user(2, 7, 0, 0, 0);
      expected.rawUp2 += 7;
    }
    sink.user(1, 0, 0, 0, 0); // queues nothing
    expect(sink.depths().users).toBe(2);
    const result = await sink.flushNow('users');
    expect(result).toEqual({ taken: 2, written: 2, ok: true });
    const got = await rows<Record<string, number>>('SELECT ID, Uploaded, Downloaded, rawup, rawdl FROM users_main ORDER BY ID');
    expect(got).toEqual([
      { ID: 1, Uploaded: expected.up1, Downloaded: expected.down1, rawup: expected.rawUp1, rawdl: expected.rawDown1 },
      { ID: 2, Uploaded: expected.up2, Downloaded: expected.down2, rawup: expected.rawUp2, rawdl: expected.rawDown2 },
    ]);
    expect(await counterValue(metrics.flushedRows, 'users')).toBe(2);
    // A second flush adds only what came since.
    sink.user(2, 1, 1, 1, 1);
    await sink.flushNow('users');
    const [u2] = await rows<Record<string, number>>('SELECT Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID = 2');
    expect(u2).toEqual({ Uploaded: 1, Downloaded: 1, rawup: 2101, rawdl: 1 });
  });

  it('never creates a row for a user that is not in the table', async () => {
    await addUser(1);
    const sink = make();
    sink.user(1, 5, 5, 5, 5);
    sink.user(999, 5, 5, 5, 5);
    expect((await sink.flushNow('users')).ok).toBe(true);
    expect(await rows('SELECT ID, Uploaded FROM users_main ORDER BY ID')).toEqual([{ ID: 1, Uploaded: 5 }]);
  });
});

describe('torrents', () => {
  it('adds Snatched, keeps the latest counts and the larger last_action, creates nothing', async () => {
    await addTorrent(1, { Snatched: 10, last_action: 5000 });
    await addTorrent(2, { Snatched: 0, last_action: 100 });
    await addTorrent(3, { Status: 1 });
    const sink = make();
    sink.torrent(1, 1, 5, 6, 4000);
    sink.torrent(1, 2, 7, 8, 3000);
    sink.torrent(2, 0, 1, 0, 900);
    sink.torrent(2, 1, 2, 3, 800);
    sink.torrent(77, 1, 1, 1, 1); // not in the table
    sink.revive(3);
    sink.revive(3);
    await sink.flushNow();
    expect(await rows('SELECT ID, Snatched, Seeders, Leechers, last_action, Status FROM torrents ORDER BY ID')).toEqual([
      { ID: 1, Snatched: 13, Seeders: 7, Leechers: 8, last_action: 5000, Status: 0 },
      { ID: 2, Snatched: 1, Seeders: 2, Leechers: 3, last_action: 900, Status: 0 },
      { ID: 3, Snatched: 0, Seeders: 0, Leechers: 0, last_action: 0, Status: 0 },
    ]);
  });
});

describe('transfer_history and snatches', () => {
  it('adds deltas, keeps the latest state, keeps the first starttime and the first snatch time', async () => {
    await db.conn.query(
      'INSERT INTO transfer_history (uid, fid, uploaded, downloaded, activetime, seedtime, starttime, last_announce, active, snatched, hnr) VALUES (1, 1, 100, 200, 10, 5, 111, 150, 1, 0, 1)',
    );
    const sink = make();
    // existing row (1,1)
    sink.transferHistory(1, 1, 10, 20, 30, 0, 0, false, 500, 200, 190, true);
    sink.transferHistory(1, 1, 1, 2, 3, 4, 1, true, 0, 300, 290, true);
    sink.snatch(1, 1, 300);
    // new row (2,1)
    sink.transferHistory(2, 1, 5, 6, 0, 0, 0, false, 1000, 400, 400, true);
    sink.transferHistory(2, 1, 5, 6, 60, 60, 0, true, 0, 460, 460, false);
    await sink.flushNow('transfer_history');
    await sink.flushNow('snatches');
    // A later snatch of (1,1) does not move snatched_time.
    sink.snatch(1, 1, 999);
    // A snatch arriving before its transfer_history row (3,1) creates the row; starttime follows later.
    sink.snatch(3, 1, 700);
    await sink.flushNow('snatches');
    sink.transferHistory(3, 1, 9, 9, 0, 0, 1, true, 0, 710, 705, true);
    await sink.flushNow('transfer_history');

    expect(
      await rows(
        'SELECT uid, fid, uploaded, downloaded, seeding, seedtime, activetime, hnr, remaining, active, starttime, last_announce, snatched, snatched_time FROM transfer_history ORDER BY uid, fid',
      ),
    ).toEqual([
      {
        uid: 1,
        fid: 1,
        uploaded: 111,
        downloaded: 222,
        seeding: 1,
        seedtime: 9,
        activetime: 43,
        hnr: 1,
        remaining: 0,
        active: 1,
        starttime: 111,
        last_announce: 300,
        snatched: 1,
        snatched_time: 300,
      },
      {
        uid: 2,
        fid: 1,
        uploaded: 10,
        downloaded: 12,
        seeding: 1,
        seedtime: 60,
        activetime: 60,
        hnr: 0,
        remaining: 0,
        active: 0,
        starttime: 400,
        last_announce: 460,
        snatched: 0,
        snatched_time: 0,
      },
      {
        uid: 3,
        fid: 1,
        uploaded: 9,
        downloaded: 9,
        seeding: 1,
        seedtime: 0,
        activetime: 0,
        hnr: 0,
        remaining: 0,
        active: 1,
        starttime: 705,
        last_announce: 710,
        snatched: 1,
        snatched_time: 700,
      },
    ]);
  });

  it('merges many records of one key into a single row', async () => {
    const sink = make();
    let up = 0;
    for (let i = 0; i < 10_000; i++) {
      sink.transferHistory(42, 7, i, 1, 2, 1, 0, true, 0, 1000 + i, 1000, true);
      up += i;
    }
    expect(sink.depths().transfer_history).toBe(1);
    expect(await sink.flushNow('transfer_history')).toEqual({ taken: 1, written: 1, ok: true });
    expect(await rows('SELECT uploaded, downloaded, activetime, seedtime, starttime, last_announce FROM transfer_history')).toEqual([
      { uploaded: up, downloaded: 10_000, activetime: 20_000, seedtime: 10_000, starttime: 1000, last_announce: 10_999 },
    ]);
  });
});

describe('transfer_ips', () => {
  it('adds bytes per (uid, fid, ip, client), keeps latest port and last_announce, first starttime', async () => {
    const sink = make();
    sink.transferIp(1, 1, 0x01020304, 5, 100, 200, 6881, 1000, 900);
    sink.transferIp(1, 1, 0x01020304, 5, 1, 2, 6882, 1100, 950);
    sink.transferIp(1, 1, 0x7f000001, 5, 7, 7, 7000, 1050, 1050);
    sink.transferIp(1, 1, 0x01020304, 6, 3, 3, 1234, 1000, 1000);
    await sink.flushNow('transfer_ips');
    sink.transferIp(1, 1, 0x01020304, 5, 10, 20, 6883, 1200, 1200);
    await sink.flushNow('transfer_ips');
    expect(
      await rows(
        'SELECT uid, fid, ip, client_id, uploaded, downloaded, CAST(port AS UNSIGNED) AS port, starttime, last_announce FROM transfer_ips ORDER BY ip, client_id',
      ),
    ).toEqual([
      { uid: 1, fid: 1, ip: 0x01020304, client_id: 5, uploaded: 111, downloaded: 222, port: 6883, starttime: 900, last_announce: 1200 },
      { uid: 1, fid: 1, ip: 0x01020304, client_id: 6, uploaded: 3, downloaded: 3, port: 1234, starttime: 1000, last_announce: 1000 },
      { uid: 1, fid: 1, ip: 0x7f000001, client_id: 5, uploaded: 7, downloaded: 7, port: 7000, starttime: 1050, last_announce: 1050 },
    ]);
  });
});

describe('background flushing', () => {
  it('writes queued records on its own and a full queue flushes at once instead of waiting the interval', async () => {
    await addUser(1);
    // An hour-long interval: only the capacity trigger (or the first record into an idle queue) can get rows out.
    const sink = make((c) => {
      c.intervals.flush = 3600;
      c.channels.transfer_ips = 10;
    });
    sink.start();
    for (let i = 0; i < 25; i++) sink.transferIp(1, 1, 1000 + i, 1, 1, 1, 7000, 100, 100);
    const count = await eventually(
      async () => (await rows<{ n: number }>('SELECT COUNT(*) AS n FROM transfer_ips'))[0]!.n,
      (n) => n === 25,
      '25 transfer_ips rows',
    );
    expect(count).toBe(25);
    // The rows are visible at COMMIT; the queue counts them written once the flush round has
    // settled its books after that, a moment later.
    await eventually(
      async () => sink.depths().transfer_ips,
      (depth) => depth === 0,
      'transfer_ips queue drained',
    );
  });

  it('an idle flusher picks up the first record after its interval, and stop() writes the rest', async () => {
    await addUser(1);
    const sink = make();
    sink.start();
    sink.user(1, 1, 1, 1, 1);
    await eventually(
      async () => (await rows<{ rawup: number }>('SELECT rawup FROM users_main WHERE ID = 1'))[0]!.rawup,
      (v) => v === 1,
      'first user record',
    );
    sink.user(1, 1, 1, 1, 1);
    const report = await sink.stop(5_000);
    queues = undefined;
    expect(report.complete).toBe(true);
    expect(await rows('SELECT rawup FROM users_main')).toEqual([{ rawup: 2 }]);
  });
});

describe('impossible records', () => {
  it('refuses a record with an ID no row could hold instead of letting it block its chunk', async () => {
    const sink = make();
    sink.transferIp(1, -5, 1, 1, 10, 10, 6881, 1, 1);
    sink.transferIp(1, Number.NaN, 1, 1, 10, 10, 6881, 1, 1);
    sink.transferIp(1, 2, 1, 1, 10, 10, 6881, 1, 1);
    sink.transferHistory(2 ** 31, 1, 1, 1, 0, 0, 0, false, 0, 1, 1, true);
    expect(sink.refused.transfer_ips).toBe(2);
    expect(sink.refused.transfer_history).toBe(1);
    expect((await sink.flushNow()).ok).toBe(true);
    expect(await rows('SELECT uid, fid, uploaded FROM transfer_ips')).toEqual([{ uid: 1, fid: 2, uploaded: 10 }]);
  });
});

describe('counters at the top of their column', () => {
  it('saturate instead of failing the chunk, so the other users of the chunk are still written', async () => {
    await addUser(1);
    await addUser(2);
    await db.conn.query('UPDATE users_main SET Uploaded = 18446744073709551000, rawup = 18446744073709551615 WHERE ID = 1');
    await addTorrent(1);
    await db.conn.query('INSERT INTO transfer_history (uid, fid, uploaded) VALUES (1, 1, 9223372036854775000)');
    await db.conn.query('INSERT INTO transfer_ips (uid, fid, ip, client_id, uploaded) VALUES (1, 1, 134744072, 1, 18446744073709551000)');
    const sink = make();
    sink.user(1, 5_000, 0, 5_000, 0);
    sink.user(2, 7, 0, 7, 0);
    sink.transferHistory(1, 1, 5_000, 0, 0, 0, 0, false, 0, 1, 1, true);
    sink.transferHistory(2, 1, 7, 0, 0, 0, 0, false, 0, 1, 1, true);
    sink.transferIp(1, 1, 134744072, 1, 5_000, 0, 6881, 1, 1);
    expect((await sink.flushNow()).ok).toBe(true);
    const users = await db.conn.query<RowDataPacket[]>({
      sql: 'SELECT ID, Uploaded, rawup FROM users_main ORDER BY ID',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    expect(users[0].map((r) => [String(r['ID']), String(r['Uploaded']), String(r['rawup'])])).toEqual([
      ['1', '18446744073709551615', '18446744073709551615'],
      ['2', '7', '7'],
    ]);
    const [th] = await db.conn.query<RowDataPacket[]>({
      sql: 'SELECT uid, uploaded FROM transfer_history ORDER BY uid',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    expect(th.map((r) => String(r['uploaded']))).toEqual(['9223372036854775807', '7']);
    const [ips] = await db.conn.query<RowDataPacket[]>({
      sql: 'SELECT uploaded FROM transfer_ips',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    expect(String(ips[0]!['uploaded'])).toBe('18446744073709551615');
  });
});
