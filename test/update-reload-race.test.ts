import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { announceQuery, failure, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { bodyOf, rawExchange } from './helpers/raw-http.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';
import { SITE_PASSWORD, awkwardHash, passkeyOf, rawurlencode, updatePath } from './helpers/update.js';

type Source = 'users' | 'torrents' | 'clients';

/**
 * Holds a reload pass after it has read page `page` of `source` and before it applies
 * its rows: the test then writes the database and pushes, as a site would, while the
 * pass holds a page read before that write.
 */
class PageGate {
  private armed: { source: Source; page: number; reached: () => void; release: Promise<void> } | undefined;
  private pages: Record<Source, number> = { users: 0, torrents: 0, clients: 0 };

  hook = async (source: Source): Promise<void> => {
    const page = ++this.pages[source];
    const armed = this.armed;
    if (armed !== undefined && armed.source === source && armed.page === page) {
      this.armed = undefined;
      armed.reached();
      await armed.release;
    }
  };

  /** Arms the gate; resolves when the pass is held there, with the function that lets it go on. */
  hold(source: Source, page: number, start: () => Promise<boolean>): Promise<{ release: () => void; pass: Promise<boolean> }> {
    this.pages = { users: 0, torrents: 0, clients: 0 };
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    return new Promise((resolve) => {
      let pass!: Promise<boolean>;
      this.armed = { source, page, reached: () => resolve({ release, pass }), release: released };
      pass = start();
    });
  }
}

const seeder = (infoHash: Buffer, n: number): AnnounceParams => ({ infoHash, left: 0, numwant: 0, peerId: peerIdOf('-TR3000-', n) });
const leecher = (infoHash: Buffer, n: number): AnnounceParams => ({ infoHash, left: 5, numwant: 0, peerId: peerIdOf('-TR3000-', n) });

describe('a push racing a reload pass that read the tables before the site wrote them', () => {
  let t: RunningTracker;
  const gate = new PageGate();
  const push = async (action: string, params: string): Promise<string> => {
    const answer = await rawExchange(t.port, `GET ${updatePath(action, params)} HTTP/1.1\r\nConnection: Close\r\n\r\n`);
    return bodyOf(answer.bytes).toString('latin1');
  };
  const announce = async (passkey: string, params: AnnounceParams): Promise<string> =>
    (await t.get(`/${passkey}/announce${announceQuery(params)}`)).body.toString('latin1');
  const invalid = failure('Your passkey is invalid', 3600);

  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.site_password = SITE_PASSWORD;
        c.intervals.database_reload = 3600; // only the passes the tests start
      },
      // Two rows a page: users 1,2 | 5,6 | 7 and torrents 1,2 | 3,4 | 5,6 | 7.
      tracker: { random: () => 0, reload: { pageSize: 2, pageHook: gate.hook } },
    });
  });
  afterAll(() => t.close());

  it('a user removed (and one restricted) by a push is not put back by the rows of a page read before', async () => {
    const live = infoHashBytes(torrents.live);
    const { release, pass } = await gate.hold('users', 1, () => t.tracker.reloader.reload());
    // Page 1 (users 1 and 2) is read: now the site bans user 1 and takes user 2's download rights.
    await t.db.conn.query(`UPDATE users_main SET Enabled = '2' WHERE ID = 1`);
    await t.db.conn.query(`UPDATE users_main SET DisableDownload = 1 WHERE ID = 2`);
    expect(await push('remove_user', `passkey=${users.normal.passkey}`)).toBe('success');
    expect(await push('update_user', `passkey=${users.other.passkey}&can_leech=0&visible=1`)).toBe('success');
    expect(await announce(users.normal.passkey, seeder(live, 1))).toBe(invalid);
    release();
    expect(await pass).toBe(true);
    expect(await announce(users.normal.passkey, seeder(live, 1))).toBe(invalid);
    expect(await announce(users.other.passkey, leecher(infoHashBytes(torrents.multiplied), 2))).toBe(
      failure('Your download privileges are disabled', 3600),
    );
  });

  it('rows asked for before a push (the page read ahead while the last one is applied) never undo it', async () => {
    const music = infoHashBytes(torrents.multiplied);
    const disabled = failure('Your download privileges are disabled', 3600);
    // The site takes user 6's download rights in the database: the next pass sends that row.
    await t.db.conn.query(`UPDATE users_main SET DisableDownload = 1 WHERE ID = 6`);
    try {
      const { release, pass } = await gate.hold('users', 1, () => t.tracker.reloader.reload());
      // Page 1 (users 1, 2) is being applied; page 2 (users 5, 6) was asked for before this push,
      // which gives the rights back (the site has not written it yet): page 2's row is older.
      expect(await push('update_user', `passkey=${users.hidden.passkey}&can_leech=1&visible=0`)).toBe('success');
      release();
      expect(await pass).toBe(true);
      expect(await announce(users.hidden.passkey, leecher(music, 31))).toMatch(/^d8:complete/);
      // A push the database does not back lasts until a pass that asked for the row after it.
      expect(await t.tracker.reloader.reload()).toBe(true);
      expect(await announce(users.hidden.passkey, leecher(music, 32))).toBe(disabled);
    } finally {
      await t.db.conn.query(`UPDATE users_main SET DisableDownload = 0 WHERE ID = 6`);
    }
  });

  it('a user added by a push during a pass is not swept by that pass (which never saw the row)', async () => {
    const passkey = passkeyOf(300);
    const { release, pass } = await gate.hold('users', 3, () => t.tracker.reloader.reload());
    // The pass has read its last page (user 7): the site adds user 300 and pushes.
    await t.db.conn.query(`INSERT INTO users_main (ID, torrent_pass, Enabled) VALUES (300, ?, '1')`, [passkey]);
    expect(await push('add_user', `passkey=${passkey}&id=300&visible=1`)).toBe('success');
    release();
    expect(await pass).toBe(true);
    expect(await announce(passkey, seeder(infoHashBytes(torrents.live), 300))).toMatch(/^d8:complete/);
  });

  it('a torrent deleted by a push stays deleted, and one added during the pass is kept', async () => {
    const live = infoHashBytes(torrents.live);
    const held = await gate.hold('torrents', 1, () => t.tracker.reloader.reload());
    await t.db.conn.query(`DELETE FROM torrents WHERE ID = 1`);
    expect(await push('delete_torrent', `info_hash=${rawurlencode(live)}&id=1&reason=1`)).toBe('success');
    held.release();
    expect(await held.pass).toBe(true);
    expect(await announce(users.other.passkey, seeder(live, 11))).toBe(failure('Unregistered torrent: Trump', 3600));

    const hash = awkwardHash(40);
    const last = await gate.hold('torrents', 4, () => t.tracker.reloader.reload());
    await t.db.conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (140, 3, 'music', ?)`, [hash]);
    expect(await push('add_torrent', `info_hash=${rawurlencode(hash)}&id=140&freetorrent=0`)).toBe('success');
    last.release();
    expect(await last.pass).toBe(true);
    expect(await announce(users.other.passkey, seeder(hash, 12))).toMatch(/^d8:completei1e/);
  });

  it('a client prefix whitelisted by a push is not taken back by a clients list read before it', async () => {
    const live = infoHashBytes(torrents.liveMusic);
    const peerId = peerIdOf('-YY1000-', 21);
    const { release, pass } = await gate.hold('clients', 1, () => t.tracker.reloader.reload());
    await t.db.conn.query(`INSERT INTO approved_clients (id, peer_id, archived) VALUES (60, '-YY1', 0)`);
    expect(await push('add_whitelist', 'peer_id=-YY1')).toBe('success');
    expect(await announce(users.other.passkey, { ...seeder(live, 21), peerId })).toMatch(/^d8:complete/);
    release();
    expect(await pass).toBe(true);
    expect(await announce(users.other.passkey, { ...seeder(live, 21), peerId })).toMatch(/^d8:complete/);
  });

  it('after the next full pass, memory equals the database again', async () => {
    // A push the database does not back (the site never wrote it) lasts until a pass that started after it.
    expect(await push('update_torrent', `info_hash=${rawurlencode(infoHashBytes(torrents.liveMusic))}&freetorrent=2`)).toBe('success');
    expect(await t.tracker.reloader.reloadFresh()).toBe(true);
    const [userRows] = await t.db.conn.query<RowDataPacket[]>(`SELECT torrent_pass, DisableDownload FROM users_main WHERE Enabled = '1'`);
    expect([...t.tracker.store.users.keys()].sort()).toEqual(userRows.map((r) => String(r['torrent_pass'])).sort());
    for (const row of userRows) {
      expect(t.tracker.store.users.get(String(row['torrent_pass']))?.disableDownload).toBe(Number(row['DisableDownload']) !== 0);
    }
    const [torrentRows] = await t.db.conn.query<RowDataPacket[]>(`SELECT info_hash, DownMultiplier FROM torrents`);
    expect([...t.tracker.store.torrents.keys()].sort()).toEqual(
      torrentRows.map((r) => (r['info_hash'] as Buffer).toString('latin1')).sort(),
    );
    expect(t.tracker.store.torrents.get(infoHashBytes(torrents.liveMusic).toString('latin1'))?.downMultiplier).toBe(1);
  });
});
