/**
 * Real BitTorrent clients move a file through hayate (issue 7): a seeder and a
 * leecher on loopback, each announcing with its own passkey, then the database
 * must show what a site expects: the download, the upload, the snatch, the
 * credited totals per multiplier, and both peers stopped and gone.
 *
 * Needs aria2c, transmission-create and transmission-cli (Debian: aria2,
 * transmission-cli); .ci/run installs them. Missing binaries fail the test.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTrackerQuery } from '../src/http/query.js';
import {
  aria2Args,
  ClientProcess,
  createTorrent,
  freePort,
  infoHashOf,
  requireBinaries,
  withAnnounceUrl,
} from './helpers/bt-clients.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
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
}

let site: Site | undefined;

beforeAll(() => {
  requireBinaries({ aria2c: 'aria2', 'transmission-create': 'transmission-cli', 'transmission-cli': 'transmission-cli' });
});

afterEach(async () => {
  if (site === undefined) return;
  const { running, db, dir, clients } = site;
  site = undefined;
  for (const client of clients) await client.kill();
  await running.close();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Two enabled users, the approved client prefixes, a tracker on loopback that notes every announce. */
async function startSite(): Promise<Site> {
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
  const running = await startTracker({ db, fixtures: false });
  const announces: SeenAnnounce[] = [];
  // An extra 'request' listener only observes; fastify still answers.
  running.tracker.http.server.on('request', (req: IncomingMessage) => {
    const url = req.url ?? '';
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
  site = { running, db, dir, announces, clients: [] };
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
  const announceUrl = (passkey: string) => `http://127.0.0.1:${s.running.port}/${passkey}/announce`;
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
      const up = Math.max(0, q.uploaded! - previous.uploaded);
      const down = Math.max(0, q.downloaded! - previous.downloaded);
      total.rawup += up;
      total.rawdl += down;
      total.uploaded += Math.trunc(up * user.up);
      total.downloaded += Math.trunc(down * user.down);
    }
    if (q.event === 'stopped') last.delete(peer);
    else last.set(peer, { uploaded: q.uploaded!, downloaded: q.downloaded! });
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
  // The leecher downloaded the payload (aria2 counts payload bytes; a re-requested block may add a little).
  expect(leecherCredit.rawdl).toBeGreaterThanOrEqual(size);
  expect(leecherCredit.rawdl).toBeLessThan(size * 1.1);
  // The only peer it had was the seeder: what the seeder uploaded is what the leecher got.
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

function announced(s: Site, user: SiteUser, event: string): boolean {
  return s.announces.some((a) => a.passkey === user.passkey && a.params.get('event') === event);
}

describe('real clients through hayate', () => {
  it('aria2c seeds to aria2c: the file arrives and the site sees the download, upload, snatch and credits', async () => {
    const startedAt = Math.floor(Date.now() / 1000);
    const s = await startSite();
    const published = await publish(s);
    const torrent = () => swarmOf(s, published.infoHash);

    const seeder = aria2(s, 'seeder', published.seedDir, published.seederTorrent, 'seeder', await freePort());
    await eventually(() => (torrent().seeders.size === 1 ? true : undefined), 20_000, 'the aria2c seeder in the swarm');

    const leecher = aria2(s, 'leecher', published.leechDir, published.leecherTorrent, 'leecher', await freePort());
    // Complete: aria2 announces event=completed and the tracker moves it to the seeders.
    await eventually(
      () => (torrent().seeders.size === 2 && torrent().snatched === 1 ? true : undefined),
      40_000,
      "the leecher's event=completed",
    );
    expect(announced(s, leecherUser, 'completed')).toBe(true);
    expect(readFileSync(join(published.leechDir, 'payload.bin')).equals(published.payload)).toBe(true);

    expect(await leecher.stop('SIGINT')).toBe(0);
    expect(await seeder.stop('SIGINT')).toBe(0);
    expect(announced(s, leecherUser, 'stopped') && announced(s, seederUser, 'stopped')).toBe(true);
    console.log(describeAnnounces(s.announces));
    await expectAccounted(s, published, startedAt);
  });
});
