import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { announceQuery, failure, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { bodyOf, rawExchange } from './helpers/raw-http.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';
import {
  SITE_PASSWORD,
  awkwardHash,
  generatedHash,
  insertTorrents,
  insertUsers,
  passkeyOf,
  rawurlencode,
  updatePath,
} from './helpers/update.js';

/** Log lines the tracker wrote (debug and up), to check no secret reaches them. */
const logLines: string[] = [];
const captureLogger = () =>
  pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString());
        done();
      },
    }),
  );

const announcePath = (passkey: string, params: AnnounceParams) => `/${passkey}/announce${announceQuery(params)}`;
const seeder = (infoHash: Buffer, n = 1): AnnounceParams => ({ infoHash, left: 0, numwant: 0, peerId: peerIdOf('-TR3000-', n) });
const leecher = (infoHash: Buffer, n = 2): AnnounceParams => ({ infoHash, left: 100, numwant: 0, peerId: peerIdOf('-TR3000-', n) });

/** A Gazelle-style request (no Host header, Connection: Close) on a raw socket: status and body. */
async function gazelle(port: number, path: string): Promise<{ status: number | undefined; body: string }> {
  const answer = await rawExchange(port, `GET ${path} HTTP/1.1\r\nConnection: Close\r\n\r\n`);
  return { status: answer.status, body: bodyOf(answer.bytes).toString('latin1') };
}

