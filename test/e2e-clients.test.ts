/**
 * Real BitTorrent clients move a file through hayate (issue 7): a seeder and a
 * leecher on loopback, each announcing with its own passkey, then the database
 * must show what a site expects: the download, the upload, the snatch, the
 * credited totals per multiplier, and both peers stopped and gone.
 *
 * Needs aria2c, transmission-create, transmission-remote (Debian: aria2,
 * transmission-cli) and transmission-daemon; scripts/test.sh installs them. Missing
 * binaries fail the test, they do not skip it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTrackerQuery } from '../src/protocol/query.js';
import { aria2Args, ClientProcess, freePort, nonLoopbackIPv4, TransmissionDaemon } from './helpers/bt-clients.js';
import {
  announced,
  expectAccounted,
  expectedCredit,
  expectParametersHandled,
  leecherUser,
  PAYLOAD_BYTES,
  publish,
  row,
  seederUser,
  startSite,
  swarmOf,
  TORRENT_ID,
  type HistoryRow,
  type OnFinished,
  type Site,
  type SiteUser,
  type Swarmable,
  type UserRow,
} from './helpers/e2e-site.js';
import { eventually } from './helpers/tracker.js';

/** aria2c, transmission-remote and transmission-daemon (Debian: aria2, transmission-cli, transmission-daemon). */
const CLIENTS = {
  aria2c: 'aria2',
  'transmission-remote': 'transmission-cli',
  'transmission-daemon': 'transmission-daemon',
};

function aria2(s: Site, name: string, dir: string, torrent: string, role: 'seeder' | 'leecher' | 'leecher-exits', port: number) {
  const client = new ClientProcess(
    `aria2c ${name}`,
    'aria2c',
    aria2Args({ dir, listenPort: port, torrent, role, logFile: join(s.dir, `${name}-aria2.log`) }),
    join(s.dir, `${name}.out`),
    s.dir,
  );
  s.clients.push(client);
  return client;
}

async function transmission(s: Site, name: string, dir: string, torrent: string): Promise<TransmissionDaemon> {
  const daemon = await TransmissionDaemon.start({
    name: `transmission-daemon ${name}`,
    configDir: join(s.dir, `${name}-transmission`),
    dir,
    torrent,
    logFile: join(s.dir, `${name}.out`),
    cwd: s.dir,
  });
  s.clients.push(daemon.process);
  return daemon;
}

/** Stops the torrent over RPC, waits for its event=stopped announce, then ends the daemon. */
async function stopTransmission(s: Site, daemon: TransmissionDaemon, user: SiteUser): Promise<void> {
  // This stop's own announce: a magnet download's first announce under its new peer_id is a stop too.
  const mark = s.announces.length;
  daemon.stopTorrents();
  await eventually(() => (announced(s, user, 'stopped', mark) ? true : undefined), 15_000, `${daemon.process.name}: event=stopped`);
  expect(await daemon.process.stop('SIGTERM')).toBe(0);
}

type ClientFamily = 'aria2c' | 'transmission-daemon';

