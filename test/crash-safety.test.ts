/**
 * Crash safety (docs/crash-safety.md): the built tracker is SIGKILLed at many
 * points under a stream of announces with known counters, restarted on the same
 * folder and database, and the database is compared with an exact ledger:
 * users_main (credited and raw), transfer_history (bytes, times, snatches),
 * transfer_ips, torrents.Snatched. Zero lost, zero doubled.
 *
 * Why the ledger is exact whatever the kills hit: every peer's first announce (its
 * baseline) is answered before the first kill, and its last two after the last
 * restart; a tracker that neither loses nor repeats an effect credits, per peer,
 * exactly last counter − baseline counter, whichever announces in between were
 * answered, lost in flight, or retried.
 *
 * About 40–80 s on 2 cores. HAYATE_CRASH_TEST_JOURNAL=off runs it with the journal
 * off, for the "before" figures (it then fails, printing what was lost and doubled).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { RECORD_SIZE } from '../src/journal/index.js';
import { encodeBytes, hash } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { eventually } from './helpers/tracker.js';
import { openDbRelay } from './helpers/db-relay.js';

const JOURNAL = process.env['HAYATE_CRASH_TEST_JOURNAL'] !== 'off';
const PEERS = 120;
const USERS = 60; // two peers per user, on different torrents
const TORRENTS = 6; // torrent 1 is freeleech (DownMultiplier 0)
const CONCURRENCY = 12;

type Kind = 'seeder' | 'leecher' | 'completer';

interface Peer {
  index: number;
  user: number;
  torrent: number;
  kind: Kind;
  peerId: string;
  ip: string;
  port: number;
  up: number;
  down: number;
  left: number;
  baseUp: number;
  baseDown: number;
  /** Announces sent; a completer completes at its `completeAt`-th. */
  sent: number;
  completeAt: number;
}

const passkeyOf = (user: number): string => `crash${String(user).padStart(27, '0')}`;
/** Users with an even ID have UpMultiplier 2. */
const upMultiplier = (user: number): number => (user % 2 === 0 ? 2 : 1);
const downMultiplier = (torrent: number): number => (torrent === 1 ? 0 : 1);

function makePeers(seed: number): Peer[] {
  let x = seed;
  const rand = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
  return Array.from({ length: PEERS }, (_, i) => {
    const kind: Kind = i % 3 === 0 ? 'seeder' : i % 3 === 1 ? 'leecher' : 'completer';
    const user = 1 + (i % USERS);
    const torrent = 1 + ((i + Math.floor(i / USERS)) % TORRENTS);
    const up = 1_000_000 + rand(1_000_000);
    const down = kind === 'seeder' ? 0 : rand(1_000_000);
    return {
      index: i,
      user,
      torrent,
      kind,
      peerId: `-TR3000-${String(i).padStart(12, '0')}`,
      ip: `10.1.${i >> 8}.${(i & 255) + 1}`,
      port: 20_000 + i,
      up,
      down,
      left: kind === 'seeder' ? 0 : 50_000_000,
      baseUp: up,
      baseDown: down,
      sent: 0,
      completeAt: 4 + rand(20),
    };
  });
}

async function makeSite(db: TestDatabase): Promise<void> {
  const users = Array.from({ length: USERS }, (_, i) => `(${i + 1}, '1', '${passkeyOf(i + 1)}', ${upMultiplier(i + 1)})`);
  await db.conn.query(`INSERT INTO users_main (ID, Enabled, torrent_pass, UpMultiplier) VALUES ${users.join(',')}`);
  for (let t = 1; t <= TORRENTS; t++) {
    await db.conn.query('INSERT INTO torrents (ID, GroupID, TorrentType, info_hash, DownMultiplier) VALUES (?, ?, ?, ?, ?)', [
      t,
      t,
      'anime',
      hash(t),
      downMultiplier(t),
    ]);
  }
  await db.conn.query("INSERT INTO approved_clients (id, peer_id) VALUES (1, '-TR')");
}

/** Advances the peer's counters for its next announce and returns its path. */
function nextAnnounce(p: Peer, step: number): string {
  p.sent++;
  let event = '';
  if (p.sent > 1) {
    p.up += 10_000 + ((p.index * 7919 + step * 104_729) % 90_000);
    if (p.left > 0) {
      const got = 5_000 + ((p.index * 31 + step * 17) % 40_000);
      p.down += got;
      if (p.kind === 'leecher') p.left = Math.max(1, p.left - got);
      if (p.kind === 'completer') {
        if (p.sent >= p.completeAt) {
          p.left = 0;
          event = '&event=completed';
        } else {
          p.left = Math.max(1, p.left - got);
        }
      }
    }
  }
  return (
    `/${passkeyOf(p.user)}/announce?info_hash=${encodeBytes(hash(p.torrent))}&peer_id=${encodeBytes(p.peerId)}` +
    `&port=${p.port}&uploaded=${p.up}&downloaded=${p.down}&left=${p.left}&ip=${p.ip}&numwant=5&compact=1${event}`
  );
}