describe('update API (site push), Ocelot actions against a MariaDB-backed tracker', () => {
  let t: RunningTracker;
  const push = async (action: string, params = ''): Promise<{ status: number | undefined; body: string }> =>
    gazelle(t.port, updatePath(action, params));
  const announceBody = async (passkey: string, params: AnnounceParams): Promise<string> =>
    (await t.get(announcePath(passkey, params))).body.toString('latin1');

  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.site_password = SITE_PASSWORD;
        c.enable_metrics = true;
        c.intervals.database_reload = 3600; // only the reloads a test starts
      },
      tracker: { random: () => 0, logger: captureLogger() },
    });
  });
  afterAll(() => t.close());

  it('refuses a wrong password and a user passkey with 403, counted, before reading the action', async () => {
    for (const password of ['x'.repeat(SITE_PASSWORD.length), users.normal.passkey, SITE_PASSWORD.slice(0, -1)]) {
      const res = await gazelle(t.port, updatePath('remove_user', `passkey=${users.normal.passkey}`, password));
      expect(res.status).toBe(403);
      expect(res.body).toBe('update API: authentication failed\n');
    }
    expect(await announceBody(users.normal.passkey, seeder(infoHashBytes(torrents.live), 90))).toMatch(/^d8:complete/);
    const metrics = (await t.get('/metrics')).body.toString();
    expect(metrics).toMatch(/hayate_update_auth_failures_total\{reason="password"\} 3/);
  });

  it('answers an unknown action, a missing action and a malformed parameter with a 400 and one line', async () => {
    expect(await push('frobnicate')).toEqual({ status: 400, body: 'unknown action: frobnicate\n' });
    expect(await gazelle(t.port, `/${SITE_PASSWORD}/update?foo=1`)).toEqual({ status: 400, body: 'missing action\n' });
    expect(await push('add_token', `info_hash=${rawurlencode(awkwardHash(1))}&userid=1`)).toMatchObject({ status: 400 });
    expect(await push('update_torrent', `info_hash=${rawurlencode(awkwardHash(1).subarray(0, 19))}&freetorrent=1`)).toEqual({
      status: 400,
      body: 'info_hash must be 20 bytes, percent-encoded (got 19)\n',
    });
    expect(await push('update_torrent', `info_hash=${rawurlencode(awkwardHash(1))}&freetorrent=7`)).toMatchObject({ status: 400 });
    expect(await push('remove_users', `passkeys=${'a'.repeat(33)}`)).toMatchObject({ status: 400 });
    expect(await push('add_user', `passkey=${passkeyOf(1)}&id=abc`)).toEqual({ status: 400, body: 'id must be a positive integer\n' });
    expect(await push('update_announce_interval', 'new_announce_interval=0')).toMatchObject({ status: 400 });
    const metrics = (await t.get('/metrics')).body.toString();
    expect(metrics).toMatch(/hayate_update_requests_total\{action="unknown",outcome="bad_request"\} 3/);
  });

  it('add_torrent: a new torrent with an awkward binary hash is served at once, group and type read from its row', async () => {
    const hash = awkwardHash(1);
    await t.db.conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (101, 10, 'anime', ?)`, [hash]);
    expect(await announceBody(users.normal.passkey, seeder(hash))).toBe(failure('This torrent does not exist', 300));
    expect(await push('add_torrent', `info_hash=${rawurlencode(hash)}&id=101&freetorrent=0`)).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(users.normal.passkey, seeder(hash))).toMatch(/^d8:completei1e/);
    const info = JSON.parse((await push('info_torrent', `info_hash=${rawurlencode(hash)}`)).body);
    expect(info).toMatchObject({
      info_hash: hash.toString('hex'),
      loaded: true,
      id: 101,
      group_id: 10,
      type: 'anime',
      seeders: 1,
      freetorrent: 0,
    });
    // Group 10 anime is freeleech (torrent_group_freeleech): the tracker sees it through the row's GroupID/TorrentType.
    expect(t.tracker.store.groupMultipliers(t.tracker.store.torrents.get(hash.toString('latin1'))!)).toEqual({
      upMultiplier: 1,
      downMultiplier: 0,
    });
  });

  it('add_torrent: a row with another info_hash is a 409; a row not there yet is added from the push alone', async () => {
    expect(await push('add_torrent', `info_hash=${rawurlencode(awkwardHash(9))}&id=101&freetorrent=0`)).toMatchObject({ status: 409 });
    const hash = awkwardHash(2);
    expect(await push('add_torrent', `info_hash=${rawurlencode(hash)}&id=102&freetorrent=1`)).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(users.normal.passkey, seeder(hash))).toMatch(/^d8:completei1e/);
  });

  it('update_torrent and update_torrents map freetorrent 0/1/2 onto the multipliers', async () => {
    const live = infoHashBytes(torrents.live);
    const music = infoHashBytes(torrents.liveMusic); // its hash holds NUL, space, %&+=?# and 0xff
    const info = async (hash: Buffer) => JSON.parse((await push('info_torrent', `info_hash=${rawurlencode(hash)}`)).body);
    expect(await push('update_torrent', `info_hash=${rawurlencode(music)}&freetorrent=1`)).toEqual({ status: 200, body: 'success' });
    expect(await info(music)).toMatchObject({ up_multiplier: 1, down_multiplier: 0, freetorrent: 1 });
    expect(await push('update_torrents', `info_hashes=${rawurlencode(Buffer.concat([live, music]))}&freetorrent=2`)).toEqual({
      status: 200,
      body: 'success',
    });
    expect(await info(live)).toMatchObject({ up_multiplier: 0, down_multiplier: 0, freetorrent: 2 });
    expect(await info(music)).toMatchObject({ freetorrent: 2 });
    await push('update_torrents', `info_hashes=${rawurlencode(Buffer.concat([live, music]))}&freetorrent=0`);
    expect(await info(music)).toMatchObject({ up_multiplier: 1, down_multiplier: 1, freetorrent: 0 });
    // '+' is a plus (0x2b), not a space; a malformed escape is kept as it is: '%zz' is not 20 bytes then.
    expect(rawurlencode(music)).toContain('%2B');
    expect(await push('update_torrent', `info_hash=${rawurlencode(music).replace('%2B', '+')}&freetorrent=1`)).toEqual({
      status: 200,
      body: 'success',
    });
    expect(await info(music)).toMatchObject({ freetorrent: 1 });
    expect(await push('update_torrent', `info_hash=${rawurlencode(music).replace('%2B', '%zz')}&freetorrent=1`)).toEqual({
      status: 400,
      body: 'info_hash must be 20 bytes, percent-encoded (got 22)\n',
    });
    // Nothing held for that hash: done, nothing to do (Ocelot's answer too).
    expect(await push('update_torrent', `info_hash=${rawurlencode(awkwardHash(77))}&freetorrent=1`)).toEqual({
      status: 200,
      body: 'success',
    });
  });

  it('delete_torrent: announces get "Unregistered torrent: <reason>" instead of "does not exist"', async () => {
    const hashes = [awkwardHash(11), awkwardHash(12), awkwardHash(13)];
    for (const [i, hash] of hashes.entries()) {
      await t.db.conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (?, 1, 'music', ?)`, [111 + i, hash]);
      await push('add_torrent', `info_hash=${rawurlencode(hash)}&id=${111 + i}&freetorrent=0`);
      expect(await announceBody(users.normal.passkey, seeder(hash))).toMatch(/^d8:complete/);
    }
    expect(await push('delete_torrent', `info_hash=${rawurlencode(hashes[0]!)}&id=111&reason=0`)).toEqual({ status: 200, body: 'success' });
    expect(await push('delete_torrent', `info_hash=${rawurlencode(hashes[1]!)}&id=112&reason=-1`)).toEqual({
      status: 200,
      body: 'success',
    });
    expect(
      await push('delete_torrent', `info_hash=${rawurlencode(hashes[2]!)}&reason=${rawurlencode('Replaced by a better rip')}`),
    ).toEqual({
      status: 200,
      body: 'success',
    });
    expect(await announceBody(users.normal.passkey, seeder(hashes[0]!))).toBe(failure('Unregistered torrent: Dupe', 3600));
    expect(await announceBody(users.normal.passkey, seeder(hashes[1]!))).toBe(failure('Unregistered torrent', 3600));
    expect(await announceBody(users.normal.passkey, seeder(hashes[2]!))).toBe(
      failure('Unregistered torrent: Replaced by a better rip', 3600),
    );
    expect(JSON.parse((await push('info_torrent', `info_hash=${rawurlencode(hashes[0]!)}`)).body)).toMatchObject({
      loaded: false,
      unregistered: { reason: 'Dupe' },
    });
  });

  it('add_user, update_user, change_passkey and remove_user take effect on the next announce', async () => {
    const passkey = passkeyOf(201);
    const live = infoHashBytes(torrents.live);
    await t.db.conn.query(`INSERT INTO users_main (ID, torrent_pass, Enabled, UpMultiplier, DownMultiplier) VALUES (201, ?, '1', 2, 0.5)`, [
      passkey,
    ]);
    expect(await announceBody(passkey, seeder(live, 201))).toBe(failure('Your passkey is invalid', 3600));
    expect(await push('add_user', `passkey=${passkey}&id=201&visible=1`)).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(passkey, seeder(live, 201))).toMatch(/^d8:complete/);
    expect(t.tracker.store.users.get(passkey)).toMatchObject({ id: 201, upMultiplier: 2, downMultiplier: 0.5, trackerHide: false });

    expect(await push('update_user', `passkey=${passkey}&can_leech=0&visible=0`)).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(passkey, leecher(infoHashBytes(torrents.multiplied), 202))).toBe(
      failure('Your download privileges are disabled', 3600),
    );
    expect(t.tracker.store.users.get(passkey)).toMatchObject({ disableDownload: true, trackerHide: true });
    await push('update_user', `passkey=${passkey}&can_leech=1&visible=1`);
    expect(await announceBody(passkey, leecher(infoHashBytes(torrents.multiplied), 202))).toMatch(/^d8:complete/);

    const renewed = passkeyOf(1201);
    expect(await push('change_passkey', `oldpasskey=${passkey}&newpasskey=${renewed}`)).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(passkey, seeder(live, 201))).toBe(failure('Your passkey is invalid', 3600));
    expect(await announceBody(renewed, seeder(live, 201))).toMatch(/^d8:complete/);
    expect(t.tracker.store.users.get(renewed)?.id).toBe(201);
    // The new passkey is held by another user: refused.
    expect(await push('change_passkey', `oldpasskey=${renewed}&newpasskey=${users.other.passkey}`)).toMatchObject({ status: 409 });

    expect(await push('remove_user', `passkey=${renewed}`)).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(renewed, seeder(live, 201))).toBe(failure('Your passkey is invalid', 3600));
    // Unknown users: nothing to do, still done.
    expect(await push('update_user', `passkey=${passkeyOf(999_999)}&can_leech=0`)).toEqual({ status: 200, body: 'success' });
  });

  it("remove_users: 5,000 passkeys (160 KB) in one call, read from the socket past Node's header limit", async () => {
    await insertUsers(t.db.conn, 10_000, 5_000);
    expect(await t.tracker.reloader.reloadFresh()).toBe(true);
    expect(t.tracker.store.users.has(passkeyOf(10_000))).toBe(true);
    let passkeys = '';
    for (let id = 10_000; id < 15_000; id++) passkeys += passkeyOf(id);
    const path = updatePath('remove_users', `passkeys=${passkeys}`);
    expect(path.length).toBeGreaterThan(160_000);
    const res = await gazelle(t.port, path);
    expect(res).toEqual({ status: 200, body: 'success' });
    for (const id of [10_000, 12_345, 14_999]) expect(t.tracker.store.users.has(passkeyOf(id))).toBe(false);
    expect(await announceBody(passkeyOf(14_999), seeder(infoHashBytes(torrents.live), 3))).toBe(failure('Your passkey is invalid', 3600));
    expect(t.tracker.store.users.has(users.normal.passkey)).toBe(true);
  });

  it('update_torrents: 2,000 binary hashes (120 KB of %XX) in one call', async () => {
    await insertTorrents(t.db.conn, 20_000, 2_000);
    expect(await t.tracker.reloader.reloadFresh()).toBe(true);
    const all = Buffer.concat(Array.from({ length: 2_000 }, (_, i) => generatedHash(20_000 + i)));
    expect(await push('update_torrents', `info_hashes=${rawurlencode(all)}&freetorrent=1`)).toEqual({ status: 200, body: 'success' });
    for (let id = 20_000; id < 22_000; id += 250) {
      expect(t.tracker.store.torrents.get(generatedHash(id).toString('latin1'))?.downMultiplier).toBe(0);
    }
  });

  it('refuses an over-long request with 431, a long request from a stranger at once with 403, a malformed request line with 400', async () => {
    const huge = await gazelle(t.port, updatePath('remove_users', `passkeys=${'a'.repeat(32 * 40_000)}`));
    expect(huge.status).toBe(431);
    const stranger = await gazelle(t.port, updatePath('remove_users', `passkeys=${'a'.repeat(32 * 5_000)}`, 'y'.repeat(26)));
    expect(stranger.status).toBe(403);
    const http2 = await rawExchange(t.port, `GET ${updatePath('reload')} HTTP/2.0\r\n\r\n`);
    expect([http2.status, bodyOf(http2.bytes).toString()]).toEqual([400, 'malformed request line\n']);
    const spaced = await rawExchange(t.port, `GET ${updatePath('reload')}&x=a b HTTP/1.1\r\n\r\n`);
    expect(spaced.status).toBe(400);
  });

  it('whitelist actions install approved_clients now; a push the table does not show is a 409', async () => {
    const peer = peerIdOf('-XX1000-', 1);
    const live = infoHashBytes(torrents.live);
    expect(await announceBody(users.normal.passkey, { ...seeder(live), peerId: peer })).toMatch(/^d14:failure reason.*not approved/);
    expect(await push('add_whitelist', 'peer_id=-XX1')).toMatchObject({ status: 409 });
    await t.db.conn.query(`INSERT INTO approved_clients (id, peer_id, archived) VALUES (50, '-XX1', 0)`);
    expect(await push('add_whitelist', 'peer_id=-XX1')).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(users.normal.passkey, { ...seeder(live), peerId: peer })).toMatch(/^d8:complete/);
    await t.db.conn.query(`UPDATE approved_clients SET peer_id = '-XX2' WHERE id = 50`);
    expect(await push('edit_whitelist', 'old_peer_id=-XX1&new_peer_id=-XX2')).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(users.normal.passkey, { ...seeder(live, 5), peerId: peerIdOf('-XX1000-', 5) })).toMatch(/not approved/);
    await t.db.conn.query(`UPDATE approved_clients SET archived = 1 WHERE id = 50`);
    expect(await push('remove_whitelist', 'peer_id=-XX2')).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(users.normal.passkey, { ...seeder(live, 6), peerId: peerIdOf('-XX2000-', 6) })).toMatch(/not approved/);
  });

  it('update_announce_interval changes the interval of the next announce answer', async () => {
    expect(await push('update_announce_interval', 'new_announce_interval=2400')).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(users.normal.passkey, seeder(infoHashBytes(torrents.live), 7))).toMatch(/8:intervali2400e/);
    await push('update_announce_interval', 'new_announce_interval=1800');
  });

  it('reload loads what the site wrote without a push', async () => {
    const hash = awkwardHash(31);
    await t.db.conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (131, 1, 'anime', ?)`, [hash]);
    expect(await announceBody(users.normal.passkey, seeder(hash))).toBe(failure('This torrent does not exist', 300));
    expect(await push('reload')).toEqual({ status: 200, body: 'success' });
    expect(await announceBody(users.normal.passkey, seeder(hash))).toMatch(/^d8:complete/);
  });

  it('serves an update request on a connection Node already holds (fastify route, same answers)', async () => {
    const answer = await rawExchange(
      t.port,
      `GET /alive HTTP/1.1\r\nHost: t\r\n\r\nGET ${updatePath('info_torrent', `info_hash=${rawurlencode(infoHashBytes(torrents.live))}`)} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`,
    );
    const text = answer.bytes.toString('latin1');
    expect(text.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    expect(text).toContain(`"info_hash":"${torrents.live.infoHashHex}"`);
  });

  it('counts every action by outcome in /metrics, and no log line holds the password or a pushed passkey', async () => {
    const metrics = (await t.get('/metrics')).body.toString();
    expect(metrics).toMatch(/hayate_update_requests_total\{action="add_torrent",outcome="ok"\} [1-9]/);
    expect(metrics).toMatch(/hayate_update_requests_total\{action="remove_users",outcome="ok"\} 1/);
    expect(metrics).toMatch(/hayate_update_seconds_count\{action="update_torrents"\} [1-9]/);
    const logs = logLines.join('');
    expect(logs).toContain('update API: request refused');
    expect(logs).not.toContain(SITE_PASSWORD);
    expect(logs).not.toContain(passkeyOf(201));
    expect(logs).not.toContain(users.normal.passkey);
  });
});

describe('update API off (no site_password)', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker();
  });
  afterAll(() => t.close());

  it('is an ordinary 404 on both paths', async () => {
    expect((await gazelle(t.port, updatePath('reload'))).status).toBe(400); // Node: HTTP/1.1 without Host
    const res = await t.get(updatePath('reload'));
    expect(res.status).toBe(404);
    expect(res.body.toString()).toBe('404 page not found\n');
  });
});

describe('update API restricted by site_addresses', () => {
  it('refuses other addresses with 403 and accepts the listed block', async () => {
    const t = await startTracker({
      configure: (c) => ((c.site_password = SITE_PASSWORD), (c.site_addresses = ['10.1.2.3', '192.168.0.0/16'])),
    });
    try {
      expect(await gazelle(t.port, updatePath('reload'))).toEqual({ status: 403, body: 'update API: address not allowed\n' });
    } finally {
      await t.close();
    }
    const u = await startTracker({ configure: (c) => ((c.site_password = SITE_PASSWORD), (c.site_addresses = ['127.0.0.0/8', '::1'])) });
    try {
      expect(await gazelle(u.port, updatePath('reload'))).toEqual({ status: 200, body: 'success' });
    } finally {
      await u.close();
    }
  });
});
