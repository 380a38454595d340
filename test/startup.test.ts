import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { torrents, users, infoHashBytes } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import { createLogger, redactPasskeys } from '../src/log.js';
import { acquireInstanceLock, LOCK_STALE_MS, StartupError } from '../src/startup/checks.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { spawnHayate, type TrackerProcess } from './helpers/process.js';
import { get, startTracker } from './helpers/tracker.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hayate-startup-'));
}

/** Runs the tracker to its exit; returns code, stdout and stderr. */
async function runToExit(cwd: string, args: string[] = [], env: Record<string, string> = {}, wrap: string[] = []) {
  const p = spawnHayate(cwd, args, env, wrap);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** One line on stderr, nothing that looks like a stack trace. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('command line', () => {
  it("--version prints package.json's version on every command", async () => {
    const dir = tempDir();
    try {
      const tracker = await runToExit(dir, ['--version']);
      expect(tracker.code).toBe(0);
      expect(tracker.stdout.trim()).toBe(version);
      const { execFileSync } = await import('node:child_process');
      for (const tool of ['cc', 'bencode']) {
        const out = execFileSync(process.execPath, [join(process.cwd(), `dist/cmd/${tool}.js`), '--version'], { encoding: 'utf8' });
        expect(out.trim(), tool).toBe(version);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown option is a usage error (exit 2), one line', async () => {
    const dir = tempDir();
    try {
      const r = await runToExit(dir, ['--bogus']);
      expect(r.code).toBe(2);
      expectOneLine(r.stderr, /^hayate: unknown option '--bogus'$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad HAYATE_LOG_LEVEL is one line and exit 78', async () => {
    const dir = tempDir();
    try {
      const r = await runToExit(dir, [], { HAYATE_LOG_LEVEL: 'loud' });
      expect(r.code).toBe(78);
      expectOneLine(r.stderr, /^hayate: HAYATE_LOG_LEVEL: unknown level "loud"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a malformed DSN (in the file or in DB_DSN) is one line and exit 78', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ database: { dsn: 'root@127.0.0.1/x' } }));
      const r = await runToExit(dir);
      expect(r.code).toBe(78);
      expectOneLine(r.stderr, /^hayate: database\.dsn: expected user:pass@tcp\(host:port\)\/dbname/);
      const env = await runToExit(dir, [], { DB_DSN: 'mysql://root@[bad/x' });
      expect(env.code).toBe(78);
      expectOneLine(env.stderr, /^hayate: DB_DSN: not a valid URL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an explicit -c naming a missing file is an error, not silent defaults', async () => {
    const dir = tempDir();
    try {
      const r = await runToExit(dir, ['-c', 'missing.json']);
      expect(r.code).toBe(78);
      expectOneLine(r.stderr, /^hayate: configuration file .*missing\.json not found \(given with -c\)$/);
      expect(r.stdout).not.toContain('listening');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bench: an unknown option is one line and exit 2', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [join(process.cwd(), 'dist/bench/run.js'), '--no-such-option'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expectOneLine(r.stderr, /^bench: .*--no-such-option/);
  });
});

describe('start-up against the database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await loadFixtures(db.conn);
  });
  afterAll(async () => {
    await db.drop();
  });

  function configIn(dir: string, dsn: string, port: number, extra: object = {}): void {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ database: { dsn }, http: { addr: `127.0.0.1:${port}` }, ...extra }));
  }

  it.each([
    [
      'an unknown database',
      (u: URL) => `${u.protocol}//${u.username}:${u.password}@${u.host}/hayate_no_such_db_${process.pid}`,
      /Unknown database/,
    ],
    [
      'a user the server refuses',
      (u: URL) => `${u.protocol}//hayate_no_such_user:secret@${u.host}${u.pathname}`,
      /Access denied for user 'hayate_no_such_user'/,
    ],
  ])('%s: one line, exit 78, never listens', async (_name, dsnOf, pattern) => {
    const dir = tempDir();
    try {
      const dsn = dsnOf(new URL(db.dsn));
      configIn(dir, dsn, await freePort());
      const r = await runToExit(dir);
      expect(r.code).toBe(78);
      expectOneLine(r.stderr, new RegExp(`^hayate: the database refused: .*${pattern.source}`));
      expect(r.stderr).not.toContain('secret');
      expect(r.stdout).not.toContain('"listening"');
      // Nothing was loaded, so the log does not speak of keeping previous data.
      expect(r.stdout).toContain('reload failed; no database load yet');
      expect(r.stdout).not.toContain('keeping the previous data');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a DSN from DB_DSN that the server refuses is named as DB_DSN, not the config key', async () => {
    const dir = tempDir();
    try {
      const u = new URL(db.dsn);
      configIn(dir, db.dsn, await freePort());
      const dsn = `${u.protocol}//${u.username}:${u.password}@${u.host}/hayate_no_such_db_${process.pid}`;
      const r = await runToExit(dir, ['-c', 'config.json'], { DB_DSN: dsn });
      expect(r.code).toBe(78);
      expectOneLine(r.stderr, /^hayate: the database refused: .*Unknown database.* \(DB_DSN mysql:/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing default config.json means defaults, said in the log', async () => {
    const dir = tempDir();
    try {
      // Defaults point at chihaya's DSN; DB_DSN (which wins) points at the test database.
      const p = spawnHayate(dir, [], { DB_DSN: db.dsn, HAYATE_LOG_LEVEL: 'info' });
      await p.waitForLog('configuration loaded');
      const line = p.lines().find((l) => l.msg === 'configuration loaded');
      expect(String(line?.['config'])).toMatch(/^defaults \(.*config\.json not found\)$/);
      p.child.kill('SIGKILL');
      await p.exited;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a start without cache files says so (not "cache loaded" with zeros); a restart after a clean stop loads them', async () => {
    const dir = tempDir();
    const started: TrackerProcess[] = [];
    try {
      const env = { DB_DSN: db.dsn, HAYATE_LOG_LEVEL: 'info' };
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ http: { addr: `127.0.0.1:${await freePort()}` } }));
      const first = spawnHayate(dir, [], env);
      started.push(first);
      await first.waitForLog('listening');
      const none = first.lines().find((l) => l.msg === 'no cache files; starting without peers until clients announce');
      expect(none?.['files']).toEqual(['torrent-cache.bin', 'user-cache.bin']);
      expect(first.lines().some((l) => l.msg === 'cache loaded')).toBe(false);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      const second = spawnHayate(dir, [], env);
      started.push(second);
      await second.waitForLog('listening');
      const loaded = second.lines().find((l) => l.msg === 'cache loaded');
      // The cache holds the users the first run loaded: the enabled ones.
      expect(loaded?.['users']).toBe(Object.values(users).filter((u) => u.enabled === '1').length);
      expect(loaded?.['missing']).toBeUndefined();
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      for (const p of started) p.child.kill('SIGKILL');
      await Promise.all(started.map((p) => p.exited));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Resolves 'listening' or the exit code, whichever comes first (a poll with a deadline). */
  async function listeningOrExit(p: TrackerProcess): Promise<number | string> {
    let code: number | string | undefined;
    void p.exited.then((c) => (code = c));
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 25))) {
      if (code !== undefined) return code;
      if (p.lines().some((l) => l.msg === 'listening')) return 'listening';
    }
    throw new Error(`neither listening nor exited within 60 s; stderr: ${p.stderr()}`);
  }

  /** A working directory whose tracker answered two announces of users.normal (1,000 bytes up), then stopped by `signal`. */
  async function announcedThenStopped(signal: 'SIGTERM' | 'SIGKILL', started: TrackerProcess[]): Promise<string> {
    const dir = tempDir();
    const port = await freePort();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ http: { addr: `127.0.0.1:${port}` }, log_flushes: false }));
    const first = spawnHayate(dir, [], { DB_DSN: db.dsn });
    started.push(first);
    await first.waitForLog('listening');
    const path = (up: number) =>
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', 9), left: 10, uploaded: up, ip: '8.8.8.8' })}`;
    expect((await get(port, path(0))).body.toString('latin1')).toMatch(/^d8:complete/);
    expect((await get(port, path(1000))).body.toString('latin1')).toMatch(/^d8:complete/);
    first.child.kill(signal);
    expect(await first.exited).toBe(signal === 'SIGTERM' ? 0 : 'SIGKILL');
    return dir;
  }

  const rawup = async () =>
    Number((await db.conn.query<RowDataPacket[]>('SELECT rawup FROM users_main WHERE ID = ?', [users.normal.id]))[0][0]!['rawup']);
  const positionRows = async () =>
    (await db.conn.query<RowDataPacket[]>("SHOW TABLES LIKE 'hayate_journal_positions'"))[0].length === 0
      ? undefined
      : (await db.conn.query<RowDataPacket[]>('SELECT queue, position FROM hayate_journal_positions ORDER BY queue'))[0];

  it('no hayate_journal_positions while the journal holds announces after a crash (a new or replaced database): refused, one line, exit 78, nothing credited again', async () => {
    const started: TrackerProcess[] = [];
    let dir = '';
    try {
      dir = await announcedThenStopped('SIGKILL', started);
      // The database loses the table (a copy of the site's tables without it, a DROP): the journal
      // holds the announces, and without a clean stop nothing says which of them are in.
      await db.conn.query('DROP TABLE hayate_journal_positions');
      const credited = await rawup();
      const again = spawnHayate(dir, [], { DB_DSN: db.dsn });
      started.push(again);
      expect(await listeningOrExit(again)).toBe(78);
      expectOneLine(
        again.stderr(),
        /^hayate: table hayate_journal_positions is missing but .*journal holds up to [1-9]\d* announces not known to be flushed: .*move .*journal away/,
      );
      expect(await positionRows()).toBeUndefined();
      expect(await rawup()).toBe(credited);

      // The operator's answer for a new database: the journal moved away; the start goes on, credits nothing again.
      renameSync(join(dir, 'journal'), join(dir, 'journal.old'));
      const moved = spawnHayate(dir, [], { DB_DSN: db.dsn });
      started.push(moved);
      expect(await listeningOrExit(moved)).toBe('listening');
      expect(await positionRows()).toEqual([]);
      moved.child.kill('SIGTERM');
      expect(await moved.exited).toBe(0);
      expect(await rawup()).toBe(credited);
    } finally {
      for (const p of started) p.child.kill('SIGKILL');
      await Promise.all(started.map((p) => p.exited));
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no hayate_journal_positions after a clean stop: made with every queue at the stop, and the journal is not credited again', async () => {
    const started: TrackerProcess[] = [];
    let dir = '';
    try {
      const before = await rawup();
      dir = await announcedThenStopped('SIGTERM', started);
      expect(await rawup()).toBe(before + 1000);
      const { position } = JSON.parse(readFileSync(join(dir, 'journal-checkpoint.json'), 'utf8')) as { position: number; clean: boolean };
      expect(position).toBeGreaterThanOrEqual(2);
      await db.conn.query('DROP TABLE hayate_journal_positions');

      const again = spawnHayate(dir, [], { DB_DSN: db.dsn, HAYATE_LOG_LEVEL: 'info' });
      started.push(again);
      expect(await listeningOrExit(again)).toBe('listening');
      expect(again.lines().some((l) => /positions table was missing; made with every queue/.test(l.msg))).toBe(true);
      const rows = (await positionRows())!;
      expect(rows.map((r) => r['queue'])).toEqual([
        'revivals',
        'snatches',
        'torrents',
        'transfer_history',
        'transfer_ips',
        'transfer_ips6',
        'users',
      ]);
      for (const row of rows) expect(Number(row['position'])).toBe(position);
      // A clean stop flushes everything queued: a replayed journal would show here.
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
      expect(await rawup()).toBe(before + 1000);
    } finally {
      for (const p of started) p.child.kill('SIGKILL');
      await Promise.all(started.map((p) => p.exited));
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unwritable working directory is found at start, naming the path and the cause', async () => {
    const dir = tempDir();
    try {
      configIn(dir, db.dsn, await freePort());
      chmodSync(dir, 0o755); // readable by the unprivileged user below, writable by root only
      const r = await runToExit(dir, [], {}, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']);
      expect(r.code).toBe(1);
      expectOneLine(r.stderr, new RegExp(`^hayate: working directory ${dir} is not writable: permission denied \\(EACCES\\)$`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an events folder that cannot be made is found at start (record_announces)', async () => {
    const dir = tempDir();
    try {
      configIn(dir, db.dsn, await freePort(), { record_announces: true });
      writeFileSync(join(dir, 'events'), 'a file where the folder should be');
      const r = await runToExit(dir);
      expect(r.code).toBe(1);
      expectOneLine(
        r.stderr,
        new RegExp(`^hayate: events folder ${join(dir, 'events')} (cannot be created|is not writable): .*\\((EEXIST|ENOTDIR)\\)$`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a second instance on the same working directory; a lock left by SIGKILL does not block a restart', async () => {
    const dir = tempDir();
    let first: TrackerProcess | undefined;
    let third: TrackerProcess | undefined;
    try {
      const port = await freePort();
      configIn(dir, db.dsn, port);
      first = spawnHayate(dir);
      await first.waitForLog('listening');
      expect(readFileSync(join(dir, 'hayate.lock'), 'utf8')).toBe(`${first.child.pid} ${hostname()}\n`);

      const second = await runToExit(dir);
      expect(second.code).toBe(1);
      expectOneLine(second.stderr, new RegExp(`^hayate: another hayate \\(pid ${first.child.pid}\\) is running in ${dir}`));

      first.child.kill('SIGKILL');
      await first.exited;
      expect(existsSync(join(dir, 'hayate.lock'))).toBe(true); // left behind

      third = spawnHayate(dir);
      await third.waitForLog('listening');
      const tookOver = third.lines().find((l) => l.msg.startsWith('the last tracker in this folder did not stop cleanly'));
      expect(tookOver?.['pid']).toBe(first.child.pid);
      expect(readFileSync(join(dir, 'hayate.lock'), 'utf8')).toBe(`${third.child.pid} ${hostname()}\n`);
      third.child.kill('SIGTERM');
      expect(await third.exited).toBe(0);
      expect(existsSync(join(dir, 'hayate.lock'))).toBe(false); // removed at a clean exit
    } finally {
      first?.child.kill('SIGKILL');
      third?.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a lock naming a live hayate that works in another folder (a pid reused after SIGKILL) is stale', async () => {
    const here = tempDir();
    const elsewhere = tempDir();
    configIn(elsewhere, db.dsn, await freePort());
    const other = spawnHayate(elsewhere);
    try {
      await other.waitForLog('configuration loaded');
      writeFileSync(join(here, 'hayate.lock'), `${other.child.pid} ${hostname()}\n`);
      const lock = acquireInstanceLock(here);
      expect(readFileSync(join(here, 'hayate.lock'), 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
      lock.release();
    } finally {
      other.child.kill('SIGKILL');
      await other.exited;
      rmSync(here, { recursive: true, force: true });
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('a lock from another host or container (a shared volume) holds while touched, and is stale once it is not', () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'hayate.lock');
      writeFileSync(path, '1 other-container\n');
      expect(() => acquireInstanceLock(dir)).toThrow(StartupError);
      expect(() => acquireInstanceLock(dir)).toThrow(/another hayate \(pid 1 on other-container\) is running/);
      const old = new Date(Date.now() - LOCK_STALE_MS - 1_000);
      utimesSync(path, old, old);
      const lock = acquireInstanceLock(dir);
      expect(readFileSync(path, 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
      lock.release();
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passkeys never reach the log: the request-failed line shows /***/announce', async () => {
    expect(redactPasskeys('{"url":"/l8ffo9gsj2sicxragkhwyucdvqwrr3ic/announce?info_hash=%00"}')).toBe(
      '{"url":"/***/announce?info_hash=%00"}',
    );
    expect(redactPasskeys('GET //P/scrape and /a/b/P//announce and /pw/update?action=x')).toBe(
      'GET //***/scrape and /a/b/***//announce and /***/update?action=x',
    );
    expect(redactPasskeys('/metrics /alive /announcements')).toBe('/metrics /alive /announcements');

    // The tracker's own logger: an announce whose handling throws is logged as "request failed" with its URL.
    const logged: string[] = [];
    const running = await startTracker({
      tracker: { logger: createLogger({ level: 'info' }, { write: (line) => void logged.push(line) }) },
    });
    try {
      running.tracker.store.clientIdFor = () => {
        throw new Error('injected fault');
      };
      const query = announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', 7), left: 10, ip: '8.8.8.8' });
      const res = await running.get(`/${users.normal.passkey}/announce${query}`);
      expect(res.body.toString('latin1')).toContain('Internal tracker error');
    } finally {
      await running.close();
    }
    const failed = logged.filter((line) => line.includes('"request failed"'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toContain('/***/announce?info_hash=');
    expect(logged.join('')).not.toContain(users.normal.passkey);
  });
});