function get(agent: Agent, port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 && !Buffer.concat(chunks).includes('failure reason')));
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

interface Settings {
  serialize: number;
  flush: number;
  segmentBytes?: number;
  /** journal.accounting_thread (default true): false keeps the queues and flushes on the main thread. */
  accountingThread?: boolean;
  /** Another way to the database (through a relay the test opens and closes). */
  dsn?: string;
}

class Run {
  child: ChildProcess | undefined;
  output = '';
  allOutput = '';
  port = 0;
  constructor(
    readonly dir: string,
    readonly db: TestDatabase,
  ) {}

  async configure(settings: Settings): Promise<void> {
    this.port = await freePort();
    writeFileSync(
      join(this.dir, 'config.json'),
      JSON.stringify({
        database: { dsn: settings.dsn ?? this.db.dsn },
        http: { addr: `127.0.0.1:${this.port}` },
        intervals: { database_serialize: settings.serialize, flush: settings.flush, peer_inactivity: 36_000, purge_inactive_peers: 36_000 },
        journal: {
          enabled: JOURNAL,
          segment_bytes: settings.segmentBytes ?? 64 * 1024 * 1024,
          accounting_thread: settings.accountingThread ?? true,
        },
        log_flushes: false,
      }),
    );
  }

  async start(env: Record<string, string> = {}): Promise<void> {
    this.output = '';
    const child = spawn(process.execPath, [join(process.cwd(), 'dist/cmd/hayate.js'), '-c', 'config.json'], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.child = child;
    const take = (c: Buffer): void => {
      this.output += c.toString();
      this.allOutput += c.toString();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    await eventually(
      () => (this.output.includes('"listening"') ? true : child.exitCode !== null ? false : undefined),
      30_000,
      'the tracker to listen',
    );
    if (!this.output.includes('"listening"')) throw new Error(`tracker exited:\n${this.output}`);
  }

  async kill(): Promise<void> {
    const child = this.child!;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }

  async stop(): Promise<number | null> {
    const child = this.child!;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    return exited;
  }
}

/** Sends announces from CONCURRENCY workers (each peer by one worker, in order) until `until` resolves. */
async function stream(run: Run, peers: Peer[], until: Promise<unknown>, step: { n: number }): Promise<number> {
  let stop = false;
  void until.then(() => (stop = true));
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let answered = 0;
  const worker = async (w: number): Promise<void> => {
    for (let k = w; !stop; k += CONCURRENCY) {
      const p = peers[k % PEERS]!;
      if (await get(agent, run.port, nextAnnounce(p, step.n++))) answered++;
      else if (!stop) await new Promise((r) => setTimeout(r, 5)); // the tracker is gone or going: do not spin
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  agent.destroy();
  return answered;
}

/** Every peer's announce, one at a time per peer, all answered (throws otherwise). */
async function announceAll(run: Run, peers: Peer[], step: { n: number }): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const queue = [...peers];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        if (!(await get(agent, run.port, nextAnnounce(p, step.n++)))) throw new Error(`announce of peer ${p.index} not answered`);
      }
    }),
  );
  agent.destroy();
}

interface Gap {
  lost: number;
  doubled: number;
  rows: number;
}

function tally(g: Gap, want: number, got: number): void {
  if (got < want) g.lost += want - got;
  if (got > want) g.doubled += got - want;
  if (got !== want) g.rows++;
}

/** Compares the database with the ledger; returns lost/doubled per table (bytes, or counts for snatches). */
interface Comparison {
  users_credited: Gap;
  users_raw: Gap;
  transfer_history: Gap;
  transfer_ips: Gap;
  snatches: Gap;
  problems: string[];
}

