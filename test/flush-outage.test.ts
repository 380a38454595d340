import type { Pool, RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPool } from '../src/database/pool.js';
import { AccountingQueues, type AccountingQueuesOptions } from '../src/flush/index.js';
import { createLogger, silentLogger, type Logger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { ensurePositionsTable, type JournalPositionSource } from '../src/flush/positions.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { openCommitCutter, openFreezableRelay, type FreezableRelay } from './helpers/db-relay.js';
import { counterValue, eventually, flushConfig } from './helpers/flush-setup.js';
import { freePort } from './helpers/net.js';
import { PrivateMariaDb } from './helpers/private-mariadb.js';

const USERS = 20;
const TORRENTS = 10;

/** What the database must end up holding, tallied as the records are queued. */
class Expected {
  users = new Map<number, { up: number; down: number; rawUp: number; rawDown: number }>();
  history = new Map<string, { up: number; down: number; activetime: number; snatched: number }>();
  ips = new Map<string, { up: number; down: number }>();
  snatched = new Map<number, number>();
}

/** One synthetic announce's worth of sink calls. */
function announce(sink: AccountingQueues, expected: Expected, n: number, now: number): void {
  const uid = 1 + (n % USERS);
  const fid = 1 + (Math.floor(n / USERS) % TORRENTS);
  const rawUp = 1000 + (n % 997);
  const rawDown = 500 + (n % 499);
  const snatch = n % 37 === 0 ? 1 : 0;
  sink.user(uid, rawUp, rawDown, 2 * rawUp, rawDown);
  const u = expected.users.get(uid) ?? { up: 0, down: 0, rawUp: 0, rawDown: 0 };
  u.up += 2 * rawUp;
  u.down += rawDown;
  u.rawUp += rawUp;
  u.rawDown += rawDown;
  expected.users.set(uid, u);
  sink.transferHistory(uid, fid, rawUp, rawDown, 30, 0, snatch, snatch === 1, 0, now, now, true);
  const h = expected.history.get(`${uid}:${fid}`) ?? { up: 0, down: 0, activetime: 0, snatched: 0 };
  h.up += rawUp;
  h.down += rawDown;
  h.activetime += 30;
  h.snatched += snatch;
  expected.history.set(`${uid}:${fid}`, h);
  const ip = 0x0a000000 + (n % 3);
  sink.transferIp(uid, fid, ip, 1, rawUp, rawDown, 6881, now, now);
  const i = expected.ips.get(`${uid}:${fid}:${ip}`) ?? { up: 0, down: 0 };
  i.up += rawUp;
  i.down += rawDown;
  expected.ips.set(`${uid}:${fid}:${ip}`, i);
  sink.torrent(fid, snatch, n % 5, n % 7, now);
  expected.snatched.set(fid, (expected.snatched.get(fid) ?? 0) + snatch);
  if (snatch) sink.snatch(uid, fid, now);
}

async function actual(conn: TestDatabase['conn']): Promise<Expected> {
  const out = new Expected();
  const [users] = await conn.query<RowDataPacket[]>('SELECT ID, Uploaded, Downloaded, rawup, rawdl FROM users_main');
  for (const r of users) {
    if (r['rawup'] > 0 || r['rawdl'] > 0)
      out.users.set(r['ID'], { up: r['Uploaded'], down: r['Downloaded'], rawUp: r['rawup'], rawDown: r['rawdl'] });
  }
  const [history] = await conn.query<RowDataPacket[]>('SELECT uid, fid, uploaded, downloaded, activetime, snatched FROM transfer_history');
  for (const r of history)
    out.history.set(`${r['uid']}:${r['fid']}`, {
      up: r['uploaded'],
      down: r['downloaded'],
      activetime: r['activetime'],
      snatched: r['snatched'],
    });
  const [ips] = await conn.query<RowDataPacket[]>('SELECT uid, fid, ip, uploaded, downloaded FROM transfer_ips');
  for (const r of ips) out.ips.set(`${r['uid']}:${r['fid']}:${r['ip']}`, { up: r['uploaded'], down: r['downloaded'] });
  const [torrents] = await conn.query<RowDataPacket[]>('SELECT ID, Snatched FROM torrents');
  for (const r of torrents) if (r['Snatched'] > 0) out.snatched.set(r['ID'], r['Snatched']);
  return out;
}

function sorted(e: Expected): unknown {
  const s = <V>(m: Map<string | number, V>) => [...m.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return { users: s(e.users), history: s(e.history), ips: s(e.ips), snatched: s(e.snatched) };
}

async function seed(db: TestDatabase): Promise<void> {
  for (let id = 1; id <= USERS; id++) {
    await db.conn.query(`INSERT INTO users_main (ID, Enabled, torrent_pass) VALUES (?, '1', ?)`, [id, String(id).padStart(32, 'k')]);
  }
  for (let id = 1; id <= TORRENTS; id++) {
    await db.conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (?, 1, 'music', ?)`, [id, Buffer.alloc(20, id)]);
  }
}

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('a database that dies and comes back', () => {
  let server: PrivateMariaDb;
  let db: TestDatabase;
  let pool: Pool;
  let metrics: Metrics;
  let queues: AccountingQueues | undefined;

  beforeAll(async () => {
    server = await PrivateMariaDb.create();
  });
  afterAll(async () => {
    await server?.destroy();
  });
  afterEach(async () => {
    if (!server.running) await server.start();
    await queues?.stop(10_000);
    queues = undefined;
    metrics.close();
    await pool.end();
    await db.drop().catch(() => undefined);
  });

  async function setUp(logger: Logger = silentLogger(), options: AccountingQueuesOptions = {}): Promise<AccountingQueues> {
    db = await createTestDatabase('hayate_outage', server.rootUrl);
    await seed(db);
    pool = openPool(db.dsn);
    metrics = new Metrics({ defaultMetrics: false });
    queues = new AccountingQueues(pool, flushConfig(db.dsn), metrics, logger, { backoffMinMs: 50, backoffMaxMs: 400, ...options });
    return queues;
  }

  /** A logger at debug whose lines land in `lines`, parsed. */
  function capture(lines: LogLine[]): Logger {
    return createLogger({ level: 'debug' }, { write: (line) => void lines.push(JSON.parse(line) as LogLine) });
  }

  /** The test connection died with the server; open a new one. */
  async function reconnect(): Promise<void> {
    const { createConnection } = await import('mysql2/promise');
    const url = new URL(db.dsn);
    db.conn = await createConnection({ host: url.hostname, port: Number(url.port), user: 'root', database: db.name });
  }

  it('keeps every record queued while the server is down and writes all of it, exactly, once it is back', async () => {
    const lines: LogLine[] = [];
    const sink = await setUp(capture(lines));
    const expected = new Expected();
    sink.start();
    let n = 0;
    for (; n < 2000; n++) announce(sink, expected, n, 1_700_000_000 + n);
    // Let the first batches land, then make sure no flush is in flight when the server dies
    // (a COMMIT cut off mid-way is the one case hayate can only guarantee at-least-once for).
    await sink.flushNow();
    await server.kill();
    const errorsBefore = await counterValue(metrics.sqlErrors);

    // Announces keep coming while it is down; the flushers fail, back off, and keep the records.
    for (; n < 12_000; n++) {
      announce(sink, expected, n, 1_700_000_000 + n);
      if (n % 500 === 0) await turn();
    }
    await eventually(
      () => counterValue(metrics.sqlErrors),
      (e) => e >= errorsBefore + 3,
      'failed flushes while the server is down',
    );
    const depths = sink.depths();
    expect(depths.users).toBe(USERS);
    expect(depths.transfer_history).toBe(USERS * TORRENTS);

    await server.start();
    await reconnect();
    await eventually(
      async () => sorted(await actual(db.conn)),
      (got) => JSON.stringify(got) === JSON.stringify(sorted(expected)),
      'every byte in the database',
      60_000,
    );
    await eventually(
      () => Object.values(sink.depths()).reduce((a, b) => a + b, 0),
      (d) => d === 0,
      'empty queues',
    );
    const report = await sink.stop(10_000);
    queues = undefined;
    expect(report.complete).toBe(true);
    expect(sorted(await actual(db.conn))).toEqual(sorted(expected));

    // The outage in the log: per queue, one error line naming the error (not one per
    // backoff), the repeats at debug, and one line when writing works again.
    for (const queue of ['users', 'torrents', 'transfer_history', 'transfer_ips'] as const) {
      const errors = lines.filter((l) => l.level >= 50 && l.queue === queue);
      expect(errors.map((l) => l.msg)).toEqual(['flush failed; records stay queued']);
      expect(errors[0]!.err).toMatchObject({ type: 'Error', code: expect.stringMatching(/^[A-Z_]+$/) });
      expect(errors[0]!.err).not.toHaveProperty('stack');
      const again = lines.filter(
        (l) => l.msg === 'flush: writing again; the records kept while it failed are in the database' && l.queue === queue,
      );
      expect(again).toHaveLength(1);
      expect(again[0]!.failedRounds).toBeGreaterThanOrEqual(1);
    }
  });

  it('says "still failing" with the rounds and seconds so far, as often as it is set to', async () => {
    const lines: LogLine[] = [];
    const sink = await setUp(capture(lines), { stillFailingEveryMs: 0 });
    const expected = new Expected();
    await server.kill();
    sink.start();
    for (let n = 0; n < 2000; n++) announce(sink, expected, n, 1_700_000_000 + n); // every torrent gets a snatch (actual() reads Snatched > 0)
    await eventually(
      () => lines.filter((l) => l.queue === 'users' && l.level >= 50).length,
      (n) => n >= 3,
      'three failed rounds of the users queue logged',
    );
    const users = lines.filter((l) => l.queue === 'users' && l.level >= 50);
    expect(users[0]!.msg).toBe('flush failed; records stay queued');
    expect(users[0]!.records).toBe(USERS);
    const still = users.slice(1);
    expect(still.every((l) => l.msg === 'flush: still failing; records stay queued')).toBe(true);
    expect(still.map((l) => l.failedRounds)).toEqual(still.map((_, i) => i + 2));
    expect(still[0]!.waiting).toBe(USERS);
    expect(still[0]!.err).toMatchObject({ code: expect.stringMatching(/^[A-Z_]+$/) });

    await server.start();
    await reconnect();
    const report = await sink.stop(30_000);
    queues = undefined;
    expect(report.complete).toBe(true);
    expect(sorted(await actual(db.conn))).toEqual(sorted(expected));
  });

  it('stop() with the server down reports what is left unflushed; a later flushAll writes it', async () => {
    const sink = await setUp();
    const expected = new Expected();
    await server.kill();
    let up = 0;
    for (let n = 0; n < 3000; n++) {
      announce(sink, expected, n, 1_700_000_000 + n);
    }
    for (const h of expected.history.values()) up += h.up;
    const report = await sink.stop(300);
    expect(report.complete).toBe(false);
    expect(report.remaining.transfer_history.keys).toBe(USERS * TORRENTS);
    expect(report.remaining.transfer_history.uploaded).toBe(up);
    expect(report.remaining.users.keys).toBe(USERS);

    await server.start();
    await reconnect();
    const second = await sink.flushAll(30_000);
    queues = undefined;
    expect(second.complete).toBe(true);
    expect(sorted(await actual(db.conn))).toEqual(sorted(expected));
  });
});

describe('a database that stops answering (frozen, a lost network): connections stay open, no answer comes', () => {
  let db: TestDatabase;
  let relay: FreezableRelay;
  let pool: Pool;
  let metrics: Metrics;
  let sink: AccountingQueues | undefined;

  async function setUp(options: AccountingQueuesOptions): Promise<AccountingQueues> {
    db = await createTestDatabase('hayate_frozen');
    await seed(db);
    const port = await freePort();
    const root = new URL(inject('dbRootUrl'));
    relay = await openFreezableRelay(port, root);
    pool = openPool(`mysql://${root.username}:${root.password}@127.0.0.1:${port}/${db.name}`);
    metrics = new Metrics({ defaultMetrics: false });
    sink = new AccountingQueues(pool, flushConfig(db.dsn), metrics, silentLogger(), { backoffMinMs: 50, backoffMaxMs: 200, ...options });
    return sink;
  }
  /**
   * Writes a first batch (so the pool holds open connections: a round's statements are then
   * sent and go unanswered, rather than a new connection timing out), queues a second, and
   * freezes the database. Returns what the database must end up holding.
   */
  async function freezeWithConnectionsOpen(queues: AccountingQueues): Promise<Expected> {
    const expected = new Expected();
    let n = 0;
    for (; n < 2000; n++) announce(queues, expected, n, 1_700_000_000 + n);
    expect((await queues.flushNow()).ok).toBe(true);
    for (; n < 4000; n++) announce(queues, expected, n, 1_700_000_000 + n);
    relay.freeze();
    return expected;
  }

  afterEach(async () => {
    relay.thaw();
    await sink?.stop(10_000);
    sink = undefined;
    metrics.close();
    await pool.end();
    await relay.close();
    await db.drop();
  });

  it('a round whose statement gets no answer fails at the statement limit (not held for ever by a ROLLBACK queued behind it); thawed, every byte is written once', async () => {
    const queues = await setUp({ statementTimeoutMs: 2_000 });
    const expected = await freezeWithConnectionsOpen(queues);
    // On a pooled connection: the statement is sent and never answered.
    expect((await queues.flushNow('users')).ok).toBe(false);
    expect(queues.depths().users).toBe(USERS);
    relay.thaw();
    await eventually(
      async () => (await queues.flushNow()).ok && Object.values(queues.depths()).every((d) => d === 0),
      (done) => done,
      'every queue written after the thaw',
      60_000,
    );
    expect(sorted(await actual(db.conn))).toEqual(sorted(expected));
  });

  it('a stop gives up a round still waiting at its deadline: it reports what is left; thawed, a later flushAll writes it once', async () => {
    // The statement limit is far beyond the stop's: only the stop's own deadline can end the round.
    const queues = await setUp({ statementTimeoutMs: 120_000 });
    const expected = await freezeWithConnectionsOpen(queues);
    const report = await queues.stop(500);
    expect(report.complete).toBe(false);
    expect(report.remaining.users.keys).toBe(USERS);
    expect(report.remaining.transfer_history.keys).toBe(USERS * TORRENTS);
    relay.thaw();
    // The abandoned rounds' connections were closed before COMMIT: the server rolled them back.
    const second = await queues.flushAll(30_000);
    expect(second.complete).toBe(true);
    expect(sorted(await actual(db.conn))).toEqual(sorted(expected));
  });
});

describe('an SQL error that is not a deadlock', () => {
  it('keeps the work queued until the statement can succeed', async () => {
    const db = await createTestDatabase();
    const pool = openPool(db.dsn);
    const metrics = new Metrics({ defaultMetrics: false });
    const sink = new AccountingQueues(pool, flushConfig(db.dsn), metrics, silentLogger(), { backoffMinMs: 50, backoffMaxMs: 200 });
    try {
      await db.conn.query('RENAME TABLE transfer_ips TO transfer_ips_away');
      sink.start();
      sink.transferIp(1, 2, 3, 4, 100, 200, 6881, 10, 10);
      await eventually(
        () => counterValue(metrics.sqlErrors, 'transfer_ips'),
        (e) => e >= 2,
        'failing flushes',
      );
      expect(sink.depths().transfer_ips).toBe(1);
      sink.transferIp(1, 2, 3, 4, 1, 2, 6882, 11, 11);
      await db.conn.query('RENAME TABLE transfer_ips_away TO transfer_ips');
      const [rows] = await eventually(
        async () =>
          (
            await db.conn.query<RowDataPacket[]>(
              'SELECT uploaded, downloaded, CAST(port AS UNSIGNED) AS port, starttime, last_announce FROM transfer_ips',
            )
          )[0],
        (r) => r.length === 1,
        'the transfer_ips row',
      ).then((r) => [r]);
      expect(rows).toEqual([{ uploaded: 101, downloaded: 202, port: 6882, starttime: 10, last_announce: 11 }]);
    } finally {
      await sink.stop(5_000);
      metrics.close();
      await pool.end();
      await db.drop();
    }
  });
});

describe('a COMMIT whose answer is lost (the connection dies once COMMIT is sent)', () => {
  /**
   * The flushers write through a relay that cuts the connection at COMMIT; `journal`
   * stands for the announce journal's position (one per queued announce: the flusher
   * only needs that number and a wait for it to be on disk, docs/crash-safety.md).
   */
  async function setUp(journaled: boolean) {
    const db = await createTestDatabase('hayate_lost_commit');
    await seed(db);
    const relayPort = await freePort();
    const relay = await openCommitCutter(relayPort, new URL(db.dsn));
    const dsn = new URL(db.dsn);
    dsn.port = String(relayPort);
    const pool = openPool(dsn.toString());
    await ensurePositionsTable(pool);
    const metrics = new Metrics({ defaultMetrics: false });
    let appended = 0;
    const journal: JournalPositionSource = { appended: () => appended, durable: () => Promise.resolve() };
    const sink = new AccountingQueues(pool, flushConfig(db.dsn), metrics, silentLogger(), journaled ? { journal } : {});
    const expected = new Expected();
    let n = 0;
    return {
      db,
      relay,
      sink,
      expected,
      announces(count: number) {
        for (const end = n + count; n < end; n++, appended++) announce(sink, expected, n, 1_700_000_000 + n);
      },
      async close() {
        await sink.stop(5_000);
        metrics.close();
        await pool.end();
        await relay.close();
        await db.drop();
      },
    };
  }

  it('with the journal: a round committed without its answer is not written again, one that never committed is', async () => {
    const t = await setUp(true);
    try {
      // COMMIT reaches MariaDB and is answered; the answer is lost. Every queue's round is in doubt.
      t.announces(500);
      t.relay.arm('after');
      expect((await t.sink.flushNow()).ok).toBe(false);
      const cutAfter = t.relay.cuts;
      expect(cutAfter).toBe(5); // users, torrents, transfer_history, transfer_ips, snatches
      expect(sorted(await actual(t.db.conn))).toEqual(sorted(t.expected)); // committed, once
      t.relay.arm(undefined);
      t.announces(500);
      expect((await t.sink.flushNow()).ok).toBe(true); // settles the doubt (committed: dropped), writes the new rows
      expect(sorted(await actual(t.db.conn))).toEqual(sorted(t.expected));

      // COMMIT never reaches MariaDB: the transaction rolls back with the connection.
      const before = structuredClone(sorted(t.expected));
      t.announces(500);
      t.relay.arm('before');
      expect((await t.sink.flushNow()).ok).toBe(false);
      expect(t.relay.cuts - cutAfter).toBe(5);
      expect(sorted(await actual(t.db.conn))).toEqual(before);
      t.relay.arm(undefined);
      await t.sink.flushNow(); // settles the doubt (not committed: put back)
      expect((await t.sink.flushNow()).ok).toBe(true);
      expect(Object.values(t.sink.depths()).every((depth) => depth === 0)).toBe(true);
      expect(sorted(await actual(t.db.conn))).toEqual(sorted(t.expected));
    } finally {
      await t.close();
    }
  });

  it('without the journal the same cut writes the round twice (what the journal position prevents)', async () => {
    const t = await setUp(false);
    try {
      t.announces(500);
      t.relay.arm('after');
      expect((await t.sink.flushNow()).ok).toBe(false);
      t.relay.arm(undefined);
      expect((await t.sink.flushNow()).ok).toBe(true);
      const got = await actual(t.db.conn);
      const user = t.expected.users.get(1)!;
      expect(got.users.get(1)).toEqual({ up: 2 * user.up, down: 2 * user.down, rawUp: 2 * user.rawUp, rawDown: 2 * user.rawDown });
    } finally {
      await t.close();
    }
  });
});
