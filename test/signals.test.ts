import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { openDbRelay } from './helpers/db-relay.js';
import { freePort } from './helpers/net.js';
import { spawnHayate, type TrackerProcess } from './helpers/process.js';
import { eventually, get, startTracker } from './helpers/tracker.js';

const live = infoHashBytes(torrents.live);

describe('signals and exit status (the built tracker)', () => {
  let db: TestDatabase;
  const dirs: string[] = [];
  const children: TrackerProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    await loadFixtures(db.conn);
  });
  afterAll(async () => {
    for (const c of children) c.child.kill('SIGKILL');
    await db.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** The built tracker on `config` (over the defaults below), once it logs `until`. */
  async function start(
    config: object,
    until: string | RegExp = 'listening',
  ): Promise<{ p: TrackerProcess; port: number; dir: string; write: (config: object) => void }> {
    const dir = mkdtempSync(join(tmpdir(), 'hayate-signals-'));
    dirs.push(dir);
    const port = await freePort();
    const write = (c: object) =>
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({ database: { dsn: db.dsn }, http: { addr: `127.0.0.1:${port}` }, log_flushes: false, ...c }),
      );
    write(config);
    const p = spawnHayate(dir, ['-c', 'config.json']);
    children.push(p);
    await p.waitForLog(until);
    return { p, port, dir, write };
  }

  const count = (p: TrackerProcess, msg: string) => p.lines().filter((l) => l.msg === msg).length;

  it('SIGHUP re-reads the live keys and reloads the database; SIGUSR1 reloads; nothing is lost', async () => {
    // Nothing flushes on the timer: only the shutdown flush writes, so every byte must survive the signals.
    const base = { intervals: { announce: 1800, announce_drift: 0, flush: 3600, database_reload: 3600 } };
    const rawup = async () =>
      Number((await db.conn.query<RowDataPacket[]>('SELECT rawup FROM users_main WHERE ID = ?', [users.normal.id]))[0][0]!['rawup']);
    const before = await rawup();
    const { p, port, write } = await start(base);
    const path = (passkey: string, n: number, up: number) =>
      `/${passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', n), left: 10, uploaded: up, ip: '8.8.8.8' })}`;
    expect((await get(port, path(users.normal.passkey, 1, 0))).body.toString('latin1')).toContain('8:intervali1800e');
    await get(port, path(users.normal.passkey, 1, 1000));

    // A new user, a shorter interval, and two keys that need a restart.
    await db.conn.query("INSERT INTO users_main (ID, Enabled, torrent_pass) VALUES (100, '1', ?)", ['sighup'.padEnd(32, '0')]);
    write({
      ...base,
      intervals: { ...base.intervals, announce: 600 },
      http: { addr: '127.0.0.1:1' },
      channels: { users: 10 },
      bogus_key: 1,
    });
    p.child.kill('SIGHUP');
    await eventually(() => (count(p, 'database reload done') === 1 ? true : undefined), 20_000, 'the reload after SIGHUP');
    const reread = p.lines().find((l) => l.msg === 'configuration re-read');
    expect(reread?.['applied']).toEqual(['intervals.announce']);
    const restart = p.lines().find((l) => l.msg === 'configuration keys changed that take effect only after a restart');
    expect(restart?.['keys']).toEqual(['channels.users', 'http.addr']);
    // An unknown key is said as unknown only, not as needing a restart.
    expect(p.lines().find((l) => l.msg === 'unknown configuration keys ignored')?.['keys']).toEqual(['bogus_key']);
    expect((await get(port, path(users.normal.passkey, 1, 2000))).body.toString('latin1')).toContain('8:intervali600e');
    expect((await get(port, path('sighup'.padEnd(32, '0'), 2, 0))).body.toString('latin1')).toMatch(/^d8:completei/);

    // SIGUSR1: reload now (and no inspector is opened).
    await db.conn.query("INSERT INTO users_main (ID, Enabled, torrent_pass) VALUES (101, '1', ?)", ['sigusr1'.padEnd(32, '0')]);
    p.child.kill('SIGUSR1');
    await eventually(() => (count(p, 'database reload done') === 2 ? true : undefined), 20_000, 'the reload after SIGUSR1');
    expect((await get(port, path('sigusr1'.padEnd(32, '0'), 3, 0))).body.toString('latin1')).toMatch(/^d8:completei/);
    expect(p.stderr()).not.toContain('Debugger listening');

    // A broken file on SIGHUP: said, and the running configuration stays.
    writeFileSync(join(dirs[dirs.length - 1]!, 'config.json'), '{"intervals": {"announce": "soon"}}');
    p.child.kill('SIGHUP');
    await eventually(() => (count(p, 'database reload done') === 3 ? true : undefined), 20_000, 'the reload after the second SIGHUP');
    const refused = p.lines().find((l) => l.msg === 'configuration NOT re-read: keeping the running one');
    expect(String(refused?.['err'])).toContain('intervals.announce: must be integer');
    expect((await get(port, path(users.normal.passkey, 1, 3000))).body.toString('latin1')).toContain('8:intervali600e');

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect((await rawup()) - before).toBe(3000);
  });

  it('a SIGHUP while the start waits for the database is applied once the start is done', async () => {
    const root = new URL(inject('dbRootUrl'));
    const relayPort = await freePort();
    const base = { database: { dsn: `mysql://${root.username}:${root.password}@127.0.0.1:${relayPort}/${db.name}` } };
    // No database yet: the start waits (listening, answering "starting up").
    const { p, port, write } = await start(
      { ...base, intervals: { announce: 1800, announce_drift: 0 } },
      /^listening while waiting for the database/,
    );
    write({ ...base, intervals: { announce: 600, announce_drift: 0 } });
    p.child.kill('SIGHUP');
    await p.waitForLog('signal during start-up: the configuration is re-read once the start is done');
    const relay = await openDbRelay(relayPort, root);
    try {
      await p.waitForLog('configuration re-read');
      expect(p.lines().find((l) => l.msg === 'configuration re-read')?.['applied']).toEqual(['intervals.announce']);
      const path = `/${users.normal.passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', 11), left: 10, ip: '8.8.8.8' })}`;
      expect((await get(port, path)).body.toString('latin1')).toContain('8:intervali600e');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await relay.close();
    }
  });

  it('a second SIGTERM while a stop during the start closes up exits 0 at once: nothing was accounted', async () => {
    // A database that accepts connections and never answers: the start, and the stop's closing of
    // the pool, hang on it, so the second signal lands while the first stop is still closing.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const { p } = await start({ database: { dsn: `mysql://root:@127.0.0.1:${port}/${db.name}` } }, /^no cache files/);
      p.child.kill('SIGTERM');
      await p.waitForLog('stopped during start-up: nothing accounted yet, nothing to save');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.lines().at(-1)?.msg).toBe('second signal during start-up: exiting now, nothing accounted yet');
    } finally {
      silent.close();
    }
  });

  it('a shutdown that cannot write the cache files exits 3 and says so', async () => {
    const { p, port, dir } = await start({});
    await get(
      port,
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', 9), left: 10, ip: '8.8.8.8' })}`,
    );
    // A folder where the writer puts its temporary file: the write fails (even for root).
    mkdirSync(join(dir, 'torrent-cache.bin.tmp'));
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(3);
    const last = p.lines().at(-1);
    expect(last).toMatchObject({ msg: 'shutdown complete, but data was NOT saved', flushed: true, cacheWritten: false, exitCode: 3 });
  });
});

describe('shutdown report when the database is gone', () => {
  it('accounting that could not be flushed is reported (flush.complete false), which the CLI turns into exit 3', async () => {
    const running = await startTracker({ configure: (c) => (c.intervals.flush = 3600) });
    const query = (up: number) => announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', 5), left: 10, uploaded: up, ip: '8.8.8.8' });
    await running.get(`/${users.normal.passkey}/announce${query(0)}`);
    await running.get(`/${users.normal.passkey}/announce${query(500)}`);
    // The database disappears before the shutdown flush.
    await running.db.conn.query(`DROP DATABASE \`${running.db.name}\``);
    const report = await running.tracker.stop(1_500);
    expect(report.flush.complete).toBe(false);
    expect(report.cacheWritten).toBe(true);
    await running.db.conn.end();
    rmSync(running.dir, { recursive: true, force: true });
  });
});
