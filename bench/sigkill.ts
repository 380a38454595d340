/**
 * SIGKILL under load, then a restart from the cache files: how many announced
 * bytes fail to reach users_main, and how many are credited twice.
 *
 *   npx tsc -p . && node dist/bench/sigkill.js [--peers 2000] [--load-seconds 20]
 *       [--serialize 10] [--flush 3] [--concurrency 32] [--root mysql://root:@127.0.0.1:3306]
 *
 * Runs the built tracker (node dist/cmd/hayate.js) in a temporary working
 * directory on a generated database (one user per peer, so users_main.rawup is
 * that peer's credit). Each peer first announces a baseline, then keeps
 * announcing growing `uploaded` counters; mid-load the tracker gets SIGKILL, is
 * started again in the same directory (it reads torrent-cache.bin), every peer
 * announces twice more, and the tracker is stopped with SIGTERM (full flush).
 *
 * Truth per peer: final counter − baseline (what the client says it uploaded).
 * Credited: users_main.rawup. credited − truth < 0 is loss, > 0 is double credit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { schemaStatements } from '../fixtures/load.js';

function arg(name: string, fallback: number | string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : String(fallback);
}
const PEERS = Number(arg('peers', 2000));
const TORRENTS = 100;
const LOAD_SECONDS = Number(arg('load-seconds', 20));
const SERIALIZE = Number(arg('serialize', 10));
const FLUSH = Number(arg('flush', 3));
const CONCURRENCY = Number(arg('concurrency', 32));
const ROOT = arg('root', process.env['DB_ROOT_URL'] ?? 'mysql://root:@127.0.0.1:3306');
const PORT = 35_000 + (process.pid % 2000);
const repo = new URL('../../', import.meta.url);
const DB = `hayate_sigkill_${process.pid}`;

const schema = schemaStatements();

const hashOf = (torrent: number): Buffer => Buffer.from(torrent.toString(16).padStart(40, '0'), 'hex');
const passkeyOf = (user: number): string => String(user).padStart(32, '0');
const pct = (b: Buffer): string => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');

async function setUpDatabase(): Promise<string> {
  const root = new URL(ROOT);
  const conn = await createConnection({
    host: root.hostname,
    port: Number(root.port || 3306),
    user: root.username || 'root',
    password: root.password,
  });
  await conn.query(`DROP DATABASE IF EXISTS ${DB}`);
  await conn.query(`CREATE DATABASE ${DB}`);
  await conn.query(`USE ${DB}`);
  for (const s of schema) await conn.query(s);
  await conn.query(`INSERT INTO users_main (ID, Enabled, torrent_pass) SELECT seq, '1', LPAD(seq, 32, '0') FROM seq_1_to_${PEERS}`);
  await conn.query(
    `INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) SELECT seq, seq, 'anime', UNHEX(LPAD(HEX(seq), 40, '0')) FROM seq_1_to_${TORRENTS}`,
  );
  await conn.query(`INSERT INTO approved_clients (id, peer_id, archived) VALUES (1, '-TR', 0)`);
  await conn.end();
  return `mysql://${root.username || 'root'}:${root.password}@${root.host}/${DB}`;
}

interface PeerState {
  user: number;
  torrent: number;
  peerId: string;
  baseline: number;
  counter: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function announce(p: PeerState, event = ''): Promise<boolean> {
  const path =
    `/${passkeyOf(p.user)}/announce?info_hash=${pct(hashOf(p.torrent))}&peer_id=${pct(Buffer.from(p.peerId))}` +
    `&port=6881&uploaded=${p.counter}&downloaded=0&left=0&numwant=5&ip=10.0.0.1${event ? `&event=${event}` : ''}`;
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: PORT, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 && !Buffer.concat(chunks).includes('failure reason')));
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

function startTracker(dir: string): ChildProcess {
  const child = spawn(process.execPath, [new URL('dist/cmd/hayate.js', repo).pathname, '-c', 'config.json'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, HAYATE_LOG_LEVEL: 'warn' },
  });
  return child;
}

async function waitAlive(): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port: PORT, path: '/alive', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('tracker did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

async function main(): Promise<void> {
  const dsn = await setUpDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'hayate-sigkill-'));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      database: { dsn },
      http: { addr: `127.0.0.1:${PORT}` },
      intervals: { database_serialize: SERIALIZE, flush: FLUSH },
      log_flushes: false,
    }),
  );
  const peers: PeerState[] = Array.from({ length: PEERS }, (_, i) => ({
    user: i + 1,
    torrent: 1 + (i % TORRENTS),
    peerId: `-TR3000-${String(i).padStart(12, '0')}`,
    baseline: 1_000_000 + i,
    counter: 1_000_000 + i,
  }));

  let child = startTracker(dir);
  await waitAlive();
  for (const p of peers) if (!(await announce(p))) throw new Error('baseline announce failed');

  // Load: workers keep announcing growing counters until the kill.
  let killed = false;
  let sent = 0;
  let failedAtKill = 0;
  const worker = async (w: number): Promise<void> => {
    for (let k = w; !killed; k += CONCURRENCY) {
      const p = peers[k % PEERS]!;
      p.counter += 100_000 + ((k * 7919) % 900_000);
      sent++;
      // killed is set by the main flow while this worker awaits: TypeScript's narrowing from the loop test does not know.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (!(await announce(p)) && killed) failedAtKill++;
    }
  };
  const started = Date.now();
  const workers = Array.from({ length: CONCURRENCY }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, LOAD_SECONDS * 1000));
  // No cache file yet (the first write is database_serialize seconds after start): the restart starts empty.
  const cacheAgeMs = existsSync(join(dir, 'torrent-cache.bin'))
    ? Date.now() - statSync(join(dir, 'torrent-cache.bin')).mtimeMs
    : Number.NaN;
  const announcedAtKill = peers.reduce((s, p) => s + (p.counter - p.baseline), 0);
  child.kill('SIGKILL');
  killed = true;
  await exited(child);
  await Promise.all(workers);
  const loadSeconds = (Date.now() - started) / 1000;

  const conn = await createConnection(dsn);
  const [[atKill]] = (await conn.query<RowDataPacket[]>('SELECT SUM(rawup) AS up FROM users_main')) as unknown as [RowDataPacket[]];
  const flushedAtKill = Number(atKill!['up']);

  // Restart in the same folder: peers come back from torrent-cache.bin.
  agent.destroy();
  child = startTracker(dir);
  await waitAlive();
  for (let round = 0; round < 2; round++) {
    for (const p of peers) {
      p.counter += 50_000;
      if (!(await announce(p))) throw new Error('announce after restart failed');
    }
  }
  child.kill('SIGTERM');
  const code = await exited(child);

  const [rows] = await conn.query<RowDataPacket[]>('SELECT ID, rawup FROM users_main ORDER BY ID');
  let truth = 0;
  let credited = 0;
  let lost = 0;
  let doubled = 0;
  let exact = 0;
  for (const row of rows) {
    const p = peers[Number(row['ID']) - 1]!;
    const want = p.counter - p.baseline;
    const got = Number(row['rawup']);
    truth += want;
    credited += got;
    if (got < want) lost += want - got;
    else if (got > want) doubled += got - want;
    else exact++;
  }
  await conn.query(`DROP DATABASE ${DB}`);
  await conn.end();
  rmSync(dir, { recursive: true, force: true });

  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  console.log(
    JSON.stringify(
      {
        peers: PEERS,
        loadSeconds: Number(loadSeconds.toFixed(1)),
        announcesBeforeKill: sent,
        announcesPerSecond: Math.round(sent / loadSeconds),
        failedInFlightAtKill: failedAtKill,
        cacheAgeAtKillSeconds: Number.isNaN(cacheAgeMs) ? 'no cache file' : Number((cacheAgeMs / 1000).toFixed(1)),
        config: { database_serialize: SERIALIZE, flush: FLUSH },
        announcedBeforeKill: mb(announcedAtKill),
        inDatabaseAtKill: mb(flushedAtKill),
        truth: mb(truth),
        credited: mb(credited),
        lost: mb(lost),
        creditedTwice: mb(doubled),
        peersExact: exact,
        stopExitCode: code,
      },
      null,
      2,
    ),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
