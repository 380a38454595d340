/**
 * A dual-stack peer across a SIGKILL (issue 15 × issue 16): the built tracker, IPv6 on,
 * the journal on and no cache checkpoint, so everything the peer did comes back from the
 * journal. Its IPv4 side reports totals behind its IPv6 side (BEP 7 clients announce per
 * family on their own schedules): after the restart, such a late report must still credit
 * nothing, and the next IPv6 report only what it adds — each byte once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import { loadFixtures } from '../fixtures/load.js';
import { users } from '../fixtures/site.js';
import { announceQuery, hash, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { applyIpv6Migration, getOver } from './helpers/ipv6-site.js';
import { freePort } from './helpers/net.js';
import { spawnHayate, type TrackerProcess } from './helpers/process.js';

const TORRENT = 7100;
const user = users.normal;

describe('a dual-stack peer survives a SIGKILL: its late reports credit nothing twice', () => {
  let db: TestDatabase | undefined;
  let dir: string | undefined;
  let tracker: TrackerProcess | undefined;
  afterEach(async () => {
    if (tracker !== undefined && tracker.child.exitCode === null && tracker.child.signalCode === null) tracker.child.kill('SIGKILL');
    await db?.drop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** The built tracker in `dir`, once it listens. */
  async function start(): Promise<TrackerProcess> {
    const started = spawnHayate(dir!, ['-c', 'config.json']);
    await started.waitForLog('listening', 30_000);
    return started;
  }

  type Step = [host: '127.0.0.1' | '::1', totals: number, event?: string];

  /** Plays `before`, SIGKILLs the tracker, restarts it, plays `after`, stops it; returns the user's and the row's raw bytes. */
  async function play(before: Step[], after: Step[]): Promise<number[]> {
    db = await createTestDatabase('hayate_crash6');
    await loadFixtures(db.conn);
    await applyIpv6Migration(db);
    await db.conn.query("INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (?, ?, 'anime', ?)", [
      TORRENT,
      TORRENT,
      hash(TORRENT),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'hayate-crash6-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        database: { dsn: db.dsn },
        http: { addr: `[::]:${port}` },
        announce: { ipv6: true },
        // No cache checkpoint while the test runs: the restart rebuilds the peer from the journal alone.
        intervals: { database_serialize: 36_000, flush: 1, peer_inactivity: 36_000, purge_inactive_peers: 36_000 },
        log_flushes: false,
      }),
    );
    const [[baseline]] = await db.conn.query<RowDataPacket[]>('SELECT rawup, rawdl FROM users_main WHERE ID = ?', [user.id]);
    const peerId = peerIdOf('-TR3000-', 66);
    const announce = async ([host, totals, event]: Step): Promise<void> => {
      const params: AnnounceParams = {
        infoHash: hash(TORRENT),
        peerId,
        port: 51413,
        uploaded: totals,
        downloaded: totals,
        left: 5000,
        event,
      };
      const body = (await getOver(host, port, `/${user.passkey}/announce${announceQuery(params)}`)).toString('latin1');
      expect(body).toMatch(/^d8:complete/);
    };

    tracker = await start();
    for (const step of before) await announce(step);
    // Every answer above went out after its journal record was written: the kill loses none of them.
    tracker.child.kill('SIGKILL');
    expect(await tracker.exited).toBe('SIGKILL');
    tracker = await start();
    for (const step of after) await announce(step);
    tracker.child.kill('SIGTERM');
    expect(await tracker.exited).toBe(0);

    const [[account]] = await db.conn.query<RowDataPacket[]>('SELECT rawup, rawdl FROM users_main WHERE ID = ?', [user.id]);
    const [[history]] = await db.conn.query<RowDataPacket[]>(
      'SELECT uploaded, downloaded FROM transfer_history WHERE uid = ? AND fid = ?',
      [user.id, TORRENT],
    );
    return [
      Number(account!['rawup']) - Number(baseline!['rawup']),
      Number(account!['rawdl']) - Number(baseline!['rawdl']),
      Number(history!['uploaded']),
      Number(history!['downloaded']),
    ];
  }

  // An IPv4 peer gains its IPv6 endpoint (1,000 bytes), its IPv4 side reports 900 (behind: nothing).
  const beforeTheKill: Step[] = [
    ['127.0.0.1', 0, 'started'],
    ['::1', 1000],
    ['127.0.0.1', 900],
  ];

  it('after the restart an IPv4 report behind the IPv6 one credits 0, and the next IPv6 report what it adds', async () => {
    // 950 is still behind the 1,000 credited: nothing; then 100 more. (Rebuilt without its IPv6 side the peer took 950 as a new baseline and credited 150.)
    const got = await play(beforeTheKill, [
      ['127.0.0.1', 950],
      ['::1', 1100],
    ]);
    expect(got).toEqual([1100, 1100, 1100, 1100]);
  });

  it('after the restart a counter reset is still told from a late report', async () => {
    // IPv6 reports 10, below its own last report (1,000): the client reset its counters (nothing,
    // a new baseline); then IPv4 30 (20 more) and IPv6 40 (10 more), as without the kill.
    const got = await play(beforeTheKill, [
      ['::1', 10],
      ['127.0.0.1', 30],
      ['::1', 40],
    ]);
    expect(got).toEqual([1030, 1030, 1030, 1030]);
  });
});
