import { readFileSync, rmSync } from 'node:fs';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFixtures } from '../fixtures/load.js';
import { users } from '../fixtures/site.js';
import { decodeBencode, isDict } from '../src/bencode/codec.js';
import { IPV6_ENDPOINTS_FILE } from '../src/cache/ipv6-endpoints.js';
import { ipv6Text } from '../src/protocol/ipv6.js';
import { announceQuery, hash, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';
import { DUAL_STACK_CASES, expectedCredit, interleavings, ROUNDS } from './helpers/dual-stack.js';
import { applyIpv6Migration as migrate, getOver } from './helpers/ipv6-site.js';

const FIRST_TORRENT = 5000;

describe('IPv6 over real sockets on 127.0.0.1 and ::1, with MariaDB', () => {
  let t: RunningTracker;
  let db: TestDatabase;
  /** The orders played, one torrent each. */
  const plays: Array<{ torrentId: number; order: Array<[4 | 6, number]> }> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await loadFixtures(db.conn);
    await migrate(db);
    // Every order of every case would be ~700 torrents; a spread of them (first, last and
    // every 7th of each case) keeps the test quick while covering each case's shapes.
    for (const c of DUAL_STACK_CASES) {
      const orders = interleavings(c.v4, c.v6);
      orders.forEach((order, i) => {
        if (i === 0 || i === orders.length - 1 || i % 7 === 0) plays.push({ torrentId: FIRST_TORRENT + plays.length, order });
      });
    }
    await db.conn.query('INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES ?', [
      plays.map((p) => [p.torrentId, p.torrentId, 'anime', hash(p.torrentId)]),
    ]);
    t = await startTracker({
      db,
      host: '::',
      configure: (c) => {
        c.announce.ipv6 = true;
        c.intervals.flush = 3600; // rows wait for flushNow()
        c.enable_metrics = true;
      },
    });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    if (t?.dir) rmSync(t.dir, { recursive: true, force: true });
  });

  const announce = (host: string, params: AnnounceParams, passkey = users.normal.passkey): Promise<Buffer> =>
    getOver(host, t.port, `/${passkey}/announce${announceQuery(params)}`);

  it('credits each byte of a dual-stack client once, in every order, with a counter reset (users_main, transfer_history, transfer_ips + transfer_ips6)', async () => {
    const [[before]] = await db.conn.query<RowDataPacket[]>('SELECT rawup, rawdl FROM users_main WHERE ID = ?', [users.normal.id]);
    let totalUp = 0;
    let totalDown = 0;
    for (const { torrentId, order } of plays) {
      for (const [family, round] of order) {
        const [, uploaded, downloaded] = ROUNDS[round]!;
        const body = await announce(family === 4 ? '127.0.0.1' : '::1', {
          infoHash: hash(torrentId),
          peerId: peerIdOf('-TR4000-', 1),
          uploaded,
          downloaded,
          left: 1000,
        });
        expect(body.toString('latin1')).not.toContain('failure');
      }
      const expected = expectedCredit(order);
      totalUp += expected.up;
      totalDown += expected.down;
    }
    expect((await t.tracker.accounting.flushNow()).ok).toBe(true);

    const [[after]] = await db.conn.query<RowDataPacket[]>('SELECT rawup, rawdl FROM users_main WHERE ID = ?', [users.normal.id]);
    expect([Number(after!['rawup']) - Number(before!['rawup']), Number(after!['rawdl']) - Number(before!['rawdl'])]).toEqual([
      totalUp,
      totalDown,
    ]);

    const [history] = await db.conn.query<RowDataPacket[]>(
      'SELECT fid, uploaded, downloaded FROM transfer_history WHERE uid = ? AND fid >= ?',
      [users.normal.id, FIRST_TORRENT],
    );
    const [ips] = await db.conn.query<RowDataPacket[]>(
      'SELECT fid, SUM(uploaded) AS up, SUM(downloaded) AS down, COUNT(*) AS n FROM transfer_ips WHERE uid = ? AND fid >= ? GROUP BY fid',
      [users.normal.id, FIRST_TORRENT],
    );
    const [ips6] = await db.conn.query<RowDataPacket[]>(
      'SELECT fid, HEX(ip) AS ip, uploaded AS up, downloaded AS down FROM transfer_ips6 WHERE uid = ? AND fid >= ?',
      [users.normal.id, FIRST_TORRENT],
    );
    const byFid = <T>(rows: RowDataPacket[], f: (r: RowDataPacket) => T): Map<number, T> =>
      new Map(rows.map((r) => [Number(r['fid']), f(r)]));
    const h = byFid(history, (r) => [Number(r['uploaded']), Number(r['downloaded'])]);
    const v4 = byFid(ips, (r) => [Number(r['up']), Number(r['down'])]);
    const v6 = byFid(ips6, (r) => [Number(r['up']), Number(r['down'])]);
    for (const row of ips6) expect(row['ip']).toBe('00000000000000000000000000000001'); // ::1, 16 bytes
    for (const { torrentId, order } of plays) {
      const e = expectedCredit(order);
      const where = `torrent ${torrentId}: ${order.map(([f, r]) => `v${f}:${r}`).join(' ')}`;
      expect(h.get(torrentId), where).toEqual([e.up, e.down]);
      const [u4, d4] = v4.get(torrentId) ?? [0, 0];
      const [u6, d6] = v6.get(torrentId) ?? [0, 0];
      expect([u4! + u6!, d4! + d6!], where).toEqual([e.up, e.down]);
    }
  });

  it('answers an IPv4 announce with IPv4 peers and an IPv6 one with IPv6 peers in peers6, counted by family in /metrics', async () => {
    const torrentId = plays[0]!.torrentId;
    // Another user's client, over IPv6 only: an IPv6 peer in peers6 for a dual-stack asker.
    const other = await announce(
      '::1',
      { infoHash: hash(torrentId), peerId: peerIdOf('-qB4650-', 2), left: 500, port: 50002 },
      users.other.passkey,
    );
    // It has been seen over IPv6 only: the normal user's peer is given by its IPv6 endpoint.
    const peers6 = (body: Buffer): string[] => {
      const d = decodeBencode(body);
      if (!isDict(d)) throw new Error('not a dict');
      const v = d.entries.find(([k]) => Buffer.from(k).toString('latin1') === 'peers6')?.[1];
      if (v === undefined) return [];
      const b = Buffer.from(v as Uint8Array);
      const out: string[] = [];
      for (let i = 0; i < b.length; i += 18) out.push(`[${ipv6Text(b.toString('latin1', i, i + 16))}]:${b.readUInt16BE(i + 16)}`);
      return out;
    };
    expect(peers6(other)).toEqual(['[::1]:51413']);
    const mine = await announce('127.0.0.1', {
      infoHash: hash(torrentId),
      peerId: peerIdOf('-TR4000-', 1),
      uploaded: 2_300,
      downloaded: 7_000,
      left: 1000,
    });
    expect(peers6(mine)).toEqual(['[::1]:50002']);
    expect(mine.toString('latin1')).toMatch(/5:peers0:6:peers618:/);

    const metrics = (await getOver('::1', t.port, '/metrics')).toString();
    const v6 = Number(/^hayate_announces_by_family_total\{family="ipv6"\} (\d+)/m.exec(metrics)?.[1]);
    const v4 = Number(/^hayate_announces_by_family_total\{family="ipv4"\} (\d+)/m.exec(metrics)?.[1]);
    expect(v6).toBe(plays.reduce((n, p) => n + p.order.filter(([f]) => f === 6).length, 0) + 1);
    expect(v4).toBe(plays.reduce((n, p) => n + p.order.filter(([f]) => f === 4).length, 0) + 1);
    expect(metrics).toMatch(/^hayate_peer_endpoints\{family="ipv6"\} [1-9]/m);
  });

  it('keeps IPv6 endpoints across a restart (peers6-cache.bin beside chihaya’s files, which chihaya can still read)', async () => {
    const torrentId = plays[0]!.torrentId;
    await t.tracker.writeCache();
    const file = readFileSync(`${t.dir}/${IPV6_ENDPOINTS_FILE}`);
    expect(file.length).toBeGreaterThan(2);
    const before = t.tracker.store.torrents.get(hash(torrentId).toString('latin1'))!;
    const v6Before = before.leechers.peers.filter((p) => p.v6 !== undefined).map((p) => [p.key, p.v6!.addr, p.v6!.port]);
    expect(v6Before.length).toBeGreaterThan(0);
    await t.tracker.stop(10_000);
    t = await startTracker({ db, dir: t.dir, host: '::', configure: (c) => (c.announce.ipv6 = true) });
    const after = t.tracker.store.torrents.get(hash(torrentId).toString('latin1'))!;
    expect(after.leechers.peers.filter((p) => p.v6 !== undefined).map((p) => [p.key, p.v6!.addr, p.v6!.port])).toEqual(v6Before);
  });
});

describe('IPv6 on without the migration', () => {
  it('refuses to start, naming the migration', async () => {
    const db = await createTestDatabase();
    try {
      await expect(startTracker({ db, configure: (c) => (c.announce.ipv6 = true) })).rejects.toThrow(
        /transfer_ips6 does not exist: apply database\/migrations\/002-transfer-ips6\.sql/,
      );
    } finally {
      await db.drop();
    }
  });
});
