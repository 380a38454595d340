import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFixtures } from '../fixtures/load.js';
import { users } from '../fixtures/site.js';
import { ipv6Text } from '../src/protocol/ipv6.js';
import { ipToString, type Peer } from '../src/store/peer.js';
import {
  aria2Args,
  ClientProcess,
  createTorrent,
  findBinary,
  freePort,
  infoHashOf,
  requireBinaries,
  withAnnounceUrl,
} from './helpers/bt-clients.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { eventually } from './helpers/tracker.js';
import { Tracker } from '../src/app.js';
import { defaultConfig, type Config } from '../src/config/config.js';
import { silentLogger } from '../src/log.js';

const migration = readFileSync(new URL('../database/migrations/002-transfer-ips6.sql', import.meta.url), 'utf8').replace(/^\s*--.*$/gm, '');
const TORRENT_ID = 9100;
/** A host name the leecher resolves to both loopback addresses (::1 first), in a mount namespace of its own. */
const DUAL_NAME = 'hayate-dual.test';

/**
 * A real client announcing over both families: aria2c resolves DUAL_NAME to ::1 and
 * 127.0.0.1 (an /etc/hosts of its own, bind-mounted in a private mount namespace: the
 * machine's stays untouched), connects to ::1 first and falls back to 127.0.0.1 when ::1
 * refuses. The tracker listens on both families first, then restarts on 127.0.0.1 only
 * (cache files and peers6-cache.bin carry the peer over): the same peer_id and running
 * totals arrive over IPv6, then over IPv4.
 */
