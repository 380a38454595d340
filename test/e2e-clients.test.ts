/**
 * Real BitTorrent clients move a file through hayate (issue 7): a seeder and a
 * leecher on loopback, each announcing with its own passkey, then the database
 * must show what a site expects: the download, the upload, the snatch, the
 * credited totals per multiplier, and both peers stopped and gone.
 *
 * Needs aria2c, transmission-create, transmission-remote (Debian: aria2,
 * transmission-cli) and transmission-daemon; .ci/run installs them. Missing
 * binaries fail the test, they do not skip it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTrackerQuery } from '../src/protocol/query.js';
import { ipFromString } from '../src/store/peer.js';
import {
  aria2Args,
  ClientProcess,
  createTorrent,
  freePort,
  infoHashOf,
  requireBinaries,
  nonLoopbackIPv4,
  TransmissionDaemon,
  withAnnounceUrl,
} from './helpers/bt-clients.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startRequestTap, type RequestTap } from './helpers/request-tap.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';

interface SiteUser {
  id: number;
  passkey: string;
  up: number;
  down: number;
}

// Multipliers exact in a FLOAT column, and different per user and direction.
const seederUser: SiteUser = { id: 1, passkey: randomBytes(16).toString('hex'), up: 1.5, down: 1 };
const leecherUser: SiteUser = { id: 2, passkey: randomBytes(16).toString('hex'), up: 1.25, down: 0.75 };
const TORRENT_ID = 7;
// A few MiB plus a partial last piece.
const PAYLOAD_BYTES = 4 * 1024 * 1024 + 12_345;

/** One announce as it reached the tracker (the raw request target). */
interface SeenAnnounce {
  passkey: string;
  url: string;
  params: Map<string, string>;
}

interface Site {
  running: RunningTracker;
  db: TestDatabase;
  dir: string;
  announces: SeenAnnounce[];
  clients: ClientProcess[];
  /** The tracker's address, in the announce URLs. */
  host: string;
  /** The relay the clients announce through (same host). */
  tap: RequestTap;
}

/** Each test checks for itself, so a machine without the clients shows failed tests, never skipped ones. */
function requireClients(): void {
  requireBinaries({
    aria2c: 'aria2',
    'transmission-create': 'transmission-cli',
    'transmission-remote': 'transmission-cli',
    'transmission-daemon': 'transmission-daemon',
  });
}

type OnFinished = (fn: () => Promise<void>) => void;

/**
 * Two enabled users, the approved client prefixes, and a tracker on `host`
 * (loopback unless said otherwise) that notes every announce.
 */
