/**
 * A site for the end-to-end tests with real BitTorrent clients: two enabled users with
 * their own multipliers, every real client's peer_id prefix approved, a tracker that
 * notes every announce on the wire, a published torrent, and the exact checks of what the
 * database must show afterwards (replayed from the announces the tracker saw).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parseTrackerQuery } from '../../src/protocol/query.js';
import { ipFromString } from '../../src/store/peer.js';
import { createTorrent, infoHashOf, requireBinaries, withAnnounceUrl, type ClientProcess } from './bt-clients.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { startRequestTap, type RequestTap } from './request-tap.js';
import { eventually, startTracker, type RunningTracker } from './tracker.js';

/**
 * approved_clients rows: each real client's peer_id prefix (Azureus style `-XXvvvv-`, aria2's
 * own). rTorrent is built on rakshasa's libtorrent (`-lt0D80-`); qBittorrent and Deluge on
 * libtorrent-rasterbar, which names itself `-LT` when used directly.
 */
export const CLIENT_PREFIXES: readonly (readonly [id: number, prefix: string])[] = [
  [1, 'A2-'],
  [2, '-TR'],
  [3, '-qB'],
  [4, '-DE'],
  [5, '-lt'],
  [6, '-LT'],
];

export function clientIdOf(peerId: string): number {
  const found = CLIENT_PREFIXES.find(([, prefix]) => peerId.startsWith(prefix));
  if (found === undefined) throw new Error(`no approved prefix for peer_id ${JSON.stringify(peerId)}`);
  return found[0];
}

export interface SiteUser {
  id: number;
  passkey: string;
  up: number;
  down: number;
}

// Multipliers exact in a FLOAT column, and different per user and direction.
export const seederUser: SiteUser = { id: 1, passkey: randomBytes(16).toString('hex'), up: 1.5, down: 1 };
export const leecherUser: SiteUser = { id: 2, passkey: randomBytes(16).toString('hex'), up: 1.25, down: 0.75 };
export const TORRENT_ID = 7;
// A few MiB plus a partial last piece.
export const PAYLOAD_BYTES = 4 * 1024 * 1024 + 12_345;

/** One announce as it reached the tracker (the raw request target). */
export interface SeenAnnounce {
  passkey: string;
  url: string;
  params: Map<string, string>;
}

