import type { Pool, RowDataPacket } from 'mysql2/promise';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openPool } from '../src/database/pool.js';
import { AccountingQueues } from '../src/flush/index.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { flushConfig } from './helpers/flush-setup.js';

// (user, torrent) queue keys are numbers below 2^22 user IDs and strings from there on;
// either way every pair must stay its own record, merged only with itself.

let db: TestDatabase;
let pool: Pool;
let metrics: Metrics;
let queues: AccountingQueues;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = openPool(db.dsn);
  metrics = new Metrics({ defaultMetrics: false });
  queues = new AccountingQueues(pool, flushConfig(db.dsn), metrics, silentLogger());
});

afterEach(async () => {
  await queues.stop(5_000);
  metrics.close();
  await pool.end();
  await db.drop();
});

const MAX_ID = 2 ** 31 - 1;
const pairs: [number, number][] = [
  [0, 0],
  [0, MAX_ID],
  [1, 0],
  [1, 2],
  [2, 1],
  [2 ** 22 - 1, MAX_ID],
  [2 ** 22 - 1, 0],
  [2 ** 22, 0],
  [2 ** 22, 5],
  [2 ** 22 + 1, 5],
  [2 ** 22 + 1, 6], // uid × 2^31 + fid would round these two onto one number
  [MAX_ID, 1],
  [MAX_ID, 2],
  [MAX_ID, 0],
  [MAX_ID, MAX_ID],
];

it('keeps every (user, torrent) pair apart on both sides of the numeric-key limit, summing each exactly', async () => {
  for (let round = 1; round <= 3; round++) {
    pairs.forEach(([uid, fid], i) => {
      queues.transferHistory(uid, fid, 1000 * (i + 1) * round, i + 1, 10, 0, 0, false, 0, 1_700_000_000 + round, 1_700_000_000, true);
      queues.snatch(uid, fid, 1_600_000_000 + i * 10 + round);
    });
  }
  expect(queues.depths().transfer_history).toBe(pairs.length);
  expect(queues.depths().snatches).toBe(pairs.length);
  expect(await queues.flushNow()).toMatchObject({ ok: true });
  const [rows] = await db.conn.query<RowDataPacket[]>(
    'SELECT uid, fid, uploaded, downloaded, activetime, snatched_time, last_announce FROM transfer_history ORDER BY uid, fid',
  );
  const expected = pairs
    .map(([uid, fid], i) => ({
      uid,
      fid,
      uploaded: 6000 * (i + 1),
      downloaded: 3 * (i + 1),
      activetime: 30,
      snatched_time: 1_600_000_000 + i * 10 + 1, // the first snatch's time stands
      last_announce: 1_700_000_003,
    }))
    .sort((a, b) => a.uid - b.uid || a.fid - b.fid);
  expect(rows).toEqual(expected);
});

it('keeps every (user, torrent, ip, client) tuple apart, whichever 16-bit halves they share', async () => {
  const tuples: [number, number, number, number][] = [
    [1, 1, 1, 1],
    [1, 1, 0x10001, 1], // same low 16 bits as the one above, in each field
    [1, 1, 1, 0x10001],
    [0x10001, 1, 1, 1],
    [1, 0x10001, 1, 1],
    [1, 1, 0x10000, 1], // the ip's halves swapped
    [1, 1, 1, 0x10000],
    [0x10000, 1, 1, 1],
    [1, 0x10000, 1, 1],
    [0x10001, 0x10001, 0x10001, 0x10001],
    [MAX_ID, MAX_ID, 2 ** 32 - 1, 2 ** 24 - 1],
    [0, 0, 0, 0],
    [2, 3, 0xc0a80001, 77],
  ];
  for (let round = 1; round <= 2; round++) {
    tuples.forEach(([uid, fid, ip, client], i) =>
      queues.transferIp(uid, fid, ip, client, 100 * (i + 1), i + 1, 6000 + round, 1_700_000_000 + round, 1_700_000_000),
    );
  }
  expect(queues.depths().transfer_ips).toBe(tuples.length);
  expect(await queues.flushNow('transfer_ips')).toMatchObject({ ok: true, written: tuples.length });
  const [rows] = await db.conn.query<RowDataPacket[]>(
    'SELECT uid, fid, ip, client_id, uploaded, downloaded, port FROM transfer_ips ORDER BY uid, fid, ip, client_id',
  );
  const expected = tuples
    .map(([uid, fid, ip, client], i) => ({ uid, fid, ip, client_id: client, uploaded: 200 * (i + 1), downloaded: 2 * (i + 1), port: 6002 }))
    .sort((a, b) => a.uid - b.uid || a.fid - b.fid || a.ip - b.ip || a.client_id - b.client_id);
  expect(rows).toEqual(expected);
});