describe('a real client (aria2c) announcing over IPv6 then IPv4 with one peer_id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-ipv6-clients-'));
  const clients: ClientProcess[] = [];
  let db: TestDatabase | undefined;
  let running: Tracker | undefined;

  afterAll(async () => {
    for (const c of clients) await c.kill();
    await running?.stop(10_000);
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is credited each downloaded byte once, split between transfer_ips6 (::1) and transfer_ips (127.0.0.1)', async () => {
    requireBinaries({ aria2c: 'aria2', 'transmission-create': 'transmission-cli', unshare: 'util-linux', mount: 'mount' });
    expect(findBinary('aria2c')).toBeDefined();
    db = await createTestDatabase();
    await loadFixtures(db.conn);
    for (const statement of migration.split(';')) if (statement.trim() !== '') await db.conn.query(statement);

    const port = await freePort();
    const seedDir = join(dir, 'seed');
    const leechDir = join(dir, 'leech');
    mkdirSync(seedDir);
    mkdirSync(leechDir);
    const payload = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(seedDir, 'payload.bin'), payload);
    const torrent = createTorrent(join(seedDir, 'payload.bin'), `http://127.0.0.1:${port}/x/announce`, join(dir, 'base.torrent'));
    const infoHash = infoHashOf(torrent);
    await db.conn.query('INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (?, ?, ?, ?)', [
      TORRENT_ID,
      TORRENT_ID,
      'anime',
      infoHash,
    ]);
    writeFileSync(join(dir, 'seeder.torrent'), withAnnounceUrl(torrent, `http://127.0.0.1:${port}/${users.other.passkey}/announce`));
    writeFileSync(join(dir, 'leecher.torrent'), withAnnounceUrl(torrent, `http://${DUAL_NAME}:${port}/${users.normal.passkey}/announce`));
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, `::1 ${DUAL_NAME}\n127.0.0.1 ${DUAL_NAME}\n`);

    const configure = (c: Config): void => {
      c.announce.ipv6 = true;
      c.intervals.announce = 1;
      c.intervals.min_announce = 1;
      c.intervals.announce_drift = 0;
      c.intervals.flush = 3600;
    };
    const [[before]] = await db.conn.query<RowDataPacket[]>('SELECT rawdl FROM users_main WHERE ID = ?', [users.normal.id]);

    // The tracker on a fixed port, so the client's URL stays valid across the restart.
    const start = async (host: string): Promise<Tracker> => {
      const config = defaultConfig();
      config.database.dsn = db!.dsn;
      config.log_flushes = false;
      configure(config);
      const started = new Tracker({ config, logger: silentLogger(), dir, accounting: { backoffMinMs: 50, backoffMaxMs: 200 } });
      running = started;
      await started.start({ host, port });
      return started;
    };
    // Phase 1: the tracker on both families (the seeder announces to 127.0.0.1); the leecher
    // connects to ::1 first, so announces over IPv6 (and is given the seeder's IPv4 endpoint).
    let tracker = await start('::');

    const aria2 = (name: string, torrentFile: string, role: 'seeder' | 'leecher', extra: string[], wrap: boolean): ClientProcess => {
      const args = aria2Args({
        dir: role === 'seeder' ? seedDir : leechDir,
        listenPort: 0,
        torrent: torrentFile,
        role,
        logFile: join(dir, `${name}.log`),
      });
      const listen = args.findIndex((a) => a.startsWith('--listen-port='));
      args.splice(listen, 1);
      const all = [...args.slice(0, -1), ...extra, args.at(-1)!];
      const client = wrap
        ? new ClientProcess(
            name,
            'unshare',
            ['-m', 'sh', '-c', `mount --bind "$0" /etc/hosts && exec aria2c "$@"`, hosts, ...all],
            join(dir, `${name}.out`),
            dir,
          )
        : new ClientProcess(name, 'aria2c', all, join(dir, `${name}.out`), dir);
      clients.push(client);
      return client;
    };
    const seeder = aria2('seeder', join(dir, 'seeder.torrent'), 'seeder', [`--listen-port=${await freePort()}`], false);
    const leecher = aria2(
      'leecher',
      join(dir, 'leecher.torrent'),
      'leecher',
      // IPv6 on (to resolve ::1), peers over IPv4 (the seeder), slow enough to announce on the way.
      ['--disable-ipv6=false', `--listen-port=${await freePort()}`, '--max-download-limit=400K', '--bt-tracker-interval=1'],
      true,
    );

    const leecherPeer = (tr: Tracker): Peer | undefined => {
      const swarm = tr.store.torrents.get(infoHash.toString('latin1'));
      return [...(swarm?.leechers.peers ?? []), ...(swarm?.seeders.peers ?? [])].find((p) => p.userId === users.normal.id);
    };
    const downloadedOf = (tr: Tracker, p: Peer): number => {
      const swarm = tr.store.torrents.get(infoHash.toString('latin1'))!;
      return Number(swarm.leechers.peers.includes(p) ? swarm.leechers.downloaded(p) : swarm.seeders.downloaded(p));
    };
    // Over IPv6: an IPv6 endpoint (::1), no IPv4 one, and some bytes reported on the way.
    const v6peer = await eventually(
      () => {
        const p = leecherPeer(tracker);
        return p !== undefined && p.v6 !== undefined && downloadedOf(tracker, p) > 0 ? p : undefined;
      },
      30_000,
      `the leecher's IPv6 announces with bytes (leecher log: ${leecher.log().slice(-500)})`,
    );
    expect([v6peer.ip, ipv6Text(v6peer.v6!.addr)]).toEqual([0, '::1']);

    // Phase 2: the tracker restarts on 127.0.0.1 only; aria2c falls back to IPv4.
    await tracker.stop(10_000);
    tracker = await start('127.0.0.1');
    const restored = leecherPeer(tracker);
    expect(restored?.v6 && ipv6Text(restored.v6.addr)).toBe('::1'); // peers6-cache.bin
    const v4peer = await eventually(
      () => {
        const p = leecherPeer(tracker);
        return p !== undefined && p.ip !== 0 ? p : undefined;
      },
      30_000,
      `the leecher's IPv4 announce (leecher log: ${leecher.log().slice(-500)})`,
    );
    expect(ipToString(v4peer.ip >>> 0)).toBe('127.0.0.1');
    expect(ipv6Text(v4peer.v6!.addr)).toBe('::1'); // the same peer, both endpoints
    // Done downloading: a seeder now.
    await eventually(
      () => {
        const swarm = tracker.store.torrents.get(infoHash.toString('latin1'))!;
        return swarm.seeders.peers.some((p) => p.userId === users.normal.id) ? true : undefined;
      },
      60_000,
      'the leecher to complete',
    );
    await leecher.stop('SIGINT');
    await seeder.stop('SIGINT');
    await tracker.stop(10_000);

    const [[after]] = await db.conn.query<RowDataPacket[]>('SELECT rawdl FROM users_main WHERE ID = ?', [users.normal.id]);
    const rawdl = Number(after!['rawdl']) - Number(before!['rawdl']);
    // Every payload byte once (a re-requested block may add a little; twice would be ≥ 2×).
    expect(rawdl).toBeGreaterThanOrEqual(payload.length);
    expect(rawdl).toBeLessThan(payload.length * 1.1);
    const [[history]] = await db.conn.query<RowDataPacket[]>('SELECT downloaded FROM transfer_history WHERE uid = ? AND fid = ?', [
      users.normal.id,
      TORRENT_ID,
    ]);
    expect(Number(history!['downloaded'])).toBe(rawdl);
    const [[v4]] = await db.conn.query<RowDataPacket[]>(
      'SELECT COALESCE(SUM(downloaded), 0) AS d FROM transfer_ips WHERE uid = ? AND fid = ?',
      [users.normal.id, TORRENT_ID],
    );
    const [v6rows] = await db.conn.query<RowDataPacket[]>(
      'SELECT INET6_NTOA(ip) AS ip, downloaded AS d FROM transfer_ips6 WHERE uid = ? AND fid = ?',
      [users.normal.id, TORRENT_ID],
    );
    expect(v6rows.map((r) => r['ip'])).toEqual(['::1']);
    const d6 = Number(v6rows[0]!['d']);
    expect(d6).toBeGreaterThan(0);
    expect(Number(v4!['d'])).toBeGreaterThan(0);
    expect(Number(v4!['d']) + d6).toBe(rawdl);
  }, 180_000);
});
