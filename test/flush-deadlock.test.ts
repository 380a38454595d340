import type { Connection, Pool, RowDataPacket } from 'mysql2/promise';
import { createConnection } from 'mysql2/promise';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openPool } from '../src/database/pool.js';
import { AccountingQueues } from '../src/flush/index.js';
import { createLogger, silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { counterValue, eventually, flushConfig } from './helpers/flush-setup.js';

let db: TestDatabase;
let pool: Pool;
let metrics: Metrics;
let blocker: Connection;
let queues: AccountingQueues | undefined;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = openPool(db.dsn);
  metrics = new Metrics({ defaultMetrics: false });
  const url = new URL(db.dsn);
  blocker = await createConnection({ host: url.hostname, port: Number(url.port), user: url.username, database: db.name });
  for (const id of [1, 2]) {
    await db.conn.query(`INSERT INTO users_main (ID, Enabled, torrent_pass) VALUES (?, '1', ?)`, [id, `${'p'.repeat(31)}${id}`]);
  }
});

afterEach(async () => {
  await queues?.stop(5_000);
  queues = undefined;
  await blocker.end();
  metrics.close();
  await pool.end();
  await db.drop();
});

function make(): AccountingQueues {
  // One-second lock waits so a held row lock turns into error 1205 quickly.
  queues = new AccountingQueues(pool, flushConfig(db.dsn), metrics, silentLogger(), {
    lockWaitTimeout: 1,
    backoffMinMs: 50,
    backoffMaxMs: 200,
  });
  return queues;
}

async function users(): Promise<unknown[]> {
  const [rows] = await db.conn.query<RowDataPacket[]>('SELECT ID, Uploaded, rawup FROM users_main ORDER BY ID');
  return rows;
}

it('retries a lock-wait timeout, gives the batch back when retries run out, and writes it exactly once later', async () => {
  const sink = make();
  sink.user(1, 10, 0, 100, 0);
  sink.user(2, 20, 0, 200, 0);
  // Another session holds user 2's row in an open transaction. User 1 sorts first, so the
  // statement updates it, then waits on user 2 and is rolled back as a whole.
  await blocker.query('BEGIN');
  await blocker.query('SELECT * FROM users_main WHERE ID = 2 FOR UPDATE');

  const blocked = await sink.flushNow('users');
  expect(blocked.ok).toBe(false);
  expect(await counterValue(metrics.deadlocks, 'users')).toBe(3); // first try + 2 retries
  expect(await counterValue(metrics.deadlockAborted, 'users')).toBe(1);
  expect(await counterValue(metrics.deadlockSeconds, 'users')).toBeCloseTo(0.05 + 0.1, 5);
  expect(sink.depths().users).toBe(2);
  expect(await users()).toEqual([
    { ID: 1, Uploaded: 0, rawup: 0 },
    { ID: 2, Uploaded: 0, rawup: 0 },
  ]);

  // More arrives for user 1 while the batch waits; it merges with the returned record.
  sink.user(1, 1, 0, 1, 0);
  await blocker.query('COMMIT');
  expect((await sink.flushNow('users')).ok).toBe(true);
  expect(await users()).toEqual([
    { ID: 1, Uploaded: 101, rawup: 11 },
    { ID: 2, Uploaded: 200, rawup: 20 },
  ]);
  expect(sink.depths().users).toBe(0);
});

it('the background flusher keeps retrying while the rows are locked and writes once they are free', async () => {
  const sink = make();
  await blocker.query('BEGIN');
  await blocker.query('UPDATE users_main SET Downloaded = Downloaded + 1 WHERE ID IN (1, 2)');
  sink.start();
  for (let i = 0; i < 50; i++) {
    sink.user(1, 1, 0, 2, 0);
    sink.user(2, 3, 0, 4, 0);
  }
  await eventually(
    () => counterValue(metrics.deadlocks, 'users'),
    (n) => n >= 1,
    'a lock-wait timeout',
  );
  await blocker.query('ROLLBACK');
  await eventually(
    users,
    (rows) =>
      JSON.stringify(rows) ===
      JSON.stringify([
        { ID: 1, Uploaded: 100, rawup: 50 },
        { ID: 2, Uploaded: 200, rawup: 150 },
      ]),
    'the users rows after the lock is released',
  );
  const report = await sink.stop(5_000);
  queues = undefined;
  expect(report.complete).toBe(true);
  // Nothing was applied twice.
  expect(await users()).toEqual([
    { ID: 1, Uploaded: 100, rawup: 50 },
    { ID: 2, Uploaded: 200, rawup: 150 },
  ]);
});

it('a round held by a table lock is logged while it waits, then written once when the lock goes', async () => {
  const lines: string[] = [];
  queues = new AccountingQueues(pool, flushConfig(db.dsn), metrics, createLogger({ level: 'info' }, { write: (l) => void lines.push(l) }), {
    slowRoundMs: 200,
  });
  const sink = queues;
  sink.user(1, 10, 0, 100, 0);
  // A table lock is not a row lock: no error comes back, the statement just waits.
  await blocker.query('LOCK TABLES users_main WRITE');
  const flushing = sink.flushNow('users');
  const warning = await eventually(
    () => lines.map((l) => JSON.parse(l) as { msg: string }).find((l) => l.msg.startsWith('flush: a round is still running')),
    (line) => line !== undefined,
    'the slow-round warning',
  );
  expect(warning).toMatchObject({ queue: 'users', records: 1 });
  await blocker.query('UNLOCK TABLES');
  expect((await flushing).ok).toBe(true);
  expect(await users()).toEqual([
    { ID: 1, Uploaded: 100, rawup: 10 },
    { ID: 2, Uploaded: 0, rawup: 0 },
  ]);
  expect(lines.filter((l) => l.includes('flush: a round is still running'))).toHaveLength(1);
});