async function compare(db: TestDatabase, peers: Peer[], window: { from: number; to: number }): Promise<Comparison> {
  const out: Comparison = {
    users_credited: { lost: 0, doubled: 0, rows: 0 },
    users_raw: { lost: 0, doubled: 0, rows: 0 },
    transfer_history: { lost: 0, doubled: 0, rows: 0 },
    transfer_ips: { lost: 0, doubled: 0, rows: 0 },
    snatches: { lost: 0, doubled: 0, rows: 0 },
    problems: [],
  };
  const byUser = new Map<number, { up: number; down: number; rawUp: number; rawDown: number }>();
  for (const p of peers) {
    const u = byUser.get(p.user) ?? { up: 0, down: 0, rawUp: 0, rawDown: 0 };
    const rawUp = p.up - p.baseUp;
    const rawDown = p.down - p.baseDown;
    u.rawUp += rawUp;
    u.rawDown += rawDown;
    u.up += rawUp * upMultiplier(p.user);
    u.down += rawDown * downMultiplier(p.torrent);
    byUser.set(p.user, u);
  }
  const [users] = await db.conn.query<RowDataPacket[]>('SELECT ID, Uploaded, Downloaded, rawup, rawdl FROM users_main');
  for (const row of users) {
    const want = byUser.get(Number(row['ID']))!;
    tally(out.users_credited, want.up, Number(row['Uploaded']));
    tally(out.users_credited, want.down, Number(row['Downloaded']));
    tally(out.users_raw, want.rawUp, Number(row['rawup']));
    tally(out.users_raw, want.rawDown, Number(row['rawdl']));
  }
  const [history] = await db.conn.query<RowDataPacket[]>('SELECT * FROM transfer_history');
  const historyOf = new Map(history.map((r) => [`${r['uid']}:${r['fid']}`, r]));
  const [ips] = await db.conn.query<RowDataPacket[]>('SELECT * FROM transfer_ips');
  const ipsOf = new Map(ips.map((r) => [`${r['uid']}:${r['fid']}`, r]));
  if (ips.length !== PEERS) out.problems.push(`transfer_ips has ${ips.length} rows, want ${PEERS}`);
  if (history.length !== PEERS) out.problems.push(`transfer_history has ${history.length} rows, want ${PEERS}`);
  const snatchesOf = new Map<number, number>();
  for (const p of peers) {
    const h = historyOf.get(`${p.user}:${p.torrent}`);
    const ip = ipsOf.get(`${p.user}:${p.torrent}`);
    if (h === undefined || ip === undefined) {
      out.problems.push(`peer ${p.index}: no transfer_history or transfer_ips row`);
      continue;
    }
    tally(out.transfer_history, p.up - p.baseUp, Number(h['uploaded']));
    tally(out.transfer_history, p.down - p.baseDown, Number(h['downloaded']));
    tally(out.transfer_ips, p.up - p.baseUp, Number(ip['uploaded']));
    tally(out.transfer_ips, p.down - p.baseDown, Number(ip['downloaded']));
    const completed = p.kind === 'completer' && p.left === 0;
    tally(out.snatches, completed ? 1 : 0, Number(h['snatched']));
    if (completed) snatchesOf.set(p.torrent, (snatchesOf.get(p.torrent) ?? 0) + 1);
    // Times: the baseline announce started the row; each announce adds the seconds since the last one.
    const start = Number(h['starttime']);
    const last = Number(h['last_announce']);
    if (start < window.from || start > window.to) out.problems.push(`peer ${p.index}: starttime ${start} outside the run`);
    if (last < start || last > window.to) out.problems.push(`peer ${p.index}: last_announce ${last}`);
    if (Number(h['activetime']) !== last - start) out.problems.push(`peer ${p.index}: activetime ${h['activetime']}, want ${last - start}`);
    if (p.kind === 'seeder' && Number(h['seedtime']) !== last - start)
      out.problems.push(`peer ${p.index}: seedtime ${h['seedtime']}, want ${last - start}`);
    if (p.kind === 'leecher' && Number(h['seedtime']) !== 0) out.problems.push(`peer ${p.index}: leecher with seedtime ${h['seedtime']}`);
    if (Number(h['seeding']) !== (p.left === 0 ? 1 : 0) || Number(h['remaining']) !== p.left) {
      out.problems.push(`peer ${p.index}: seeding ${h['seeding']} remaining ${h['remaining']}, want left ${p.left}`);
    }
    if (completed !== Number(h['snatched_time']) > 0) out.problems.push(`peer ${p.index}: snatched_time ${h['snatched_time']}`);
    if (Number(ip['starttime']) !== start || Number(ip['last_announce']) !== last || Number(ip['port']) !== p.port) {
      out.problems.push(`peer ${p.index}: transfer_ips times/port ${ip['starttime']}/${ip['last_announce']}/${ip['port']}`);
    }
  }
  const [torrents] = await db.conn.query<RowDataPacket[]>('SELECT ID, Snatched FROM torrents');
  for (const t of torrents) tally(out.snatches, snatchesOf.get(Number(t['ID'])) ?? 0, Number(t['Snatched']));
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const lastSegment = (dir: string): string => {
  const names = readdirSync(join(dir, 'journal'))
    .filter((n) => n.endsWith('.hjl'))
    .sort();
  return join(dir, 'journal', names[names.length - 1]!);
};

describe('SIGKILL under a stream of announces, restart, continue: the database matches the ledger', () => {
  let db: TestDatabase | undefined;
  let dir: string | undefined;
  let run: Run | undefined;
  afterEach(async ({ task }) => {
    // A failure (a timeout above all) is read from the tracker's own log: keep its tail.
    if (task.result?.state === 'fail' && run !== undefined) console.error(`tracker log (tail):\n${run.allOutput.slice(-8_000)}`);
    await run?.kill().catch(() => undefined);
    await db?.drop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    db = undefined;
    dir = undefined;
    run = undefined;
  });

  /**
   * Baselines, then `kills` rounds of (stream, SIGKILL, `between`, restart), then two
   * answered announces per peer, SIGTERM, and the comparison.
   */
  async function scenario(
    name: string,
    settings: Settings | ((db: TestDatabase) => Promise<Settings>),
    kills: {
      runMs: () => number;
      before?: (r: Run, i: number) => Promise<void> | void;
      env?: (i: number) => Record<string, string>;
      until?: (r: Run, i: number) => Promise<void>;
    }[],
  ): Promise<{ run: Run; result: Awaited<ReturnType<typeof compare>> }> {
    db = await createTestDatabase('hayate_crash');
    await makeSite(db);
    dir = mkdtempSync(join(tmpdir(), 'hayate-crash-'));
    run = new Run(dir, db);
    await run.configure(typeof settings === 'function' ? await settings(db) : settings);
    const peers = makePeers(name.length * 7919);
    const step = { n: 0 };
    const from = Math.floor(Date.now() / 1000);
    await run.start(kills[0]?.env?.(0));
    await announceAll(run, peers, step); // baselines, all answered
    for (let i = 0; i < kills.length; i++) {
      const k = kills[i]!;
      const until = k.until ? k.until(run, i) : sleep(k.runMs());
      await stream(
        run,
        peers,
        until.then(() => run!.kill()),
        step,
      );
      await k.before?.(run, i);
      await run.start(kills[i + 1]?.env?.(i + 1));
    }
    await announceAll(run, peers, step);
    await announceAll(run, peers, step);
    const code = await run.stop();
    expect(code).toBe(0);
    const result = await compare(db, peers, { from, to: Math.floor(Date.now() / 1000) });
    console.log(JSON.stringify({ scenario: name, journal: JOURNAL, kills: kills.length, announces: step.n, ...result }));
    return { run, result };
  }

  function expectExact(result: Awaited<ReturnType<typeof compare>>): void {
    expect(result.problems).toEqual([]);
    for (const table of ['users_credited', 'users_raw', 'transfer_history', 'transfer_ips', 'snatches'] as const) {
      expect({ table, ...result[table] }).toEqual({ table, lost: 0, doubled: 0, rows: 0 });
    }
  }

  /** Run lengths of 300–1,599 ms before each kill, the same every time for a seed (Park–Miller). */
  function randomRunMs(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 48271) % 2147483647;
      return 300 + (state % 1300);
    };
  }

  it('six kills at random moments, with a checkpoint every second and small journal segments', async () => {
    const runMs = randomRunMs(42);
    const { run: r, result } = await scenario(
      'random',
      { serialize: 1, flush: 1, segmentBytes: 1024 * 1024 },
      Array.from({ length: 6 }, () => ({ runMs })),
    );
    expectExact(result);
    if (JOURNAL) {
      expect(r.allOutput).toContain('"accounting":"accounting thread"');
      expect(r.allOutput).toContain('"journal replayed"');
      // Segments a checkpoint and every flush had passed were removed.
      expect(existsSync(join(r.dir, 'journal', '0000000000000001.hjl'))).toBe(false);
    }
  });

  it('six kills at random moments with the accounting on the main thread (journal.accounting_thread off)', async () => {
    const runMs = randomRunMs(4242);
    const { run: r, result } = await scenario(
      'main thread',
      { serialize: 1, flush: 1, segmentBytes: 1024 * 1024, accountingThread: false },
      Array.from({ length: 6 }, () => ({ runMs })),
    );
    expectExact(result);
    expect(r.allOutput).toContain('"accounting":"main thread"');
    expect(r.allOutput).not.toContain('"accounting":"accounting thread"');
    if (JOURNAL) {
      expect(r.allOutput).toContain('"journal replayed"');
      expect(existsSync(join(r.dir, 'journal', '0000000000000001.hjl'))).toBe(false);
    }
  });

  it('repeated kills before the first checkpoint (no cache file ever written while running)', async () => {
    const { run: r, result } = await scenario(
      'no checkpoint',
      { serialize: 3600, flush: 1 },
      Array.from({ length: 4 }, (_, i) => ({
        runMs: () => 250 + i * 150,
        before: (x: Run) => {
          expect(existsSync(join(x.dir, 'torrent-cache.bin'))).toBe(false);
        },
      })),
    );
    expectExact(result);
    if (JOURNAL) expect(r.allOutput).toContain('"journal replayed"');
  });

  it('kills during a flush: COMMIT answered but the tracker never learnt it, then a transaction left open', async () => {
    const marker = (i: number): string => join(dir!, `commit-${i}`);
    const { result } = await scenario('commit', { serialize: 2, flush: 1 }, [
      // Run 1: streams until its first round has committed (then it pauses there), a little more, SIGKILL.
      {
        runMs: () => 0,
        env: (i) => ({ HAYATE_TEST_COMMIT_PAUSE: `after:${marker(i)}` }),
        until: async (_r, i) => {
          await eventually(() => (existsSync(marker(i)) ? true : undefined), 20_000, 'a round to commit');
          await sleep(300);
        },
      },
      // Run 2: the same with a round's statements sent and COMMIT not yet (rolled back when the connection dies).
      {
        runMs: () => 0,
        env: (i) => ({ HAYATE_TEST_COMMIT_PAUSE: `before:${marker(i)}` }),
        until: async (_r, i) => {
          await eventually(() => (existsSync(marker(i)) ? true : undefined), 20_000, 'a round to reach COMMIT');
          await sleep(300);
        },
      },
      { runMs: () => 600 },
    ]);
    expectExact(result);
  });

  it('a restart while the database is unreachable: the start waits for it (retrying), then replays exactly', async () => {
    const root = new URL(inject('dbRootUrl'));
    const relayPort = await freePort();
    let relay: { close(): Promise<void> } | undefined = await openDbRelay(relayPort, root);
    let reopened: Promise<void> | undefined;
    try {
      const { run: r, result } = await scenario(
        'database down',
        async (db) => ({ serialize: 1, flush: 1, dsn: `mysql://${root.username}:${root.password}@127.0.0.1:${relayPort}/${db.name}` }),
        [
          {
            runMs: () => 800,
            before: async (x: Run) => {
              await relay!.close(); // the restart finds no database...
              relay = undefined;
              // ...until it has retried twice.
              reopened = eventually(
                () => ((x.output.match(/cannot read the flushed positions/g)?.length ?? 0) >= 2 ? true : undefined),
                30_000,
                'two retries',
              ).then(async () => {
                relay = await openDbRelay(relayPort, root);
              });
            },
          },
          { runMs: () => 800 },
        ],
      );
      await reopened;
      expectExact(result);
      if (JOURNAL) expect(r.allOutput).toContain('cannot read the flushed positions');
    } finally {
      await relay?.close();
    }
  });

  it('a torn journal tail and a damaged last record are found, logged with their offset, and what precedes them is recovered', async () => {
    let tornOffset = -1;
    const { run: r, result } = await scenario('torn', { serialize: 2, flush: 1 }, [
      {
        runMs: () => 700,
        before: (x: Run) => {
          if (!JOURNAL) return;
          const file = lastSegment(x.dir);
          tornOffset = statSync(file).size;
          appendFileSync(file, randomBytes(RECORD_SIZE >> 1)); // half a record: a write torn by a power loss
        },
      },
      {
        runMs: () => 700,
        before: (x: Run) => {
          if (!JOURNAL) return;
          appendFileSync(lastSegment(x.dir), randomBytes(RECORD_SIZE)); // a whole record of garbage
        },
      },
      { runMs: () => 500 },
    ]);
    expectExact(result);
    if (JOURNAL) {
      expect(r.allOutput).toContain('damaged or torn record');
      expect(r.allOutput).toContain(`"offset":${tornOffset}`);
      expect(r.allOutput).toContain('record fails its checksum');
    }
  });
});