export interface Site {
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

/**
 * Each test checks for its own clients (`binaries`: name → Debian package), so a machine
 * without them shows failed tests, never skipped ones. transmission-create makes the .torrent.
 */
export function requireClients(binaries: Record<string, string> = {}): void {
  requireBinaries({ 'transmission-create': 'transmission-cli', ...binaries });
}

export type OnFinished = (fn: () => Promise<void>) => void;

/**
 * Two enabled users, the approved client prefixes, and a tracker on `host`
 * (loopback unless said otherwise) that notes every announce.
 */
export async function startSite(onFinished: OnFinished, host = '127.0.0.1', binaries: Record<string, string> = {}): Promise<Site> {
  requireClients(binaries);
  const db = await createTestDatabase('hayate_e2e');
  await db.conn.query(
    "INSERT INTO users_main (ID, Enabled, torrent_pass, UpMultiplier, DownMultiplier) VALUES (?, '1', ?, ?, ?), (?, '1', ?, ?, ?)",
    [
      seederUser.id,
      seederUser.passkey,
      seederUser.up,
      seederUser.down,
      leecherUser.id,
      leecherUser.passkey,
      leecherUser.up,
      leecherUser.down,
    ],
  );
  await db.conn.query(
    `INSERT INTO approved_clients (id, peer_id) VALUES ${CLIENT_PREFIXES.map(([id, p]) => `(${id}, '${p}')`).join(', ')}`,
  );
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

export interface Swarmable {
  infoHash: Buffer;
  seederTorrent: string;
  leecherTorrent: string;
  payload: Buffer;
  seedDir: string;
  leechDir: string;
}

/** Payload, .torrent made by transmission-create, each user's copy with their passkey, the torrents row. */
export async function publish(s: Site): Promise<Swarmable> {
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
  await s.db.conn.query("INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (?, 1, 'anime', ?)", [TORRENT_ID, infoHash]);
  expect(await s.running.tracker.reloader.reload()).toBe(true);
  return { infoHash, seederTorrent, leecherTorrent, payload, seedDir, leechDir };
}

export function swarmOf(s: Site, infoHash: Buffer) {
  const torrent = s.running.tracker.store.torrents.get(infoHash.toString('latin1'));
  if (torrent === undefined) throw new Error('torrent not loaded');
  return torrent;
}

/**
 * What the tracker must have credited, replayed from the announces it saw:
 * per peer (passkey, peer_id) the first announce is the baseline, later ones
 * add max(0, counter − previous); event=stopped ends the peer.
 */
export function expectedCredit(announces: SeenAnnounce[], user: SiteUser) {
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

export async function row<T>(db: TestDatabase, sql: string, params: unknown[]): Promise<T | undefined> {
  const [rows] = await db.conn.query(sql, params);
  return (rows as T[])[0];
}

// BIGINT columns: the test connection has supportBigNumbers, so a value beyond 2^53 is a string (hence Number(...) below).
export interface HistoryRow {
  uploaded: number | string;
  downloaded: number | string;
  seeding: number;
  remaining: number | string;
  active: number;
  snatched: number;
  snatched_time: number;
  starttime: number;
  last_announce: number;
}

export interface UserRow {
  Uploaded: number | string;
  Downloaded: number | string;
  rawup: number | string;
  rawdl: number | string;
}

/** After both clients have stopped: flush, then check every table a site reads. */
export async function expectAccounted(
  s: Site,
  published: Swarmable,
  startedAt: number,
  options: {
    restarted?: boolean;
    /**
     * The leecher started from a magnet link and its metadata-phase peer (its own peer_id,
     * left = 2^63 − 1) never stopped: it stays a leecher until it times out.
     */
    metadataGhost?: boolean;
  } = {},
): Promise<void> {
  // A client restarted mid-download may fetch again the blocks of pieces it had not finished.
  const overhead = options.restarted ? 1.25 : 1.1;
  const torrent = swarmOf(s, published.infoHash);
  // Both sent event=stopped: gone from the swarm (the relay sees a stop before the tracker
  // has answered it, so wait for the tracker).
  const leftover = options.metadataGhost ? 1 : 0;
  await eventually(
    () => (torrent.seeders.size === 0 && torrent.leechers.size === leftover ? true : undefined),
    15_000,
    `the swarm emptied but for ${leftover} leftover leecher(s)`,
  ).catch((err: unknown) => {
    // What was left, and what each user last said: the timeout alone does not tell which client misbehaved.
    const left = (swarm: typeof torrent.seeders, role: string) =>
      [...swarm.peers].map((p) => `${role} of user ${p.userId} (left ${String(swarm.left(p))})`);
    const said = s.announces.map(
      (a) =>
        `${a.passkey === leecherUser.passkey ? 'leecher' : 'seeder'} ${a.params.get('peer_id')?.slice(0, 8) ?? '?'} ${a.params.get('event') ?? '-'} left=${a.params.get('left') ?? '?'}`,
    );
    throw new Error(
      `${String(err)}; in the swarm: ${[...left(torrent.seeders, 'seeder'), ...left(torrent.leechers, 'leecher')].join(', ') || 'nobody'}; announces: ${said.join(' | ')}`,
    );
  });
  for (const ghost of torrent.leechers.peers) {
    expect(ghost.userId).toBe(leecherUser.id);
    expect(torrent.leechers.left(ghost)).toBeGreaterThan(2 ** 62);
  }
  expect(s.running.tracker.metrics.requests.failures).toBe(0);

  const seederCredit = expectedCredit(s.announces, seederUser);
  const leecherCredit = expectedCredit(s.announces, leecherUser);
  const size = published.payload.length;
  // The leecher downloaded the payload (a re-requested block may add a little).
  expect(leecherCredit.rawdl).toBeGreaterThanOrEqual(size);
  expect(leecherCredit.rawdl).toBeLessThan(size * overhead);
  // The only peer it had was the seeder. aria2 counts payload bytes; transmission
  // also counts the 13-byte header of each piece message (size + 13 × blocks).
  expect(seederCredit.rawup).toBeGreaterThanOrEqual(size);
  expect(seederCredit.rawup).toBeLessThan(size * overhead);

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
      return r !== undefined && r.Seeders === 0 && r.Leechers === leftover ? r : undefined;
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
    expect(
      (ips as Record<string, unknown>[]).map((r) => ({ ...r, uploaded: Number(r.uploaded), downloaded: Number(r.downloaded) })),
    ).toEqual([
      {
        ip: ipFromString(s.host),
        client_id: clientIdOf(q.peerId!),
        uploaded: credit.rawup,
        downloaded: credit.rawdl,
        port: q.port,
      },
    ]);
  }
}

export function describeAnnounces(announces: SeenAnnounce[]): string {
  return announces.map((a) => `${a.passkey === seederUser.passkey ? 'seeder' : 'leecher'} ${a.url.replace(/^[^?]*/, '')}`).join('\n');
}

/** Whether `user` announced `event`, counting only announces from index `from` on. */
export function announced(s: Site, user: SiteUser, event: string, from = 0): boolean {
  return s.announces.slice(from).some((a) => a.passkey === user.passkey && a.params.get('event') === event);
}

/**
 * Announce parameters hayate reads, and those it knowingly ignores (BEP 3 / BEP 7 / BEP 23
 * and the clients' own extensions). A client sending anything else fails its test, so a new
 * client version's new parameter is looked at, not silently dropped.
 */
const READ = ['info_hash', 'peer_id', 'port', 'uploaded', 'downloaded', 'left', 'event', 'compact', 'no_peer_id', 'numwant', 'ip'];
const IGNORED = [
  'key', // a client's random id to recognise itself across address changes (peers are keyed by passkey + peer_id)
  'corrupt', // bytes discarded for failing the hash check (libtorrent, Transmission): not transfer
  'redundant', // bytes downloaded twice (libtorrent): already in `downloaded`
  'supportcrypto', // encryption support: peers are handed out regardless
  'requirecrypto',
  'cryptoport',
  'trackerid', // only sent back when a tracker gave one; hayate gives none
  'ipv4', // BEP 7 extra addresses: read only with announce.ipv6
  'ipv6',
  'localip',
  'azudp',
];
const HANDLED = new Set([...READ, ...IGNORED]);

/**
 * What the clients of this site really sent, each parameter either read or knowingly
 * ignored by hayate, and the ones BEP 3 requires there; prints the list (for docs/clients.md).
 */
export function expectParametersHandled(s: Site, family: string): void {
  const names = [...new Set(s.announces.flatMap((a) => [...a.params.keys()]))].sort();
  console.log(`${family} announces with: ${names.join(', ')}`);
  expect(names.filter((n) => !HANDLED.has(n.toLowerCase()))).toEqual([]);
  for (const required of ['info_hash', 'peer_id', 'port', 'uploaded', 'downloaded', 'left']) expect(names).toContain(required);
  expect(s.announces.some((a) => a.passkey === seederUser.passkey) && s.announces.some((a) => a.passkey === leecherUser.passkey)).toBe(
    true,
  );
}
