import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadFixtures } from '../fixtures/load.js';
import { torrents, users } from '../fixtures/site.js';
import { counterValue } from './helpers/flush-setup.js';
import { encodeBytes } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { serverAddress } from './helpers/server-address.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';
import { createLogger } from '../src/log.js';

/** A logger that keeps the lines logged at error level or above (a missing privilege shows there first). */
function errorCollector(): { logger: ReturnType<typeof createLogger>; errors: string[] } {
  const errors: string[] = [];
  const logger = createLogger({ level: 'error' }, { write: (line: string) => void errors.push(line.trim()) });
  return { logger, errors };
}

// The privileges docs/database.md tells operators to grant, run as written: a tracker whose
// database user has exactly those must reload, flush every queue and purge without an SQL error,
// and each grant must be needed (without it, something fails).

const repo = fileURLToPath(new URL('..', import.meta.url));
const documented = readFileSync(`${repo}docs/database.md`, 'utf8');

/** The statements between the `<!-- NAME:start -->` and `<!-- NAME:end -->` markers of docs/database.md. */
function documentedStatements(name = 'grants'): string[] {
  const from = documented.indexOf(`<!-- ${name}:start -->`);
  const to = documented.indexOf(`<!-- ${name}:end -->`);
  expect(from, `docs/database.md has <!-- ${name}:start -->`).toBeGreaterThan(-1);
  expect(to, `docs/database.md has <!-- ${name}:end -->`).toBeGreaterThan(from);
  return documented
    .slice(from, to)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^(CREATE USER|GRANT) /.test(line))
    .map((line) => line.replace(/;$/, ''));
}

const JOURNAL_MIGRATION = `${repo}database/migrations/001-hayate-journal-positions.sql`;
const IPV6_MIGRATION = `${repo}database/migrations/002-transfer-ips6.sql`;

/** Runs a migration file as the database owner would (root here), comments and all. */
async function migrate(db: TestDatabase, file: string): Promise<void> {
  const text = readFileSync(file, 'utf8').replace(/^\s*--.*$/gm, '');
  for (const statement of text.split(';')) if (statement.trim() !== '') await db.conn.query(statement);
}

