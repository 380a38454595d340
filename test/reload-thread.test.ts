import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../bench/loadgen.js';
import type { Reloader } from '../src/database/reload.js';
import type { Torrent, User } from '../src/store/types.js';
import { bodyOf, rawExchange } from './helpers/raw-http.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';
import { SITE_PASSWORD, updatePath } from './helpers/update.js';

/**
 * The reload thread sends the main thread only what changed since its last pass; these
 * tests check that memory still equals the database after every pass (the site editing,
 * adding, deleting and re-keying rows between passes), that rows which did not change are
 * not applied again, and that a pass that fails midway (its table gone, its thread gone)
 * removes nothing and leaves the next pass to catch up.
 */

const BASE = 1_000; // IDs above the fixtures'
const ROWS = 600;
const passkeyOf = (id: number, version = 0): string => `rt${id}v${version}`.padEnd(32, '0');
const hashOf = (id: number, version = 0): Buffer => Buffer.from(`rt-${id}-${version}`.padEnd(20, '#'), 'latin1');

interface UserView {
  id: number;
  up: number;
  down: number;
  disableDownload: boolean;
  trackerHide: boolean;
}
interface TorrentView {
  id: number;
  groupId: number;
  type: string;
  status: number;
  up: number;
  down: number;
}

const userView = (u: User): UserView => ({
  id: u.id,
  up: u.upMultiplier,
  down: u.downMultiplier,
  disableDownload: u.disableDownload,
  trackerHide: u.trackerHide,
});
const torrentView = (t: Torrent): TorrentView => ({
  id: t.id,
  groupId: t.groupId,
  type: t.type,
  status: t.status,
  up: t.upMultiplier,
  down: t.downMultiplier,
});

