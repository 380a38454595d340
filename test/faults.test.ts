import { mkdirSync, rmSync, symlinkSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import type { Logger } from '../src/log.js';
import { eventFileName } from '../src/recorder/csv-recorder.js';
import { peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { PrivateMariaDb } from './helpers/private-mariadb.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';

/**
 * Faults (issue 8): the database dying mid-flush, a reload query failing, a
 * cache folder that cannot be written, a full disk under events/. Each is
 * logged, counted in a metric, and loses no accounted byte; the tracker keeps
 * answering announces throughout.
 */

const live = infoHashBytes(torrents.live);
const PASSKEY = users.normal.passkey;

/** A logger whose JSON lines the test can read. */
function capturingLogger(): { logger: Logger; lines: () => { level: number; msg: string; [k: string]: unknown }[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'info' }, stream);
  return {
    logger,
    lines: () =>
      out
        .flatMap((l) => l.split('\n'))
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

function announcePath(peer: number, uploaded: number, downloaded: number, left = 0): string {
  const peerId = percentEncodeBytes(Buffer.from(peerIdOf('-TR3000-', peer)));
  return `/${PASSKEY}/announce?info_hash=${percentEncodeBytes(live)}&peer_id=${peerId}&port=6881&uploaded=${uploaded}&downloaded=${downloaded}&left=${left}&ip=8.8.8.8`;
}

async function metricValue(t: RunningTracker, name: string, labels = ''): Promise<number> {
  const text = await t.tracker.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function userBytes(conn: TestDatabase['conn'], id: number): Promise<{ up: number; down: number; rawUp: number; rawDown: number }> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID = ?', [id]);
  const r = rows[0]!;
  return { up: Number(r['Uploaded']), down: Number(r['Downloaded']), rawUp: Number(r['rawup']), rawDown: Number(r['rawdl']) };
}

describe('the database killed in the middle of a flush', () => {
  let server: PrivateMariaDb;
  let db: TestDatabase;
  let t: RunningTracker | undefined;
  beforeAll(async () => {
    server = await PrivateMariaDb.create();
  });
  afterAll(async () => {
    await t?.tracker.stop(10_000).catch(() => undefined);
    await db?.drop().catch(() => undefined);
    await server?.destroy();
  });

  it('puts the batch back, logs and counts the errors, and writes every byte once the server is back', async () => {
    db = await createTestDatabase('hayate_faults', server.rootUrl);
    await loadFixtures(db.conn);
    const log = capturingLogger();
    t = await startTracker({ db, tracker: { logger: log.logger } });
    const before = await userBytes(db.conn, users.normal.id);

    // Peers 1..5 arrive (baselines: no credit), and that is flushed.
    for (let p = 1; p <= 5; p++) expect((await t.get(announcePath(p, 1_000, 0))).status).toBe(200);
    await t.tracker.accounting.flushNow();

    // Hold users_main's row lock from another session, so the next users flush is stuck inside
    // its UPDATE when the server dies: a flush cut off mid-statement, not a lost COMMIT.
    const locker = await createConnection({ host: '127.0.0.1', port: server.port, user: 'root', database: db.name });
    await locker.query('BEGIN');
    await locker.query('SELECT * FROM users_main WHERE ID = ? FOR UPDATE', [users.normal.id]);
    let expectedUp = 0;
    let expectedDown = 0;
    for (let p = 1; p <= 5; p++) {
      expect((await t.get(announcePath(p, 1_000 + 7_000 * p, 300 * p))).status).toBe(200);
      expectedUp += 7_000 * p;
      expectedDown += 300 * p;
    }
    await eventually(
      async () => {
        const [rows] = await locker.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE users_main%'",
        );
        return Number(rows[0]!['n']) > 0 ? true : undefined;
      },
      20_000,
      'the users flush to be waiting on the lock',
    );
    const errorsBefore = await metricValue(t, 'hayate_sql_errors_total', '{queue="users"}');

    await server.kill();
    // Announces keep being answered while the database is down, and keep accounting.
    for (let p = 1; p <= 5; p++) {
      const res = await t.get(announcePath(p, 1_000 + 7_000 * p + 50_000, 300 * p + 100));
      expect(res.body.toString('latin1')).toMatch(/^d8:completei/);
      expectedUp += 50_000;
      expectedDown += 100;
    }
    await eventually(
      async () => ((await metricValue(t!, 'hayate_sql_errors_total', '{queue="users"}')) > errorsBefore ? true : undefined),
      20_000,
      'failed users flushes counted',
    );
    expect(t.tracker.accounting.depths().users).toBe(1);
    expect(log.lines().some((l) => l.level >= 50 && /flush/.test(l.msg) && l['queue'] === 'users')).toBe(true);

    await server.start();
    const conn = await createConnection({ host: '127.0.0.1', port: server.port, user: 'root', database: db.name });
    try {
      const after = await eventually(
        async () => {
          const got = await userBytes(conn, users.normal.id);
          return got.rawUp === before.rawUp + expectedUp ? got : undefined;
        },
        60_000,
        'every byte in users_main after the restart',
      );
      // Exactly once: the cut-off statement was rolled back by the server, and written again whole.
      expect(after).toEqual({
        up: before.up + expectedUp,
        down: before.down + expectedDown,
        rawUp: before.rawUp + expectedUp,
        rawDown: before.rawDown + expectedDown,
      });
      // transfer_history has a flusher (and a backoff) of its own: wait for it as well.
      const historyUp = await eventually(
        async () => {
          const [history] = await conn.query<RowDataPacket[]>('SELECT uploaded FROM transfer_history WHERE uid = ? AND fid = ?', [
            users.normal.id,
            torrents.live.id,
          ]);
          const up = Number(history[0]!['uploaded']);
          return up >= 9 * 1024 ** 3 + expectedUp ? up : undefined;
        },
        60_000,
        'every byte in transfer_history after the restart',
      );
      expect(historyUp).toBe(9 * 1024 ** 3 + expectedUp);
    } finally {
      await conn.end();
      locker.destroy();
    }
    const report = await t.tracker.stop(10_000);
    expect(report.flush.complete).toBe(true);
    t = undefined;
  });
});

describe('faults around a running tracker', () => {
  let t: RunningTracker;
  const clockMs = Date.UTC(2024, 5, 1, 12, 30); // a fixed hour for the events file
  const log = capturingLogger();
  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.record_announces = true;
      },
      tracker: { logger: log.logger, clock: () => clockMs },
    });
  });
  afterAll(() => t.close());

  it('a failing reload keeps the previous data, is logged, and counted in hayate_reload_failures_total', async () => {
    const failuresBefore = await metricValue(t, 'hayate_reload_failures_total', '{source="torrents"}');
    await t.db.conn.query('RENAME TABLE torrents TO torrents_away');
    try {
      expect(await t.tracker.reloader.reload()).toBe(false);
    } finally {
      await t.db.conn.query('RENAME TABLE torrents_away TO torrents');
    }
    expect(await metricValue(t, 'hayate_reload_failures_total', '{source="torrents"}')).toBe(failuresBefore + 1);
    expect(log.lines().some((l) => l.level >= 50 && l.msg.includes('reload failed') && l['source'] === 'torrents')).toBe(true);
    // Torrents still known (the old set was kept): the announce is answered, not "does not exist".
    expect(t.tracker.store.torrents.size).toBe(Object.keys(torrents).length);
    const res = await t.get(announcePath(40, 0, 0));
    expect(res.body.toString('latin1')).toMatch(/^d8:completei/);
    expect(await t.tracker.reloader.reload()).toBe(true);
  });

  it('a cache folder that cannot be written: writeCache fails, logged and counted; announces go on', async () => {
    expect(await t.tracker.writeCache()).toBe(true);
    const failuresBefore = await metricValue(t, 'hayate_serialization_failures_total');
    // Tests run as root, so permissions would not stop a write: make the folder a regular file.
    const saved = { torrents: readFileSync(join(t.dir, 'torrent-cache.bin')) };
    rmSync(t.dir, { recursive: true, force: true });
    writeFileSync(t.dir, 'not a folder');
    try {
      expect((await t.get(announcePath(41, 0, 0))).status).toBe(200);
      expect(await t.tracker.writeCache()).toBe(false);
      expect(await metricValue(t, 'hayate_serialization_failures_total')).toBe(failuresBefore + 1);
      expect(log.lines().some((l) => l.level >= 50 && l.msg.includes('writing the cache files failed'))).toBe(true);
      const res = await t.get(announcePath(41, 500, 0));
      expect(res.body.toString('latin1')).toMatch(/^d8:completei/);
    } finally {
      rmSync(t.dir, { force: true });
      mkdirSync(t.dir);
    }
    expect(saved.torrents.length).toBeGreaterThan(0);
    expect(await t.tracker.writeCache()).toBe(true);
    expect(existsSync(join(t.dir, 'torrent-cache.bin'))).toBe(true);
  });

  it('a full disk under events/: the recorder counts errors, keeps the rows, and the announce path is unaffected', async () => {
    expect(await t.tracker.recorder!.flush()).toBe(true); // rows of earlier tests go to disk first
    const events = join(t.dir, 'events');
    mkdirSync(events, { recursive: true });
    const file = join(events, eventFileName(Math.floor(clockMs / 3_600_000)));
    rmSync(file, { force: true });
    symlinkSync('/dev/full', file); // every write: ENOSPC (this hour's rows start again in a new file)
    const errorsBefore = await metricValue(t, 'hayate_recorder_errors_total');
    try {
      for (let n = 0; n < 20; n++) {
        const res = await t.get(announcePath(60 + n, n === 0 ? 0 : 10, 0));
        expect(res.body.toString('latin1')).toMatch(/^d8:completei/);
      }
      expect(await t.tracker.recorder!.flush()).toBe(false);
      expect(await metricValue(t, 'hayate_recorder_errors_total')).toBeGreaterThan(errorsBefore);
      expect(t.tracker.recorder!.buffered()).toBe(19);
      expect(log.lines().some((l) => l.level >= 50 && l.msg.includes('announce recorder cannot write'))).toBe(true);
      // Announces are still answered while the recorder fails.
      expect((await t.get(announcePath(99, 5, 0))).status).toBe(200);
    } finally {
      rmSync(file, { force: true });
    }
    // Space again: every kept row is written, with the header once.
    expect(await t.tracker.recorder!.flush()).toBe(true);
    const lines = readFileSync(file, 'latin1').trim().split('\n');
    expect(lines[0]).toBe('TorrentID,UserID,Addr,Event,Uploaded,Downloaded,Left');
    expect(lines.length).toBe(1 + 20); // 19 kept rows + the announce made during the outage
  });
});