/** A GET over a socket of `host`'s family (::1 for IPv6). */
function getOver(host: string, port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A statement made to apply to this test's database and user. */
function forTest(statement: string, database: string, user: string, password: string): string {
  return statement
    .replaceAll('chihaya.', `\`${database}\`.`)
    .replaceAll("'hayate'@'127.0.0.1'", `'${user}'@'127.0.0.1'`)
    .replace("'change-me'", `'${password}'`);
}

const hex = (h: string) => encodeBytes(Buffer.from(h, 'hex'));
const announcePath = (passkey: string, infoHashHex: string, peerId: string, rest: string) =>
  `/${passkey}/announce?info_hash=${hex(infoHashHex)}&peer_id=${peerId}&port=51413&compact=1&${rest}`;

interface Outcome {
  started: boolean;
  reloaded: boolean;
  reloadFailures: number;
  flushed: boolean;
  sqlErrors: number;
  purged: boolean;
  /** Lines logged at error level or above. */
  errors: string[];
  answers: string[];
}

/**
 * Runs a tracker as `user` over `db`: the first load and one more full reload, announces that
 * fill every accounting queue (a snatch, a revived pruned torrent, a TrackerHide user), a flush
 * of every queue, and the purge with the clock past peer_inactivity.
 */
async function exercise(db: TestDatabase, user: string, password: string): Promise<Outcome> {
  const log = errorCollector();
  const root = new URL(inject('dbRootUrl'));
  const dsn = `mysql://${user}:${password}@${root.host}/${db.name}`;
  let run: RunningTracker | undefined;
  try {
    try {
      // The crash journal's own table and its grant are documented beside these (database.md); this
      // test checks chihaya's tables, so the journal (which would refuse to start without its table) is off.
      run = await startTracker({
        db,
        configure: (config) => {
          config.database.dsn = dsn;
          config.journal.enabled = false;
        },
        tracker: { logger: log.logger },
      });
    } catch {
      // hayate refuses to start when the database refuses it (e.g. SELECT denied on a table it loads).
      return {
        started: false,
        reloaded: false,
        reloadFailures: 0,
        flushed: false,
        sqlErrors: 0,
        purged: false,
        errors: log.errors,
        answers: [],
      };
    }
    const { tracker } = run;
    const reloaded = await tracker.reloader.reload();
    const answers: string[] = [];
    const peer = '-TR3000-grants000001';
    for (const path of [
      announcePath(users.normal.passkey, torrents.live.infoHashHex, peer, 'uploaded=0&downloaded=0&left=1000&event=started'),
      announcePath(users.normal.passkey, torrents.live.infoHashHex, peer, 'uploaded=4000&downloaded=1000&left=0&event=completed'),
      announcePath(users.hidden.passkey, torrents.pruned.infoHashHex, '-TR3000-grants000002', 'uploaded=0&downloaded=0&left=0'),
    ]) {
      answers.push((await run.get(path)).body.toString('latin1'));
    }
    const flush = await tracker.accounting.flushNow();
    const purge = await tracker.purge.runOnce(Math.floor(Date.now() / 1000) + tracker.config.intervals.peer_inactivity + 60);
    return {
      started: true,
      reloaded,
      reloadFailures: await counterValue(tracker.metrics.reloadFailures),
      flushed: flush.ok,
      sqlErrors: await counterValue(tracker.metrics.sqlErrors),
      purged: purge.deactivatedRows !== undefined,
      errors: log.errors,
      answers,
    };
  } finally {
    // A failing flush would be retried until the stop deadline: give it none.
    await run?.tracker.stop(1);
    await run?.close();
  }
}

/**
 * With `announce.ipv6` on, as `user`: start (which checks transfer_ips6), two announces over ::1
 * with traffic, a flush of every queue. Start-up refusing counts as a failure.
 */
async function exerciseIpv6(
  db: TestDatabase,
  user: string,
  password: string,
): Promise<{ started: boolean; flushed: boolean; sqlErrors: number; answers: string[] }> {
  const root = new URL(inject('dbRootUrl'));
  const dsn = `mysql://${user}:${password}@${root.host}/${db.name}`;
  let run: RunningTracker | undefined;
  try {
    try {
      run = await startTracker({
        db,
        host: '::',
        configure: (config) => {
          config.database.dsn = dsn;
          config.announce.ipv6 = true;
          config.journal.enabled = false;
        },
      });
    } catch {
      return { started: false, flushed: false, sqlErrors: 0, answers: [] };
    }
    const { tracker } = run;
    const answers: string[] = [];
    const peer = '-TR3000-grants000006';
    for (const rest of ['uploaded=0&downloaded=0&left=1000&event=started', 'uploaded=6000&downloaded=600&left=400']) {
      answers.push(await getOver('::1', run.port, announcePath(users.normal.passkey, torrents.live.infoHashHex, peer, rest)));
    }
    const flush = await tracker.accounting.flushNow();
    return { started: true, flushed: flush.ok, sqlErrors: await counterValue(tracker.metrics.sqlErrors), answers };
  } finally {
    await run?.tracker.stop(1);
    await run?.close();
  }
}

describe('the database privileges of docs/database.md', () => {
  let admin: Connection;
  const created: string[] = [];

  beforeAll(async () => {
    admin = await createConnection(serverAddress(inject('dbRootUrl')));
  });
  afterAll(async () => {
    for (const user of created) await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
    await admin.end();
  });

  /** A fresh database with the fixtures and a user made by `statements`. */
  async function setUp(statements: string[], migration?: string): Promise<{ db: TestDatabase; user: string; password: string }> {
    const db = await createTestDatabase('hayate_grants');
    await loadFixtures(db.conn);
    // The owner runs the migrations first (docs/database.md): a table-level GRANT needs the table.
    await migrate(db, JOURNAL_MIGRATION);
    if (migration !== undefined) await migrate(db, migration);
    const user = `hayate_g${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    created.push(user);
    for (const statement of statements) await admin.query(forTest(statement, db.name, user, password));
    return { db, user, password };
  }

  it('are enough: reload, flush of every queue and purge run without an SQL error, and every write arrives', async () => {
    const statements = documentedStatements();
    expect(statements.filter((s) => s.startsWith('GRANT ')).length).toBeGreaterThanOrEqual(7);
    const { db, user, password } = await setUp(statements);
    try {
      const rows = async (sql: string, params: unknown[] = []) => (await db.conn.query<RowDataPacket[]>(sql, params))[0];
      const accountOf = async () =>
        (await rows('SELECT Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID = ?', [users.normal.id]))[0]!;
      const historyOf = async () =>
        (
          await rows('SELECT uploaded, downloaded, snatched, snatched_time, active FROM transfer_history WHERE uid = ? AND fid = ?', [
            users.normal.id,
            torrents.live.id,
          ])
        )[0]!;
      const before = await accountOf();
      const historyBefore = await historyOf();
      const outcome = await exercise(db, user, password);
      expect(outcome).toMatchObject({
        started: true,
        reloaded: true,
        reloadFailures: 0,
        flushed: true,
        sqlErrors: 0,
        purged: true,
        errors: [],
      });
      for (const answer of outcome.answers) expect(answer).not.toContain('failure reason');

      expect(await accountOf()).toEqual({
        Uploaded: before['Uploaded'] + 4000,
        Downloaded: before['Downloaded'] + 1000,
        rawup: before['rawup'] + 4000,
        rawdl: before['rawdl'] + 1000,
      });
      // (Seeders and Leechers: the purge has dropped the peers by now, and the flusher may be writing that.)
      const [live] = await rows('SELECT Snatched, last_action FROM torrents WHERE ID = ?', [torrents.live.id]);
      expect(live!['Snatched']).toBe(torrents.live.snatched + 1);
      expect(live!['last_action']).toBeGreaterThan(torrents.live.lastAction);
      const [revived] = await rows('SELECT Status FROM torrents WHERE ID = ?', [torrents.pruned.id]);
      expect(revived!['Status']).toBe(0);
      const history = await historyOf();
      expect(history['uploaded']).toBe(historyBefore['uploaded'] + 4000);
      expect(history['downloaded']).toBe(historyBefore['downloaded'] + 1000);
      expect(history['snatched']).toBe(historyBefore['snatched'] + 1);
      expect(history['active']).toBe(0); // the purge, its clock past peer_inactivity
      const [hidden] = await rows('SELECT ip FROM transfer_ips WHERE uid = ? AND fid = ?', [users.hidden.id, torrents.pruned.id]);
      expect(hidden!['ip']).toBe(0x7f000001);
    } finally {
      await db.drop();
    }
  });

  it('without SELECT on hayate_journal_positions, a start with the journal ends in one line naming the table (it waited for ever)', async () => {
    const statements = documentedStatements().map((s) =>
      s.includes('hayate_journal_positions') ? s.replace(/^GRANT (.+?) ON /, 'GRANT INSERT, UPDATE ON ') : s,
    );
    const { db, user, password } = await setUp(statements);
    try {
      const root = new URL(inject('dbRootUrl'));
      const started = startTracker({
        db,
        configure: (config) => {
          config.database.dsn = `mysql://${user}:${password}@${root.host}/${db.name}`;
          config.journal.enabled = true;
        },
      });
      await expect(started).rejects.toThrow(
        /^the database refused: SELECT command denied .*hayate_journal_positions.*\(database\.dsn mysql:\/\/[^:]+:\*\*\*@.*needs SELECT, INSERT, UPDATE on hayate_journal_positions/,
      );
    } finally {
      await db.drop();
    }
  });

  it('are each needed: without any one of them, the start, the reload, a flush or the purge fails, or an error is logged', async () => {
    const statements = documentedStatements();
    // hayate_journal_positions is left out here: without a privilege on it the journal waits for its
    // positions (logged) and flushes never come back, which this loop cannot bound; its SELECT,
    // INSERT and UPDATE are what src/flush/positions.ts runs, and the test above shows them enough.
    const grants = statements.filter((s) => s.startsWith('GRANT ') && !s.includes('hayate_journal_positions'));
    for (const grant of grants) {
      // Without the grant entirely, and (for grants of several privileges) without each one of them.
      const privileges = /^GRANT (.+?) ON /.exec(grant)![1]!.split(', ');
      const variants =
        privileges.length === 1
          ? ['']
          : privileges.map((p) => grant.replace(/^GRANT (.+?) ON /, `GRANT ${privileges.filter((q) => q !== p).join(', ')} ON `));
      for (const variant of variants) {
        const { db, user, password } = await setUp(statements.map((s) => (s === grant ? variant : s)).filter((s) => s !== ''));
        try {
          const outcome = await exercise(db, user, password);
          const failed =
            outcome.errors.length > 0 ||
            !outcome.started ||
            !outcome.reloaded ||
            outcome.reloadFailures > 0 ||
            !outcome.flushed ||
            outcome.sqlErrors > 0 ||
            !outcome.purged;
          expect(failed, `${variant || 'no'} instead of ${grant}: nothing failed, so the documented grant is more than needed`).toBe(true);
        } finally {
          await db.drop();
        }
      }
    }
  }, 120_000);

  it('with announce.ipv6: the migration run by the owner and the IPv6 grant are enough, and the grant is needed', async () => {
    const ipv6 = documentedStatements('grants-ipv6');
    expect(ipv6.length).toBeGreaterThanOrEqual(1);
    {
      const { db, user, password } = await setUp([...documentedStatements(), ...ipv6], IPV6_MIGRATION);
      try {
        const outcome = await exerciseIpv6(db, user, password);
        expect({ ...outcome, answers: undefined }).toMatchObject({ started: true, flushed: true, sqlErrors: 0 });
        for (const answer of outcome.answers) expect(answer).not.toContain('failure reason');
        const [rows] = await db.conn.query<RowDataPacket[]>(
          'SELECT INET6_NTOA(ip) AS ip, uploaded, downloaded FROM transfer_ips6 WHERE uid = ? AND fid = ?',
          [users.normal.id, torrents.live.id],
        );
        expect(rows).toEqual([{ ip: '::1', uploaded: 6000, downloaded: 600 }]);
      } finally {
        await db.drop();
      }
    }
    {
      const { db, user, password } = await setUp(documentedStatements(), IPV6_MIGRATION);
      try {
        const outcome = await exerciseIpv6(db, user, password);
        expect(!outcome.started || !outcome.flushed || outcome.sqlErrors > 0, 'without the IPv6 grant something fails').toBe(true);
      } finally {
        await db.drop();
      }
    }
  }, 60_000);
});