describe('the reload thread: only what changed reaches the main thread, and memory equals the database', () => {
  let t: RunningTracker;
  let hook: ((source: string) => Promise<void> | void) | undefined;
  let reloader: Reloader;

  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.site_password = SITE_PASSWORD;
        c.intervals.database_reload = 3600; // only the passes the tests start
      },
      tracker: { reload: { pageSize: 50, pageHook: (source) => hook?.(source) } },
    });
    reloader = t.tracker.reloader;
    const users = [];
    const torrents = [];
    for (let i = 0; i < ROWS; i++) {
      const id = BASE + i;
      users.push([id, passkeyOf(id), '1', 1, 1, 0, 0]);
      torrents.push([id, i % 7, i % 2 === 0 ? 'music' : 'anime', hashOf(id), 0, 1, 1]);
    }
    await t.db.conn.query(
      'INSERT INTO users_main (ID, torrent_pass, Enabled, UpMultiplier, DownMultiplier, DisableDownload, TrackerHide) VALUES ?',
      [users],
    );
    await t.db.conn.query('INSERT INTO torrents (ID, GroupID, TorrentType, info_hash, Status, UpMultiplier, DownMultiplier) VALUES ?', [
      torrents,
    ]);
    expect(await reloader.reloadFresh()).toBe(true);
  });
  afterAll(() => t.close());

  async function databaseUsers(): Promise<Map<string, UserView>> {
    const [rows] = await t.db.conn.query<RowDataPacket[]>(
      `SELECT ID, torrent_pass, UpMultiplier, DownMultiplier, DisableDownload, TrackerHide FROM users_main WHERE Enabled = '1'`,
    );
    return new Map(
      rows.map((r) => [
        String(r['torrent_pass']),
        {
          id: Number(r['ID']),
          up: Number(r['UpMultiplier']),
          down: Number(r['DownMultiplier']),
          disableDownload: Number(r['DisableDownload']) !== 0,
          trackerHide: Number(r['TrackerHide']) !== 0,
        },
      ]),
    );
  }

  async function databaseTorrents(): Promise<Map<string, TorrentView>> {
    const [rows] = await t.db.conn.query<RowDataPacket[]>(
      `SELECT ID, info_hash, GroupID, TorrentType, Status, UpMultiplier, DownMultiplier FROM torrents`,
    );
    return new Map(
      rows.map((r) => [
        (r['info_hash'] as Buffer).toString('latin1', 0, 20),
        {
          id: Number(r['ID']),
          groupId: Number(r['GroupID']),
          type: String(r['TorrentType']),
          status: Number(r['Status']),
          up: Number(r['UpMultiplier']),
          down: Number(r['DownMultiplier']),
        },
      ]),
    );
  }

  const push = async (action: string, params: string): Promise<string> => {
    const answer = await rawExchange(t.port, `GET ${updatePath(action, params)} HTTP/1.1\r\nConnection: Close\r\n\r\n`);
    return bodyOf(answer.bytes).toString('latin1');
  };

  const memoryUsers = (): Map<string, UserView> => new Map([...t.tracker.store.users].map(([k, u]) => [k, userView(u)]));
  const memoryTorrents = (): Map<string, TorrentView> => new Map([...t.tracker.store.torrents].map(([k, x]) => [k, torrentView(x)]));

  async function expectMemoryEqualsDatabase(): Promise<void> {
    expect(memoryUsers()).toEqual(await databaseUsers());
    expect(memoryTorrents()).toEqual(await databaseTorrents());
  }

  /** IDs whose entry a pass applied (its reloadMark moved). */
  function marks(): Map<string, number> {
    const m = new Map<string, number>();
    for (const u of t.tracker.store.users.values()) m.set(`u${u.id}`, u.reloadMark ?? 0);
    for (const x of t.tracker.store.torrents.values()) m.set(`t${x.id}`, x.reloadMark ?? 0);
    return m;
  }

  /**
   * Runs a pass that fails after its first page of users: the table is renamed away while the
   * page is applied, so the next page's query finds no table; it is put back afterwards.
   */
  async function passFailingAfterFirstUsersPage(): Promise<void> {
    let moved = false;
    hook = async (source) => {
      if (source !== 'users' || moved) return;
      moved = true;
      await t.db.conn.query('RENAME TABLE users_main TO users_main_away');
    };
    try {
      expect(await reloader.reloadFresh()).toBe(false);
    } finally {
      hook = undefined;
      if (moved) await t.db.conn.query('RENAME TABLE users_main_away TO users_main');
    }
    expect(reloader.lastError?.message).toMatch(/users_main/);
  }

  it('a pass over unchanged tables applies no row', async () => {
    const before = marks();
    expect(await reloader.reloadFresh()).toBe(true);
    expect(marks()).toEqual(before);
    await expectMemoryEqualsDatabase();
  });

  it('rounds of edits, new rows, deletions and passkey changes: memory equals the database, and only changed rows were applied', async () => {
    const random = prng(7);
    const pick = (n: number): number => Math.floor(random() * n);
    let nextId = BASE + ROWS;
    for (let round = 1; round <= 6; round++) {
      const changed = new Set<string>();
      const conn = t.db.conn;
      for (let k = 0; k < 25; k++) {
        const id = BASE + pick(nextId - BASE);
        switch (pick(8)) {
          case 0:
            await conn.query(`UPDATE users_main SET UpMultiplier = ?, DisableDownload = ? WHERE ID = ?`, [1 + pick(3), pick(2), id]);
            changed.add(`u${id}`);
            break;
          case 1:
            await conn.query(`UPDATE users_main SET torrent_pass = ? WHERE ID = ?`, [passkeyOf(id, round), id]);
            changed.add(`u${id}`);
            break;
          case 2:
            await conn.query(`UPDATE users_main SET Enabled = IF(Enabled = '1', '2', '1') WHERE ID = ?`, [id]);
            changed.add(`u${id}`);
            break;
          case 3:
            await conn.query(`INSERT INTO users_main (ID, torrent_pass, Enabled) VALUES (?, ?, '1')`, [nextId, passkeyOf(nextId)]);
            changed.add(`u${nextId++}`);
            break;
          case 4:
            await conn.query(`UPDATE torrents SET DownMultiplier = ?, Status = ? WHERE ID = ?`, [pick(2), pick(2), id]);
            changed.add(`t${id}`);
            break;
          case 5:
            await conn.query(`UPDATE torrents SET info_hash = ? WHERE ID = ?`, [hashOf(id, round), id]);
            changed.add(`t${id}`);
            break;
          case 6:
            await conn.query(`DELETE FROM torrents WHERE ID = ?`, [id]);
            break;
          case 7:
            await conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (?, 1, 'music', ?)`, [
              nextId,
              hashOf(nextId),
            ]);
            changed.add(`t${nextId++}`);
            break;
        }
      }
      const before = marks();
      expect(await reloader.reloadFresh()).toBe(true);
      await expectMemoryEqualsDatabase();
      const after = marks();
      const applied = [...after].filter(([key, mark]) => before.get(key) !== mark).map(([key]) => key);
      // Every applied row is one the round changed (an update that set a value it already had applies nothing).
      for (const key of applied) expect(changed, `round ${round}: ${key} applied but not changed`).toContain(key);
      expect(applied.length, `round ${round}`).toBeGreaterThan(0);
    }
  });

  it('a pass whose connection is killed midway carries on with a new one', async () => {
    await t.db.conn.query(`UPDATE users_main SET TrackerHide = 1 WHERE ID = ?`, [BASE + 500]);
    let killed = 0;
    hook = async (source) => {
      if (source !== 'users' || killed > 0) return;
      // The thread waits for this page to be applied: kill its connection (and the main pool's).
      const [rows] = await t.db.conn.query<RowDataPacket[]>(
        'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
        [t.db.name],
      );
      for (const row of rows) await t.db.conn.query(`KILL ${Number(row['ID'])}`).catch(() => undefined);
      killed = rows.length;
    };
    try {
      expect(await reloader.reloadFresh()).toBe(true);
    } finally {
      hook = undefined;
    }
    expect(killed).toBeGreaterThan(0);
    await expectMemoryEqualsDatabase();
  });

  it("a page whose read is cut off by its connection's death is read again on a new connection", async () => {
    await t.db.conn.query(`UPDATE users_main SET TrackerHide = 1 WHERE ID = ?`, [BASE + 502]);
    // A lock held from another connection keeps the thread's next read of users_main waiting.
    const locker = await createConnection(t.db.dsn);
    let locked = false;
    hook = async (source) => {
      if (source !== 'users' || locked) return;
      await locker.query('LOCK TABLES users_main WRITE');
      locked = true;
    };
    try {
      const pass = reloader.reloadFresh();
      const waiting = await eventually(
        async () => {
          if (!locked) return undefined;
          const [rows] = await t.db.conn.query<RowDataPacket[]>(
            `SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT ID, torrent_pass%'`,
            [t.db.name],
          );
          return rows.length > 0 ? Number(rows[0]!['ID']) : undefined;
        },
        10_000,
        "the reload thread's read waiting for the lock",
      );
      // Its query is in flight: kill its connection, then let the read go on.
      await t.db.conn.query(`KILL ${waiting}`);
      await locker.query('UNLOCK TABLES');
      expect(await pass).toBe(true);
    } finally {
      hook = undefined;
      await locker.end();
    }
    await expectMemoryEqualsDatabase();
  });

  it('a pass that fails midway removes nothing; the next pass catches up', async () => {
    await t.db.conn.query(`DELETE FROM users_main WHERE ID = ?`, [BASE + 3]);
    await t.db.conn.query(`UPDATE users_main SET TrackerHide = 1 WHERE ID = ?`, [BASE + 501]);
    await passFailingAfterFirstUsersPage();
    // Nothing removed by the failed pass.
    expect(t.tracker.store.users.has(passkeyOf(BASE + 3))).toBe(true);
    await t.db.conn.query(`UPDATE torrents SET GroupID = 99 WHERE ID = ?`, [BASE + 10]);
    expect(await reloader.reloadFresh()).toBe(true);
    expect(t.tracker.store.users.has(passkeyOf(BASE + 3))).toBe(false);
    await expectMemoryEqualsDatabase();
  });

  it('pushes the database does not back last until the next pass, even when its rows did not change', async () => {
    const stray = passkeyOf(9_999);
    expect(await push('add_user', `passkey=${stray}&id=9999&visible=1`)).toBe('success');
    expect(await push('update_user', `passkey=${passkeyOf(BASE + 40)}&can_leech=0`)).toBe('success');
    expect(t.tracker.store.users.get(stray)?.id).toBe(9_999);
    expect(t.tracker.store.users.get(passkeyOf(BASE + 40))?.disableDownload).toBe(true);
    expect(await reloader.reloadFresh()).toBe(true);
    expect(t.tracker.store.users.has(stray)).toBe(false);
    await expectMemoryEqualsDatabase();
  });

  it('a push before a pass that fails is still undone by the pass after it', async () => {
    // The user with the highest ID is on the last page: the failing pass never reads it.
    const last = [...t.tracker.store.users.values()].reduce((a, b) => (b.id > a.id ? b : a)).passkey;
    expect(await push('update_user', `passkey=${last}&can_leech=0`)).toBe('success');
    await passFailingAfterFirstUsersPage();
    expect(t.tracker.store.users.get(last)?.disableDownload).toBe(true);
    expect(await reloader.reloadFresh()).toBe(true);
    expect(t.tracker.store.users.get(last)?.disableDownload).toBe(false);
    await expectMemoryEqualsDatabase();
  });

  it('a pass whose thread is gone fails; a new thread sends every row, and what is gone is swept', async () => {
    await t.db.conn.query(`DELETE FROM torrents WHERE ID = ?`, [BASE + 20]);
    hook = async (source) => {
      if (source !== 'torrents') return;
      hook = undefined;
      // Reaching into the reloader: what a crash of the thread would do.
      await (reloader as unknown as { thread: { worker: { terminate(): Promise<number> } } }).thread.worker.terminate();
    };
    expect(await reloader.reloadFresh()).toBe(false);
    expect(reloader.lastError?.message).toMatch(/reload thread/);
    await t.db.conn.query(`UPDATE users_main SET DownMultiplier = 0 WHERE ID = ?`, [BASE + 30]);
    const before = marks();
    expect(await reloader.reloadFresh()).toBe(true);
    await expectMemoryEqualsDatabase();
    // The new thread has no last pass: every row was applied.
    const after = marks();
    expect([...after].filter(([key, mark]) => before.get(key) === mark)).toEqual([]);
  });
});