interface Running {
  /** Stops the client so that it announces event=stopped, and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `family` as seeder or leecher on this swarm; a leecher keeps seeding until stopped. */
async function startClient(s: Site, published: Swarmable, family: ClientFamily, role: 'seeder' | 'leecher'): Promise<Running> {
  const user = role === 'seeder' ? seederUser : leecherUser;
  const dir = role === 'seeder' ? published.seedDir : published.leechDir;
  const torrent = role === 'seeder' ? published.seederTorrent : published.leecherTorrent;
  if (family === 'aria2c') {
    const client = aria2(s, role, dir, torrent, role, await freePort());
    return {
      async stop() {
        // aria2c announces event=stopped on SIGINT, then exits 0.
        expect(await client.stop('SIGINT')).toBe(0);
      },
    };
  }
  const daemon = await transmission(s, role, dir, torrent);
  return {
    async stop() {
      const mark = s.announces.length;
      daemon.stopTorrents();
      await eventually(() => (announced(s, user, 'stopped', mark) ? true : undefined), 15_000, `${daemon.process.name}: event=stopped`);
      expect(await daemon.process.stop('SIGTERM')).toBe(0);
    },
  };
}

/**
 * The whole story: the seeder joins, the leecher downloads and announces
 * event=completed, the file is intact, both stop, and the database shows it all.
 */
async function transfer(onFinished: OnFinished, seederFamily: ClientFamily, leecherFamily: ClientFamily, host?: string): Promise<void> {
  const startedAt = Math.floor(Date.now() / 1000);
  const s = await startSite(onFinished, host, CLIENTS);
  const published = await publish(s);
  const torrent = () => swarmOf(s, published.infoHash);

  const seeder = await startClient(s, published, seederFamily, 'seeder');
  await eventually(() => (torrent().seeders.size === 1 ? true : undefined), 20_000, `the ${seederFamily} seeder in the swarm`);

  const leecher = await startClient(s, published, leecherFamily, 'leecher');
  // Complete: the leecher announces event=completed and the tracker moves it to the seeders.
  await eventually(
    () => (torrent().seeders.size === 2 && torrent().snatched === 1 ? true : undefined),
    40_000,
    `the ${leecherFamily} leecher's event=completed`,
  );
  expect(announced(s, leecherUser, 'completed')).toBe(true);
  expect(readFileSync(join(published.leechDir, 'payload.bin')).equals(published.payload)).toBe(true);

  await leecher.stop();
  await seeder.stop();
  expect(announced(s, leecherUser, 'stopped') && announced(s, seederUser, 'stopped')).toBe(true);
  // Every announce of these clients was read on the socket path: none needed Node's parser.
  const stats = s.running.tracker.metrics.requests;
  expect(stats.connections).toBeGreaterThan(0);
  expect(stats.connectionsHandedOver).toBe(0);
  await expectAccounted(s, published, startedAt);
  expectParametersHandled(s, `${seederFamily} and ${leecherFamily}`);
}

// Each swarm has its own database, tracker and ports; the clients mostly wait on
// each other's choke rounds (10 s in both aria2 and transmission), so run them side by side.
describe.concurrent('real clients move a file through hayate', () => {
  it('aria2c seeds to aria2c', async ({ onTestFinished }) => {
    await transfer(onTestFinished, 'aria2c', 'aria2c');
  });

  it('transmission-daemon seeds to aria2c', async ({ onTestFinished }) => {
    await transfer(onTestFinished, 'transmission-daemon', 'aria2c');
  });

  // transmission 3.00 drops tracker-given peers in 127.0.0.0/8 ("martian"), so this
  // swarm runs on the machine's own interface address instead of loopback.
  it('aria2c seeds to transmission-daemon (on a non-loopback interface)', async ({ onTestFinished }) => {
    const host = nonLoopbackIPv4();
    if (host === undefined) {
      throw new Error(
        'no non-loopback IPv4 interface: transmission 3.00 ignores tracker peers in 127.0.0.0/8, so it cannot leech on loopback',
      );
    }
    await transfer(onTestFinished, 'aria2c', 'transmission-daemon', host);
  });

  // Before it has the metadata, a magnet download announces left = 2^63 − 1 (Transmission) or
  // 2^64 − 1: a leecher. On a private tracker its peers are its only source of metadata, so a
  // tracker refusing that number means the download never starts (issue 12, issue 14).
  it('a Transmission magnet link downloads through hayate (left = 2^63 - 1 until it has the metadata)', async ({ onTestFinished }) => {
    const host = nonLoopbackIPv4();
    if (host === undefined) throw new Error('no non-loopback IPv4 interface: transmission 3.00 ignores tracker peers in 127.0.0.0/8');
    const startedAt = Math.floor(Date.now() / 1000);
    const s = await startSite(onTestFinished, host, CLIENTS);
    const published = await publish(s);
    const torrent = () => swarmOf(s, published.infoHash);
    const seeder = await startClient(s, published, 'aria2c', 'seeder');
    await eventually(() => (torrent().seeders.size === 1 ? true : undefined), 20_000, 'the aria2c seeder in the swarm');

    const announceUrl = `http://${host}:${s.tap.port}/${leecherUser.passkey}/announce`;
    const magnet = `magnet:?xt=urn:btih:${published.infoHash.toString('hex')}&dn=payload.bin&tr=${encodeURIComponent(announceUrl)}`;
    const leecher = await TransmissionDaemon.start({
      name: 'transmission-daemon magnet leecher',
      configDir: join(s.dir, 'magnet-transmission'),
      dir: published.leechDir,
      torrent: magnet,
      logFile: join(s.dir, 'magnet.out'),
      cwd: s.dir,
    });
    s.clients.push(leecher.process);
    await eventually(
      () => (torrent().seeders.size === 2 && torrent().snatched === 1 ? true : undefined),
      60_000,
      'the magnet leecher has the file and is a seeder',
    );
    const first = s.announces.find((a) => a.passkey === leecherUser.passkey)!;
    expect(first.params.get('left')).toBe('9223372036854775807');
    expect(readFileSync(join(published.leechDir, 'payload.bin')).equals(published.payload)).toBe(true);

    // Transmission 3.00 fetched the metadata under a peer_id of its own, then went on under a
    // new one. Its stop for the first is a race inside it: usually the stop goes out under the
    // new peer_id and the first is never stopped (a leecher that stays until it times out),
    // sometimes under the first (seen in CI). The tracker's side is checked for what was sent.
    const leecherAnnounces = s.announces.filter((a) => a.passkey === leecherUser.passkey);
    const peerIds = new Set(leecherAnnounces.map((a) => a.params.get('peer_id')));
    expect(peerIds.size).toBe(2);
    await stopTransmission(s, leecher, leecherUser);
    await seeder.stop();
    const metadataPeerId = first.params.get('peer_id');
    const ghost = !s.announces.some(
      (a) => a.passkey === leecherUser.passkey && a.params.get('peer_id') === metadataPeerId && a.params.get('event') === 'stopped',
    );
    if (!ghost) console.log('Transmission stopped its metadata-phase peer_id this time: no leftover leecher');
    await expectAccounted(s, published, startedAt, { metadataGhost: ghost });

    // A leftover never counts as a snatch or a hit-and-run signal: the user's row says seeding,
    // with nothing left, one snatch; the purge takes the leftover away and the row stays so.
    const { tracker } = s.running;
    const purged = await tracker.purge.runOnce(Math.floor(Date.now() / 1000) + tracker.config.intervals.peer_inactivity + 1);
    expect(purged.purgedPeers).toBe(ghost ? 1 : 0);
    expect(torrent().leechers.size).toBe(0);
    await tracker.accounting.flushNow();
    const history = await row<HistoryRow>(s.db, 'SELECT * FROM transfer_history WHERE uid = ? AND fid = ?', [leecherUser.id, TORRENT_ID]);
    expect(history).toMatchObject({ snatched: 1, seeding: 1, active: 0 });
    expect(Number(history!.remaining)).toBe(0);
    const counts = await row<{ Snatched: number; Leechers: number }>(s.db, 'SELECT Snatched, Leechers FROM torrents WHERE ID = ?', [
      TORRENT_ID,
    ]);
    expect(counts).toEqual({ Snatched: 1, Leechers: 0 });
  });

  // aria2c --seed-time=0 usually never announces event=completed: it goes from started
  // (left > 0) straight to stopped (left = 0). chihaya counts no snatch for it; hayate
  // does (a known leecher reaching left = 0 is a snatch, issue 14), once. When the last
  // piece lands while aria2c is between announces it sends completed before it stops
  // (seen once in CI): then the snatch must still be counted once, not twice.
  it('an aria2c leecher that exits at completion (--seed-time=0) is credited and counted as one snatch', async ({ onTestFinished }) => {
    const s = await startSite(onTestFinished, undefined, CLIENTS);
    const published = await publish(s);
    const torrent = () => swarmOf(s, published.infoHash);
    const seeder = await startClient(s, published, 'aria2c', 'seeder');
    await eventually(() => (torrent().seeders.size === 1 ? true : undefined), 20_000, 'the aria2c seeder in the swarm');

    const leecher = aria2(s, 'leecher', published.leechDir, published.leecherTorrent, 'leecher-exits', await freePort());
    expect(await leecher.waitForExit(40_000)).toBe(0);
    expect(readFileSync(join(published.leechDir, 'payload.bin')).equals(published.payload)).toBe(true);
    await seeder.stop();
    const saidCompleted = announced(s, leecherUser, 'completed');
    const leecherAnnounces = s.announces.filter((a) => a.passkey === leecherUser.passkey).map((a) => parseTrackerQuery(a.url));
    expect(leecherAnnounces.map((q) => [q.event, q.left])).toEqual([
      ['started', PAYLOAD_BYTES],
      ...(saidCompleted ? [['completed', 0]] : []),
      ['stopped', 0],
    ]);
    if (saidCompleted) console.log('aria2c announced completed before it stopped this time: the snatch must still count once');

    const credit = expectedCredit(s.announces, leecherUser);
    expect(credit.rawdl).toBeGreaterThanOrEqual(PAYLOAD_BYTES);
    await s.running.tracker.accounting.flushNow();
    const history = await eventually(
      async () => {
        const r = await row<HistoryRow>(s.db, 'SELECT * FROM transfer_history WHERE uid = ? AND fid = ?', [leecherUser.id, TORRENT_ID]);
        return r !== undefined && r.active === 0 && Number(r.downloaded) === credit.rawdl ? r : undefined;
      },
      15_000,
      'the leecher transfer_history row',
    );
    expect(history.snatched).toBe(1);
    expect(history.snatched_time).toBeGreaterThan(0);
    expect(Number(history.remaining)).toBe(0);
    const account = await eventually(
      async () => {
        const r = await row<UserRow>(s.db, 'SELECT Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID = ?', [leecherUser.id]);
        return r !== undefined && Number(r.rawdl) === credit.rawdl ? r : undefined;
      },
      15_000,
      'users_main of the leecher',
    );
    expect(Number(account.Downloaded)).toBe(credit.downloaded);
    expect(torrent().snatched).toBe(1);
    expect(torrent().seeders.size + torrent().leechers.size).toBe(0);
    const snatched = await eventually(
      async () => {
        const r = await row<{ Snatched: number }>(s.db, 'SELECT Snatched FROM torrents WHERE ID = ?', [TORRENT_ID]);
        return r?.Snatched === 1 ? r : undefined;
      },
      15_000,
      'torrents.Snatched = 1',
    );
    expect(snatched.Snatched).toBe(1);
  });
});