async function startSite(onFinished: OnFinished, host = '127.0.0.1'): Promise<Site> {
  requireClients();
  const db = await createTestDatabase('hayate_e2e');
  await db.conn.query(
    "INSERT INTO users_main (ID, Enabled, torrent_pass, UpMultiplier, DownMultiplier) VALUES (?, '1', ?, ?, ?), (?, '1', ?, ?, ?)",
    [
      seederUser.id, seederUser.passkey, seederUser.up, seederUser.down,
      leecherUser.id, leecherUser.passkey, leecherUser.up, leecherUser.down,
    ],
  );
  // aria2 1.36: peer_id "A2-1-36-0-..."; transmission 3.00: "-TR3000-...".
  await db.conn.query("INSERT INTO approved_clients (id, peer_id) VALUES (1, 'A2-'), (2, '-TR')");
  await db.conn.query("INSERT INTO mod_core (mod_option, mod_setting) VALUES ('global_freeleech', 0)");
  const running = await startTracker({ db, fixtures: false, host });
  // Clients announce through a relay that notes each request on the wire (the tracker answers
  // plain announces below Node's HTTP server, where no 'request' event is emitted).
  const announces: SeenAnnounce[] = [];
  const tap = await startRequestTap(host, running.port, ({ target: url }) => {
    const match = /^\/([^/]+)\/announce\?(.*)$/.exec(url);
    if (match === null) return;
    const params = new Map<string, string>();
    for (const pair of match[2]!.split('&')) {
      const eq = pair.indexOf('=');
      params.set(eq === -1 ? pair : pair.slice(0, eq), eq === -1 ? '' : pair.slice(eq + 1));
    }
    announces.push({ passkey: match[1]!, url, params });
  });
  const dir = mkdtempSync(join(tmpdir(), 'hayate-e2e-'));
  const site: Site = { running, db, dir, announces, clients: [], host, tap };
  onFinished(async () => {
    for (const client of site.clients) await client.kill();
    await tap.close();
    await running.close();
    await db.drop();
    writeFileSync(join(dir, 'announces.txt'), `${describeAnnounces(announces)}\n`);
    // HAYATE_E2E_KEEP=1 keeps the folder (client logs, announces.txt, .torrent files) for a look.
    if (process.env.HAYATE_E2E_KEEP) console.log(`e2e files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return site;
}

interface Swarmable {
  infoHash: Buffer;
  seederTorrent: string;
  leecherTorrent: string;
  payload: Buffer;
  seedDir: string;
  leechDir: string;
}

/** Payload, .torrent made by transmission-create, each user's copy with their passkey, the torrents row. */
async function publish(s: Site): Promise<Swarmable> {
  const seedDir = join(s.dir, 'seed');
  const leechDir = join(s.dir, 'leech');
  mkdirSync(seedDir);
  mkdirSync(leechDir);
  const payload = randomBytes(PAYLOAD_BYTES);
  writeFileSync(join(seedDir, 'payload.bin'), payload);
  const announceUrl = (passkey: string) => `http://${s.host}:${s.tap.port}/${passkey}/announce`;
  const made = createTorrent(join(seedDir, 'payload.bin'), announceUrl(seederUser.passkey), join(s.dir, 'made.torrent'));
  const seederTorrent = join(s.dir, 'seeder.torrent');
  const leecherTorrent = join(s.dir, 'leecher.torrent');
  writeFileSync(seederTorrent, withAnnounceUrl(made, announceUrl(seederUser.passkey)));
  writeFileSync(leecherTorrent, withAnnounceUrl(made, announceUrl(leecherUser.passkey)));
  const infoHash = infoHashOf(made);
  await s.db.conn.query(
    "INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (?, 1, 'anime', ?)",
    [TORRENT_ID, infoHash],
  );
  expect(await s.running.tracker.reloader.reload()).toBe(true);
  return { infoHash, seederTorrent, leecherTorrent, payload, seedDir, leechDir };
}

function swarmOf(s: Site, infoHash: Buffer) {
  const torrent = s.running.tracker.store.torrents.get(infoHash.toString('latin1'));
  if (torrent === undefined) throw new Error('torrent not loaded');
  return torrent;
}

/**
 * What the tracker must have credited, replayed from the announces it saw:
 * per peer (passkey, peer_id) the first announce is the baseline, later ones
 * add max(0, counter − previous); event=stopped ends the peer.
 */
function expectedCredit(announces: SeenAnnounce[], user: SiteUser) {
  const last = new Map<string, { uploaded: number; downloaded: number }>();
  const total = { rawup: 0, rawdl: 0, uploaded: 0, downloaded: 0 };
  for (const a of announces) {
    if (a.passkey !== user.passkey) continue;
    const q = parseTrackerQuery(a.url);
    const peer = q.peerId!;
    const previous = last.get(peer);
    if (previous !== undefined) {
      const up = Math.max(0, Number(q.uploaded!) - previous.uploaded);
      const down = Math.max(0, Number(q.downloaded!) - previous.downloaded);
      total.rawup += up;
      total.rawdl += down;
      total.uploaded += Math.trunc(up * user.up);
      total.downloaded += Math.trunc(down * user.down);
    }
    if (q.event === 'stopped') last.delete(peer);
    else last.set(peer, { uploaded: Number(q.uploaded!), downloaded: Number(q.downloaded!) });
  }
  return total;
}

async function row<T>(db: TestDatabase, sql: string, params: unknown[]): Promise<T | undefined> {
  const [rows] = await db.conn.query(sql, params);
  return (rows as T[])[0];
}

interface HistoryRow {
  uploaded: number;
  downloaded: number;
  seeding: number;
  remaining: number;
  active: number;
  snatched: number;
  snatched_time: number;
  starttime: number;
  last_announce: number;
}

interface UserRow {
  Uploaded: number;
  Downloaded: number;
  rawup: number;
  rawdl: number;
}

/** After both clients have stopped: flush, then check every table a site reads. */
async function expectAccounted(s: Site, published: Swarmable, startedAt: number): Promise<void> {
  const torrent = swarmOf(s, published.infoHash);
  // Both sent event=stopped: gone from the swarm.
  expect(torrent.seeders.size).toBe(0);
  expect(torrent.leechers.size).toBe(0);
  expect(s.running.tracker.metrics.requests.failures).toBe(0);

  const seederCredit = expectedCredit(s.announces, seederUser);
  const leecherCredit = expectedCredit(s.announces, leecherUser);
  const size = published.payload.length;
  // The leecher downloaded the payload (a re-requested block may add a little).
  expect(leecherCredit.rawdl).toBeGreaterThanOrEqual(size);
  expect(leecherCredit.rawdl).toBeLessThan(size * 1.1);
  // The only peer it had was the seeder. aria2 counts payload bytes; transmission
  // also counts the 13-byte header of each piece message (size + 13 × blocks).
  expect(seederCredit.rawup).toBeGreaterThanOrEqual(size);
  expect(seederCredit.rawup).toBeLessThan(size * 1.1);

  await s.running.tracker.accounting.flushNow();
  const db = s.db;
  const leecherHistory = await eventually(
    async () => {
      const r = await row<HistoryRow>(db, 'SELECT * FROM transfer_history WHERE uid = ? AND fid = ?', [leecherUser.id, TORRENT_ID]);
      return r !== undefined && r.active === 0 && Number(r.downloaded) === leecherCredit.rawdl ? r : undefined;
    },
    15_000,
    'the leecher transfer_history row (downloaded, inactive)',
  );
  expect(leecherHistory.snatched).toBe(1);
  expect(leecherHistory.snatched_time).toBeGreaterThanOrEqual(startedAt);
  expect(leecherHistory.snatched_time).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
  expect(leecherHistory.seeding).toBe(1);
  expect(Number(leecherHistory.remaining)).toBe(0);
  expect(Number(leecherHistory.uploaded)).toBe(leecherCredit.rawup);

  const seederHistory = await eventually(
    async () => {
      const r = await row<HistoryRow>(db, 'SELECT * FROM transfer_history WHERE uid = ? AND fid = ?', [seederUser.id, TORRENT_ID]);
      return r !== undefined && r.active === 0 && Number(r.uploaded) === seederCredit.rawup ? r : undefined;
    },
    15_000,
    'the seeder transfer_history row (uploaded, inactive)',
  );
  expect(seederHistory.snatched).toBe(0);
  expect(seederHistory.seeding).toBe(1);
  expect(Number(seederHistory.downloaded)).toBe(0);

  for (const [user, credit] of [
    [seederUser, seederCredit],
    [leecherUser, leecherCredit],
  ] as const) {
    const account = await eventually(
      async () => {
        const r = await row<UserRow>(db, 'SELECT Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID = ?', [user.id]);
        return r !== undefined && Number(r.rawup) === credit.rawup && Number(r.rawdl) === credit.rawdl ? r : undefined;
      },
      15_000,
      `users_main of user ${user.id}`,
    );
    expect(Number(account.Uploaded)).toBe(credit.uploaded);
    expect(Number(account.Downloaded)).toBe(credit.downloaded);
    // Each announce's credit is truncated; the sum is within one byte per announce of floor(raw × mult).
    expect(Number(account.Uploaded)).toBeLessThanOrEqual(Math.floor(credit.rawup * user.up));
    expect(Number(account.Downloaded)).toBeLessThanOrEqual(Math.floor(credit.rawdl * user.down));
  }

  const torrentRow = await eventually(
    async () => {
      const r = await row<{ Snatched: number; Seeders: number; Leechers: number }>(
        db,
        'SELECT Snatched, Seeders, Leechers FROM torrents WHERE ID = ?',
        [TORRENT_ID],
      );
      return r !== undefined && r.Seeders === 0 && r.Leechers === 0 ? r : undefined;
    },
    15_000,
    'the torrents row with no peers left',
  );
  expect(torrentRow.Snatched).toBe(1);

  // transfer_ips: one row per user, at the address the tracker resolved (the socket's:
  // a non-public `ip` parameter would be ignored), with the client's approved_clients id.
  for (const [user, credit] of [
    [seederUser, seederCredit],
    [leecherUser, leecherCredit],
  ] as const) {
    const last = s.announces.filter((a) => a.passkey === user.passkey).at(-1)!;
    const q = parseTrackerQuery(last.url);
    const [ips] = await db.conn.query('SELECT ip, client_id, uploaded, downloaded, port FROM transfer_ips WHERE uid = ? AND fid = ?', [
      user.id,
      TORRENT_ID,
    ]);
    expect((ips as Record<string, unknown>[]).map((r) => ({ ...r, uploaded: Number(r.uploaded), downloaded: Number(r.downloaded) }))).toEqual([
      {
        ip: ipFromString(s.host),
        client_id: q.peerId!.startsWith('A2-') ? 1 : 2,
        uploaded: credit.rawup,
        downloaded: credit.rawdl,
        port: q.port,
      },
    ]);
  }
}

function describeAnnounces(announces: SeenAnnounce[]): string {
  return announces.map((a) => `${a.passkey === seederUser.passkey ? 'seeder' : 'leecher'} ${a.url.replace(/^[^?]*/, '')}`).join('\n');
}

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
  daemon.stopTorrents();
  await eventually(() => (announced(s, user, 'stopped') ? true : undefined), 15_000, `${daemon.process.name}: event=stopped`);
  expect(await daemon.process.stop('SIGTERM')).toBe(0);
}

function announced(s: Site, user: SiteUser, event: string): boolean {
  return s.announces.some((a) => a.passkey === user.passkey && a.params.get('event') === event);
}

type ClientFamily = 'aria2c' | 'transmission-daemon';

interface Running {
  /** Stops the client so that it announces event=stopped, and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `family` as seeder or leecher on this swarm; a leecher keeps seeding until stopped. */
async function startClient(
  s: Site,
  published: Swarmable,
  family: ClientFamily,
  role: 'seeder' | 'leecher',
): Promise<Running> {
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
      daemon.stopTorrents();
      await eventually(() => (announced(s, user, 'stopped') ? true : undefined), 15_000, `${daemon.process.name}: event=stopped`);
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
  const s = await startSite(onFinished, host);
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
      throw new Error('no non-loopback IPv4 interface: transmission 3.00 ignores tracker peers in 127.0.0.0/8, so it cannot leech on loopback');
    }
    await transfer(onTestFinished, 'aria2c', 'transmission-daemon', host);
  });

  // aria2c --seed-time=0 never announces event=completed: it goes from started
  // (left > 0) straight to stopped (left = 0). chihaya counts no snatch for it; hayate
  // does (a known leecher reaching left = 0 is a snatch, issue 14), once.
  it('an aria2c leecher that exits at completion (--seed-time=0) is credited and counted as one snatch', async ({ onTestFinished }) => {
    const s = await startSite(onTestFinished);
    const published = await publish(s);
    const torrent = () => swarmOf(s, published.infoHash);
    const seeder = await startClient(s, published, 'aria2c', 'seeder');
    await eventually(() => (torrent().seeders.size === 1 ? true : undefined), 20_000, 'the aria2c seeder in the swarm');

    const leecher = aria2(s, 'leecher', published.leechDir, published.leecherTorrent, 'leecher-exits', await freePort());
    expect(await leecher.waitForExit(40_000)).toBe(0);
    expect(readFileSync(join(published.leechDir, 'payload.bin')).equals(published.payload)).toBe(true);
    await seeder.stop();
    expect(announced(s, leecherUser, 'completed')).toBe(false);
    const leecherAnnounces = s.announces.filter((a) => a.passkey === leecherUser.passkey).map((a) => parseTrackerQuery(a.url));
    expect(leecherAnnounces.map((q) => [q.event, q.left])).toEqual([
      ['started', PAYLOAD_BYTES],
      ['stopped', 0],
    ]);

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
