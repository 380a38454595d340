/**
 * npm run bench [-- options]: hayate side by side with chihaya (the Go tracker it
 * replaces), opentracker and a bare fastify route, on a generated site in MariaDB,
 * driven by bench/loadgen.ts (announces, with --scrape-share of scrapes among them).
 * chihaya's binary: CHIHAYA_BIN, else ../shared/reference/chihaya/chihaya beside the repo.
 *
 * Scenarios (--scenario):
 *   throughput  (default) announces/s, latency, lag, memory, flush rates; opentracker and bare alongside
 *   reload      1,000,000 users + 1,000,000 torrents reloaded every few seconds under load
 *   peers       bytes per tracked peer with 1,000,000 peers in a store (in-process, after GC)
 *   serialize   hayate started with 1,000,000 peers (from cache files), serializing them every few seconds under load
 *   unix        hayate over TCP against hayate on a Unix socket (http.addr unix:/path), both with nginx's X-Real-IP
 *   all         every scenario in turn
 * --rounds N runs the throughput servers N times, interleaved, and prints median and range.
 * --only hayate,chihaya,opentracker,bare picks the throughput servers.
 * --hayate-node-flags '--trace-gc' runs hayate's node with those flags, its stdout shown.
 * --bare-threads N runs the bare route on N worker threads sharing one listening socket.
 * --rate N offers N requests/s in all instead of sending each as soon as the last is answered.
 * --generator native|node: the load generator, bench/loadgen.c (the default, built with the machine's
 *   C compiler; loadgen.ts where none is found) or bench/loadgen.ts (Node, 13-16 CPU-us a request).
 * --catch-up S waits up to S seconds (300) after each tracker's load for the database to finish its
 *   accounting, and reports the lag and the cost (0: no wait, no such figures).
 * Results: a table on stdout and bench-results/<scenario>-<timestamp>.json.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import type { LoadOptions, LoadResult } from './loadgen.js';
import { runChildJson } from './child-json.js';
import { nativeLoadgen, runNativeLoad } from './native-loadgen.js';
import { ensureSite, infoHashOf, passkeyOf } from './site.js';

const optionSpec = {
  options: {
    scenario: { type: 'string', default: 'throughput' },
    users: { type: 'string', default: '100000' },
    torrents: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '15' },
    /** Throughput: run every server this many times, interleaved, and summarize (median, range). */
    rounds: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '3' },
    peers: { type: 'string', default: '20000', short: 'p' },
    'big-peers': { type: 'string', default: '1000000' },
    'big-site': { type: 'string', default: '1000000' },
    'db-url': { type: 'string', default: process.env['BENCH_DB_URL'] ?? 'mysql://root@127.0.0.1:3306' },
    database: { type: 'string', default: 'hayate_bench' },
    recreate: { type: 'boolean', default: false },
    only: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    /** The bare route on this many worker threads sharing one listening socket (0: on the main thread). */
    'bare-threads': { type: 'string', default: '0' },
    /** Node flags for hayate's process, e.g. '--trace-gc'; with any, its stdout is shown (where V8 traces go). */
    'hayate-node-flags': { type: 'string', default: '' },
    /** JSON merged over hayate's generated config (per top-level key), e.g. '{"channels":{"users":1000000}}'. */
    'hayate-config': { type: 'string', default: '{}' },
    out: { type: 'string', default: 'bench-results' },
    /** Share of requests that are scrapes, among the announces on the same connections (0.05: one in twenty). */
    'scrape-share': { type: 'string', default: '0.05' },
    /**
     * Requests per second offered in all (0: as fast as answered). The reload and serialize scenarios
     * measure the event loop: with a rate below the machine's limit, what they show is hayate's own
     * pauses rather than three saturated processes waiting for two cores.
     */
    rate: { type: 'string', default: '0' },
    /**
     * The load generator: 'native' (bench/loadgen.c, the same load for 8–11 CPU-µs a request; loadgen.ts
     * where no C compiler is found) or 'node' (bench/loadgen.ts). It shares the cores with the servers.
     */
    generator: { type: 'string', default: 'native' },
    /**
     * Throughput: after each tracker's load, wait up to this many seconds for the database to stop
     * writing (its accounting of the run all written), and cost what it wrote meanwhile (MeasuredCost).
     */
    'catch-up': { type: 'string', default: '300' },
  },
} as const;

const opts = (() => {
  try {
    return parseArgs(optionSpec).values;
  } catch (err) {
    // An unknown or malformed option: one line, not a stack trace.
    process.stderr.write(`bench: ${(err as Error).message.split('\n')[0]!}\n`);
    process.exit(2);
  }
})();
for (const name of [
  'users',
  'torrents',
  'connections',
  'duration',
  'rounds',
  'warmup',
  'peers',
  'big-peers',
  'big-site',
  'scrape-share',
  'rate',
  'bare-threads',
  'catch-up',
] as const) {
  const value = Number(opts[name]);
  if (!Number.isFinite(value) || value < 0 || (name === 'scrape-share' && value > 1)) {
    process.stderr.write(`bench: --${name} ${opts[name]} is not ${name === 'scrape-share' ? 'a share between 0 and 1' : 'a number'}\n`);
    process.exit(2);
  }
}

const here = fileURLToPath(new URL('.', import.meta.url)); // dist/bench/
const root = join(here, '..', '..');
const num = (name: keyof typeof opts): number => Number(opts[name]);

interface Metrics {
  [name: string]: number;
}

/** Parses Prometheus text into "name{labels}" → value. */
function parseMetrics(text: string): Metrics {
  const out: Metrics = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out[line.slice(0, space)] = Number(line.slice(space + 1));
  }
  return out;
}

function sum(m: Metrics, prefix: string): number {
  let total = 0;
  for (const [k, v] of Object.entries(m)) if (k === prefix || k.startsWith(`${prefix}{`)) total += v;
  return total;
}

function pick(m: Metrics, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) if (k.startsWith(`${prefix}{`)) out[k.slice(prefix.length)] = v;
  return out;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc; undefined elsewhere. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/**
 * The process of the database server --db-url names, whose CPU the accounting also costs: its pid
 * file (`@@pid_file`, read when the server is on this machine), so another MariaDB here (a test's
 * private one) is never measured instead. Undefined when it cannot be known: the columns are left out.
 */
async function findDatabasePid(): Promise<number | undefined> {
  const host = URL.canParse(opts['db-url']) ? new URL(opts['db-url']).hostname : '';
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return undefined;
  const rows = await queryDatabase('SELECT @@pid_file AS pidFile, @@datadir AS datadir');
  if (rows === undefined) return undefined;
  try {
    const pidFile = String(rows[0]?.['pidFile'] ?? '');
    const path = isAbsolute(pidFile) ? pidFile : join(String(rows[0]?.['datadir'] ?? ''), pidFile);
    const pid = Number(readFileSync(path, 'utf8').trim());
    return pid > 0 && cpuSeconds(pid) !== undefined ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** One statement on a connection of its own to the server --db-url names; undefined when it fails. */
async function queryDatabase(sql: string): Promise<RowDataPacket[] | undefined> {
  try {
    const conn = await createConnection({ uri: opts['db-url'] });
    try {
      const [rows] = await conn.query<RowDataPacket[]>(sql);
      return rows;
    } finally {
      await conn.end();
    }
  } catch {
    return undefined;
  }
}

/** Found once at start (main). */
let databasePid: number | undefined;

/**
 * Rows the database server has written so far (Handler_write + Handler_update + Handler_delete, server-wide:
 * table rows and the temporary tables a statement builds), or undefined when the status cannot be read.
 */
async function databaseRowsWritten(): Promise<number | undefined> {
  const rows = await queryDatabase("SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_write', 'Handler_update', 'Handler_delete')");
  return rows?.reduce((total, row) => total + Number(row['Value']), 0);
}

/** The machine's CPU time so far (seconds, all cores): busy and idle (idle + iowait), from /proc/stat. */
function machineCpuSeconds(): { busy: number; idle: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3]! + fields[4]!;
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0); // user … steal; guest time is inside user
    return { busy: (total - idle) / 100, idle: idle / 100 };
  } catch {
    return undefined;
  }
}

/** What a measured window cost: the server's CPU, and the database's (its CPU and the rows written) where it can be read. */
interface MeasuredCost {
  serverCpuSeconds?: number;
  announcesPerCpuSecond?: number;
  /** The database server's CPU over the window (seconds), whoever caused it: nothing else writes during a run. */
  databaseCpuSeconds?: number;
  /** Rows the database wrote over the window per request (the accounting's cost in rows, see databaseRowsWritten). */
  databaseRowsPerRequest?: number;
  /**
   * Requests per CPU-second of the server and the database together: what the accounting's SQL costs counts
   * too. With a catch-up, the database's part is databaseMicrosPerRequest (all of it, written in the window
   * or after); without, its CPU in the window.
   */
  perServerAndDatabaseCpuSecond?: number;
  /** Share of the machine's CPU left idle over the window (0–1): near 0, the cores were the limit. */
  machineIdleShare?: number;
  /**
   * Seconds from the load's end until the database stopped writing (measured with `catchUp`): the
   * server's accounting of the run all written. A server that keeps up writes its last rows within a
   * flush interval; one that defers its writes (chihaya's transfer_history flusher sleeps a second
   * after each batch of 5,000 rows) writes them for this long after.
   */
  accountingLagSeconds?: number;
  /**
   * The database's CPU per request (µs) from the load's start to the end of that catch-up, above its
   * idle rate (measured over the quiet seconds that end the catch-up), over every answer (warm-up
   * included): what a request's accounting costs once all of it is written.
   */
  databaseMicrosPerRequest?: number;
  /**
   * Requests/s had the window also done the database work its requests left for after it: the window's
   * requests ÷ (its seconds + the CPU-seconds owed ÷ the cores busy in it). The owed work is the
   * database's CPU after the load (above its idle rate), the window's share of it by requests. About
   * requests/s for a server whose accounting keeps up; a CPU-bound estimate for one that defers it;
   * left out at a fixed --rate, where the machine had room to spare.
   */
  perSecondAccountingDone?: number;
}

/** Options for driveMeasured. */
interface Drive {
  /** Runs once the warm-up is over (the window's start). */
  during?: () => Promise<void>;
  /** Runs as soon as the load has ended, before any catch-up wait. */
  afterLoad?: () => Promise<void>;
  /** Wait (up to --catch-up seconds) for the database to go quiet, and cost the accounting written meanwhile. */
  catchUp?: boolean;
}

/**
 * Handler_write + Handler_update below this over QUIET_SECONDS (200 a second): the database is done
 * with the run. A poll that sees at least WRITE_ROWS (the same rate over its 250 ms) counts as a write.
 */
const QUIET_ROWS = 1000;
const QUIET_SECONDS = 5;
const WRITE_ROWS = 50;

/**
 * Waits until the database's row writes stay under QUIET_ROWS for QUIET_SECONDS (or `maxSeconds` pass),
 * polling every 250 ms. Resolves the seconds from `since` (Date.now() ms) to the last poll that saw
 * writes, and the database's CPU rate (CPU-seconds a second) over the quiet stretch at the end: its
 * own background work, which is not any server's. Undefined when the database's status or CPU cannot
 * be read, or when it was still writing after `maxSeconds` (then nothing is quiet to measure against).
 */
async function databaseQuiet(since: number, maxSeconds: number): Promise<{ lagSeconds: number; idleCpuRate: number } | undefined> {
  const sample = async (): Promise<{ at: number; rows: number; cpu: number } | undefined> => {
    const rows = await databaseRowsWritten();
    const cpu = cpuSeconds(databasePid);
    return rows === undefined || cpu === undefined ? undefined : { at: Date.now(), rows, cpu };
  };
  const first = await sample();
  if (first === undefined) return undefined;
  const seen = [first];
  let lastWrite = since;
  let quiet = false;
  while (!quiet && Date.now() - since < maxSeconds * 1000) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await sample();
    if (now === undefined) return undefined;
    if (now.rows - seen[seen.length - 1]!.rows >= WRITE_ROWS) lastWrite = now.at;
    seen.push(now);
    while (seen.length > 1 && now.at - seen[0]!.at > QUIET_SECONDS * 1000) seen.shift();
    quiet = now.at - seen[0]!.at >= QUIET_SECONDS * 1000 - 250 && now.rows - seen[0]!.rows < QUIET_ROWS;
  }
  if (!quiet) {
    log(`the database was still writing ${maxSeconds} s after the load: its catch-up figures are left out (--catch-up)`);
    return undefined;
  }
  const oldest = seen[0]!;
  const newest = seen[seen.length - 1]!;
  const idleCpuRate = newest.at > oldest.at ? (newest.cpu - oldest.cpu) / ((newest.at - oldest.at) / 1000) : 0;
  return { lagSeconds: round2(Math.max(0, lastWrite - since) / 1000), idleCpuRate };
}

/**
 * Runs the load generator, measuring the server's and the database's CPU time over the measured window
 * (after warm-up); with `catchUp`, also how long after the load the database went on writing and what
 * the accounting of every request cost it (MeasuredCost).
 */
async function driveMeasured(pid: number | undefined, load: LoadOptions, drive: Drive = {}): Promise<LoadResult & MeasuredCost> {
  const dbStart = cpuSeconds(databasePid);
  const loadStart = Date.now();
  const loading = loadgen(load);
  await new Promise((r) => setTimeout(r, load.warmup * 1000));
  const cpu0 = cpuSeconds(pid);
  const db0 = cpuSeconds(databasePid);
  const rows0 = await databaseRowsWritten();
  const machine0 = machineCpuSeconds();
  if (drive.during) await drive.during();
  const result = await loading;
  const loadEnd = Date.now();
  const cpu1 = cpuSeconds(pid);
  const db1 = cpuSeconds(databasePid);
  const machine1 = machineCpuSeconds();
  const rows1 = await databaseRowsWritten();
  if (drive.afterLoad) await drive.afterLoad();
  const quiet = drive.catchUp && num('catch-up') > 0 ? await databaseQuiet(loadEnd, num('catch-up')) : undefined;
  const dbEnd = quiet === undefined ? undefined : cpuSeconds(databasePid);
  const elapsedSeconds = (Date.now() - loadStart) / 1000;
  const catchUpSeconds = (Date.now() - loadEnd) / 1000;
  if (cpu0 === undefined || cpu1 === undefined) return result;
  const used = round2(cpu1 - cpu0);
  const cost: MeasuredCost = { serverCpuSeconds: used, announcesPerCpuSecond: used > 0 ? Math.round(result.requests / used) : 0 };
  if (db0 !== undefined && db1 !== undefined) {
    cost.databaseCpuSeconds = round2(db1 - db0);
    const both = used + cost.databaseCpuSeconds;
    cost.perServerAndDatabaseCpuSecond = both > 0 ? Math.round(result.requests / both) : 0;
  }
  if (machine0 && machine1) {
    const idle = machine1.idle - machine0.idle;
    const busy = machine1.busy - machine0.busy;
    if (idle + busy > 0) cost.machineIdleShare = round2(idle / (idle + busy));
  }
  // The rows are counted to the end of the generator's run (a few ms past the window): a close enough share.
  if (rows0 !== undefined && rows1 !== undefined && result.requests > 0)
    cost.databaseRowsPerRequest = round2((rows1 - rows0) / result.requests);
  if (
    quiet !== undefined &&
    dbStart !== undefined &&
    dbEnd !== undefined &&
    db0 !== undefined &&
    db1 !== undefined &&
    result.allRequests > 0
  ) {
    cost.accountingLagSeconds = quiet.lagSeconds;
    // Above the database's own background rate, which a long catch-up would otherwise charge to its server.
    const perRequest = Math.max(0, dbEnd - dbStart - quiet.idleCpuRate * elapsedSeconds) / result.allRequests;
    cost.databaseMicrosPerRequest = Math.round(perRequest * 1e7) / 10;
    // What was written after the load, above the idle rate, the window's share of it (by requests).
    const after = Math.max(0, dbEnd - db1 - quiet.idleCpuRate * catchUpSeconds);
    const owed = (after * result.requests) / result.allRequests;
    const busyCores = cpus().length * (1 - (cost.machineIdleShare ?? 0));
    // At a fixed --rate the machine had room to spare: no estimate of what the owed work would have displaced.
    if (load.rate === 0 && busyCores > 0) cost.perSecondAccountingDone = Math.round(result.requests / (load.duration + owed / busyCores));
    // Per CPU-second of the server (its CPU in the window: chihaya's for building the deferred rows' SQL
    // after it is not counted) and of all the database work its requests cost, in the window or after.
    const both = used + perRequest * result.requests;
    cost.perServerAndDatabaseCpuSecond = both > 0 ? Math.round(result.requests / both) : 0;
  }
  return { ...result, ...cost };
}

async function scrape(port: number): Promise<Metrics> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parseMetrics(await res.text());
}

/** A bench script of dist/bench/ run by this Node (`args[0]` the script), resolving its JSON (child-json.ts). */
function nodeChildJson<T>(args: string[], nodeFlags: string[] = []): Promise<T> {
  return runChildJson<T>(process.execPath, [...nodeFlags, ...args], String(args[0]));
}

/** The native generator's path when it is the one in use (set by main), else undefined: loadgen.ts. */
let nativeGenerator: string | undefined;

function loadgen(o: LoadOptions): Promise<LoadResult> {
  if (nativeGenerator !== undefined) return runNativeLoad(nativeGenerator, o);
  return nodeChildJson<LoadResult>([join(here, 'loadgen.js'), JSON.stringify(o)]);
}

async function stopChild(child: ChildProcess, timeoutMs = 60_000): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  return code;
}

interface HayateRun {
  /** The TCP port, or 0 on a Unix socket. */
  port: number;
  /** The Unix socket's path (`listen` 'unix'), else undefined. */
  socket: string | undefined;
  dir: string;
  child: ChildProcess;
}

async function startHayate(
  database: string,
  intervals: Record<string, number>,
  prepare?: (dir: string) => Promise<void>,
  listen: 'tcp' | 'unix' = 'tcp',
): Promise<HayateRun> {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-bench-'));
  const port = listen === 'tcp' ? await freePort() : 0;
  const socket = listen === 'unix' ? join(dir, 'hayate.sock') : undefined;
  const config = {
    database: { dsn: `${opts['db-url'].replace(/\/$/, '')}/${database}` },
    http: { addr: socket === undefined ? `127.0.0.1:${port}` : `unix:${socket}` },
    enable_metrics: true,
    record_announces: false,
    intervals,
  };
  for (const [key, value] of Object.entries(JSON.parse(opts['hayate-config']) as Record<string, unknown>)) {
    const base = (config as Record<string, unknown>)[key];
    (config as Record<string, unknown>)[key] =
      typeof base === 'object' && base !== null && typeof value === 'object' ? { ...base, ...value } : value;
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (prepare) await prepare(dir);
  const flags = opts['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(root, opts.out)}`] : [];
  const extra = opts['hayate-node-flags'].split(' ').filter((flag) => flag !== '');
  const child = spawn(process.execPath, [...extra, ...flags, join(root, 'dist/cmd/hayate.js'), '-c', 'config.json'], {
    cwd: dir,
    stdio: ['ignore', extra.length ? 'inherit' : 'ignore', 'inherit'],
    env: { ...process.env, HAYATE_LOG_LEVEL: 'warn' },
  });
  await waitFor(
    async () => (socket === undefined ? (await fetch(`http://127.0.0.1:${port}/alive`)).ok : (await unixStatus(socket, '/alive')) === 200),
    600_000,
    'hayate to answer /alive',
  );
  return { port, socket, dir, child };
}

/** The status of a GET over a Unix socket (fetch has no socket path option). */
function unixStatus(socketPath: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ socketPath, path, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

async function stopHayate(run: HayateRun): Promise<{ exitCode: number | null; stopSeconds: number }> {
  const started = Date.now();
  const exitCode = await stopChild(run.child);
  rmSync(run.dir, { recursive: true, force: true });
  return { exitCode, stopSeconds: (Date.now() - started) / 1000 };
}

interface Sampled {
  load: LoadResult;
  /**
   * Per-sample event-loop lag p99 and max (seconds), queue depths, and how long hayate's main
   * thread waited for a CPU since the previous sample (ms; null off Linux).
   */
  samples: {
    t: number;
    lagP99: number;
    lagMax: number;
    queues: number;
    reloads: number;
    serializations: number;
    runQueueWaitMs: number | null;
    /** How long the main thread ran on a CPU since the previous sample (ms; null off Linux). */
    onCpuMs: number | null;
  }[];
  before: Metrics;
  after: Metrics;
}

/** Runs the load generator against hayate, scraping /metrics every `everyMs` during the measured window (catchUp: see Drive). */
async function driveHayate(run: HayateRun, load: LoadOptions, everyMs: number, catchUp = false): Promise<Sampled> {
  let before: Metrics = {};
  const samples: Sampled['samples'] = [];
  let timer: NodeJS.Timeout | undefined;
  let after: Metrics = {};
  const result = await driveMeasured(run.child.pid, load, {
    catchUp,
    afterLoad: async () => {
      clearInterval(timer);
      after = await scrape(run.port);
    },
    during: async () => {
      before = await scrape(run.port); // also resets the lag window
      let last = mainThreadSchedstat(run.child.pid);
      const t0 = Date.now();
      timer = setInterval(() => {
        void scrape(run.port).then((m) => {
          const now = mainThreadSchedstat(run.child.pid);
          samples.push({
            t: (Date.now() - t0) / 1000,
            lagP99: m['hayate_event_loop_lag_seconds{quantile="0.99"}'] ?? 0,
            lagMax: m['hayate_event_loop_lag_seconds{quantile="1"}'] ?? 0,
            queues: sum(m, 'hayate_queue_depth'),
            reloads: sum(m, 'hayate_reload_seconds_count'),
            serializations: sum(m, 'hayate_serialization_seconds_count'),
            runQueueWaitMs: now !== null && last !== null ? Math.round(now.waitMs - last.waitMs) : null,
            onCpuMs: now !== null && last !== null ? Math.round(now.runMs - last.runMs) : null,
          });
          last = now;
        });
      }, everyMs);
    },
  });
  return { load: result, samples, before, after };
}

/**
 * How long the process's main thread has run on a CPU and waited for one while runnable, in ms
 * (the first two fields of /proc/<pid>/task/<pid>/schedstat, nanoseconds); null where that is
 * not readable. The event-loop lag counts the wait too: on a machine with more runnable threads
 * than cores it tells the scheduler's share of a long window from the process's own.
 */
function mainThreadSchedstat(pid: number | undefined): { runMs: number; waitMs: number } | null {
  if (pid === undefined) return null;
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    return Number.isFinite(run) && Number.isFinite(wait) ? { runMs: run! / 1e6, waitMs: wait! / 1e6 } : null;
  } catch {
    return null;
  }
}

/**
 * A 1-s-sampled run's per-second series (announce p99, event-loop lag p99, the main thread's wait
 * for a CPU, in ms) and its windows above 20 ms.
 */
function perSecondFigures(s: Sampled) {
  return {
    perSecond99: s.load.perSecondSeries.map((x) => x.p99Ms),
    lagP99PerSecondMs: s.samples.map((x) => ms(x.lagP99)),
    mainThreadRunQueueWaitMsPerSecond: s.samples.map((x) => x.runQueueWaitMs),
    mainThreadOnCpuMsPerSecond: s.samples.map((x) => x.onCpuMs),
    windowsAbove20Ms: longWindows(s.samples),
  };
}

/**
 * The log line's account of the load and the event loop: requests/s, announce p99, the worst
 * window's lag p99, how many windows were above 20 ms, and what the main thread waited for a CPU
 * (in those, and the median second).
 */
function describeEventLoop(s: Sampled, figures: ReturnType<typeof perSecondFigures> & ReturnType<typeof hayateFigures>): string {
  const { windowsAbove20Ms: long, mainThreadRunQueueWaitMsPerSecond: waits, mainThreadOnCpuMsPerSecond: onCpu } = figures;
  const worst = (figures.eventLoopLagMs as { p99WorstWindow: number }).p99WorstWindow;
  const head = `${s.load.perSecond}/s, announce p99 ${s.load.latencyMs.p99} ms, lag p99 (worst 1-s window) ${worst} ms; `;
  const median = (xs: (number | null)[]): number | undefined => {
    const known = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    return known[Math.floor(known.length / 2)];
  };
  const waited = median(waits);
  if (waited === undefined) return `${head}${long.length} windows above 20 ms`;
  const inLong = long.map((x) => x.runQueueWaitMs ?? '?').join(', ');
  return (
    `${head}${long.length} of ${waits.length} windows above 20 ms; main thread on a CPU ${median(onCpu) ?? '?'} ms per second ` +
    `and waiting for one ${waited} ms (medians)${long.length > 0 ? `, waiting ${inLong} ms in those windows` : ''}`
  );
}

/** Lag windows above 20 ms (the target of issue 13), and the main thread's wait for a CPU in each. */
function longWindows(samples: Sampled['samples']): { lagP99Ms: number; runQueueWaitMs: number | null }[] {
  return samples.filter((x) => x.lagP99 > 0.02).map((x) => ({ lagP99Ms: ms(x.lagP99), runQueueWaitMs: x.runQueueWaitMs }));
}

function hayateFigures(s: Sampled, seconds: number) {
  const { before, after, samples } = s;
  const peers = sum(after, 'hayate_peers');
  const heap = after['nodejs_heap_size_used_bytes'] ?? 0;
  const flushed = sum(after, 'hayate_flushed_rows_total') - sum(before, 'hayate_flushed_rows_total');
  const lagP99 = Math.max(0, ...samples.map((x) => x.lagP99));
  const lagMax = Math.max(0, ...samples.map((x) => x.lagMax));
  return {
    trackedPeers: peers,
    eventLoopLagMs: {
      p99WorstWindow: ms(lagP99),
      max: ms(lagMax),
      windowSeconds: samples.length > 1 ? samples[1]!.t - samples[0]!.t : null,
    },
    rssBytes: after['process_resident_memory_bytes'],
    heapUsedBytes: heap,
    heapBytesPerTrackedPeerNoGc: peers > 0 ? Math.round(heap / peers) : null,
    rowsFlushedPerSecond: Math.round(flushed / seconds),
    flushedRowsByQueue: diff(pick(after, 'hayate_flushed_rows_total'), pick(before, 'hayate_flushed_rows_total')),
    queueDepthMax: Math.max(0, ...samples.map((x) => x.queues)),
    queueDepthsAtEnd: pick(after, 'hayate_queue_depth'),
    sqlErrors: sum(after, 'hayate_sql_errors_total'),
    deadlocks: sum(after, 'hayate_deadlocks_total'),
  };
}

const ms = (seconds: number): number => Math.round(seconds * 1e6) / 1e3;

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(a)) out[k] = v - (b[k] ?? 0);
  return out;
}

function loadOptions(port: number, paths: LoadOptions['paths'], site: { users: number; torrents: number }): LoadOptions {
  return {
    host: '127.0.0.1',
    port,
    paths,
    connections: num('connections'),
    warmup: num('warmup'),
    duration: num('duration'),
    users: site.users,
    torrents: site.torrents,
    peers: num('peers'),
    hotShare: 0.5,
    scrapeShare: num('scrape-share'),
    rate: num('rate'),
    seed: 42,
  };
}

function summary(load: LoadResult): Record<string, unknown> {
  const { perSecondSeries: _series, ...rest } = load;
  return rest;
}

function commandExists(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

async function runOpentracker(site: { users: number; torrents: number }): Promise<Record<string, unknown>> {
  const binary = commandExists('opentracker');
  if (binary === undefined) return { skipped: 'opentracker not installed (apt-get install opentracker)' };
  const dir = mkdtempSync(join(tmpdir(), 'hayate-bench-ot-'));
  const lines: string[] = [];
  for (let id = 1; id <= site.torrents; id++) lines.push(infoHashOf(id).toString('hex'));
  writeFileSync(join(dir, 'whitelist.txt'), `${lines.join('\n')}\n`);
  chmodSync(dir, 0o755); // opentracker drops privileges before reading it
  const port = await freePort();
  // Debian builds opentracker with WANT_ACCESSLIST_WHITE: the same info hashes are whitelisted.
  const child = spawn(
    binary,
    [
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-P',
      String(port),
      '-w',
      'whitelist.txt',
      '-d',
      dir,
    ] /* chrooted into dir: the path is inside it */,
    {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    // The whitelist loads in the background; wait until a whitelisted hash is accepted.
    await waitFor(
      async () => {
        const hash = [...infoHashOf(site.torrents)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
        const res = await fetch(
          `http://127.0.0.1:${port}/announce?info_hash=${hash}&peer_id=-qB4650-000000000000&port=6881&left=0&compact=1`,
        );
        const body = Buffer.from(await res.arrayBuffer()).toString('latin1');
        return res.ok && !body.includes('failure');
      },
      60_000,
      'opentracker to accept the whitelist',
    );
    const load = await driveMeasured(child.pid, loadOptions(port, 'open', site));
    return { binary, whitelist: site.torrents, ...summary(load) };
  } finally {
    await stopChild(child, 5_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** chihaya's binary: CHIHAYA_BIN, else the reference build beside the repository; undefined when absent. */
function chihayaBinary(): string | undefined {
  const candidate = process.env['CHIHAYA_BIN'] ?? join(root, '..', 'shared', 'reference', 'chihaya', 'chihaya');
  return existsSync(candidate) ? candidate : undefined;
}

/** mysql://user:pass@host:port → chihaya's DSN form user:pass@tcp(host:port)/database. */
function chihayaDsn(database: string): string {
  const url = new URL(opts['db-url']);
  const user = decodeURIComponent(url.username || 'root');
  const password = decodeURIComponent(url.password);
  return `${user}:${password}@tcp(${url.hostname}:${url.port || '3306'})/${database}`;
}

/** chihaya on its own copy of the site (it writes the same tables hayate does), configured as hayate is. */
async function runChihaya(site: { users: number; torrents: number }): Promise<Record<string, unknown>> {
  const binary = chihayaBinary();
  if (binary === undefined) return { skipped: 'chihaya not found (set CHIHAYA_BIN or put it in ../shared/reference/chihaya/)' };
  const database = `${opts.database}_chihaya`;
  await ensureSite(opts['db-url'], database, site, opts.recreate);
  const dir = mkdtempSync(join(tmpdir(), 'hayate-bench-chihaya-'));
  const port = await freePort();
  const config = {
    database: { dsn: chihayaDsn(database) },
    http: { addr: `127.0.0.1:${port}` },
    enable_metrics: true,
    record_announces: false,
    log_flushes: false,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  // Its log lines (and the panic its v13.0.3 shutdown sometimes ends in) are kept for a failed start only.
  const child = spawn(binary, [], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let logTail = '';
  child.stderr.on('data', (d: Buffer) => (logTail = (logTail + d.toString()).slice(-2000)));
  try {
    // It loads the site before answering for it: wait until a known passkey and torrent are served.
    await waitFor(
      async () => {
        const hash = [...infoHashOf(site.torrents)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
        const res = await fetch(
          `http://127.0.0.1:${port}/${passkeyOf(site.users)}/announce?info_hash=${hash}&peer_id=-qB4650-zzzzzzzzzzzz&port=6881&uploaded=0&downloaded=0&left=0&event=stopped`,
        );
        const body = Buffer.from(await res.arrayBuffer()).toString('latin1');
        return res.ok && !body.includes('failure');
      },
      120_000,
      'chihaya to serve the site',
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; its last log lines:\n${logTail}`, { cause: err });
    });
    // Scraped as hayate is (every 2 s in the window: driveHayate), so each pays for its /metrics.
    let scraping: NodeJS.Timeout | undefined;
    let metricsAnswered = 0;
    const load = await driveMeasured(child.pid, loadOptions(port, 'passkey', site), {
      catchUp: true,
      during: () => {
        scraping = setInterval(() => {
          void fetch(`http://127.0.0.1:${port}/metrics`)
            .then(async (res) => {
              await res.arrayBuffer();
              if (res.ok) metricsAnswered++;
            })
            .catch(() => {});
        }, 2000);
        return Promise.resolve();
      },
      afterLoad: () => {
        clearInterval(scraping);
        return Promise.resolve();
      },
    });
    return { binary, metricsScrapes: metricsAnswered, ...summary(load) };
  } finally {
    await stopChild(child, 60_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runBare(site: { users: number; torrents: number }): Promise<Record<string, unknown>> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(here, 'bare.js'), String(port), opts['bare-threads']], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/announce`)).ok, 30_000, 'the bare route');
    const load = await driveMeasured(child.pid, loadOptions(port, 'passkey', site));
    return summary(load);
  } finally {
    await stopChild(child, 5_000);
  }
}

async function throughput(): Promise<Record<string, unknown>> {
  const site = { users: num('users'), torrents: num('torrents') };
  const built = await ensureSite(opts['db-url'], opts.database, site, opts.recreate);
  log(
    `site ${opts.database}: ${site.users} users, ${site.torrents} torrents (${built.created ? 'created' : 'reused'} in ${built.seconds.toFixed(1)} s)`,
  );
  const rounds = Math.max(1, num('rounds'));
  if (rounds === 1) return throughputRound(site);
  // A shared machine drifts: interleaving the servers round by round compares them under the same drift.
  const results: Record<string, unknown>[] = [];
  for (let i = 1; i <= rounds; i++) {
    log(`round ${i} of ${rounds}`);
    results.push(await throughputRound(site));
  }
  const summary = summarizeRounds(results);
  printSummary(summary, rounds);
  return { rounds: results, summary };
}

/** The throughput servers, in the order they run in a round. */
const SERVERS = ['hayate', 'chihaya', 'opentracker', 'bare'] as const;

type Stat = { median: number; min: number; max: number };

function stat(values: number[]): Stat | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median: round2(median), min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

function summarizeRounds(results: Record<string, unknown>[]): Record<string, Record<string, Stat | null>> {
  const out: Record<string, Record<string, Stat | null>> = {};
  for (const name of SERVERS) {
    const rows = results.map((r) => r[name] as (LoadResult & MeasuredCost & { skipped?: string }) | undefined);
    const ran = rows.filter((r): r is LoadResult & MeasuredCost => r !== undefined && !('skipped' in r && r.skipped));
    if (ran.length === 0) continue;
    out[name] = {
      perSecond: stat(ran.map((r) => r.perSecond)),
      perCpuSecond: stat(ran.flatMap((r) => (r.announcesPerCpuSecond === undefined ? [] : [r.announcesPerCpuSecond]))),
      perServerAndDatabaseCpuSecond: stat(
        ran.flatMap((r) => (r.perServerAndDatabaseCpuSecond === undefined ? [] : [r.perServerAndDatabaseCpuSecond])),
      ),
      databaseRowsPerRequest: stat(ran.flatMap((r) => (r.databaseRowsPerRequest === undefined ? [] : [r.databaseRowsPerRequest]))),
      accountingLagSeconds: stat(ran.flatMap((r) => (r.accountingLagSeconds === undefined ? [] : [r.accountingLagSeconds]))),
      perSecondAccountingDone: stat(ran.flatMap((r) => (r.perSecondAccountingDone === undefined ? [] : [r.perSecondAccountingDone]))),
      p50Ms: stat(ran.map((r) => r.latencyMs.p50)),
      p99Ms: stat(ran.map((r) => r.latencyMs.p99)),
      errors: stat(ran.map((r) => r.errors + r.failures)),
    };
  }
  const ratios: Record<string, Stat | null> = {};
  for (const key of [
    'hayateOverChihaya',
    'accountingDoneHayateOverChihaya',
    'perCpuSecondHayateOverChihaya',
    'withDatabaseCpuHayateOverChihaya',
    'hayateOverOpentracker',
    'hayateOverBare',
    'perCpuSecondHayateOverOpentracker',
    'perCpuSecondHayateOverBare',
  ]) {
    ratios[key] = stat(
      results.flatMap((r) => {
        const value = (r['ratios'] as Record<string, number | null>)[key];
        return value === null || value === undefined ? [] : [value];
      }),
    );
  }
  out['ratios'] = ratios;
  return out;
}

/** A Stat as the tables print it: `median (min–max)`, or '-'. */
function showStat(x: Stat | null | undefined): string {
  return x ? `${x.median} (${x.min}–${x.max})` : '-';
}

function printSummary(summary: Record<string, Record<string, Stat | null>>, rounds: number): void {
  process.stdout.write(`\nmedian (range) over ${rounds} interleaved rounds:\n`);
  const rows = [
    ['', 'requests/s', 'req/s acct done', 'acct lag s', 'per CPU-s', 'with db CPU', 'db rows/req', 'p50 ms', 'p99 ms', 'errors+failures'],
  ];
  for (const name of SERVERS) {
    const s = summary[name];
    if (s)
      rows.push([
        name,
        showStat(s['perSecond']),
        showStat(s['perSecondAccountingDone']),
        showStat(s['accountingLagSeconds']),
        showStat(s['perCpuSecond']),
        showStat(s['perServerAndDatabaseCpuSecond']),
        showStat(s['databaseRowsPerRequest']),
        showStat(s['p50Ms']),
        showStat(s['p99Ms']),
        showStat(s['errors']),
      ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padStart(widths[i]!)).join('  ')}\n`);
  for (const [key, value] of Object.entries(summary['ratios'] ?? {})) process.stdout.write(`${key}: ${showStat(value)}\n`);
}

async function throughputRound(site: { users: number; torrents: number }): Promise<Record<string, unknown>> {
  const only = opts.only?.split(',');
  const want = (name: string): boolean => only === undefined || only.includes(name);
  const result: Record<string, unknown> = {};

  if (want('hayate')) {
    log('hayate …');
    const run = await startHayate(opts.database, {});
    const sampled = await driveHayate(run, loadOptions(run.port, 'passkey', site), 2000, true);
    const stopped = await stopHayate(run);
    result['hayate'] = { ...summary(sampled.load), ...hayateFigures(sampled, num('duration')), shutdown: stopped };
  }
  if (want('chihaya')) {
    log('chihaya …');
    result['chihaya'] = await runChihaya(site);
  }
  if (want('opentracker')) {
    log('opentracker …');
    result['opentracker'] = await runOpentracker(site);
  }
  if (want('bare')) {
    log('bare fastify route …');
    result['bare'] = await runBare(site);
  }
  type Rate = 'perSecond' | 'announcesPerCpuSecond' | 'perServerAndDatabaseCpuSecond' | 'perSecondAccountingDone';
  const rate = (name: string, key: Rate): number | undefined => (result[name] as Record<string, number> | undefined)?.[key];
  const ratio = (a: string, b: string, key: Rate): number | null => {
    const x = rate(a, key);
    const y = rate(b, key);
    return x && y ? round2(x / y) : null;
  };
  result['ratios'] = {
    hayateOverChihaya: ratio('hayate', 'chihaya', 'perSecond'),
    accountingDoneHayateOverChihaya: ratio('hayate', 'chihaya', 'perSecondAccountingDone'),
    perCpuSecondHayateOverChihaya: ratio('hayate', 'chihaya', 'announcesPerCpuSecond'),
    withDatabaseCpuHayateOverChihaya: ratio('hayate', 'chihaya', 'perServerAndDatabaseCpuSecond'),
    hayateOverOpentracker: ratio('hayate', 'opentracker', 'perSecond'),
    hayateOverBare: ratio('hayate', 'bare', 'perSecond'),
    perCpuSecondHayateOverOpentracker: ratio('hayate', 'opentracker', 'announcesPerCpuSecond'),
    perCpuSecondHayateOverBare: ratio('hayate', 'bare', 'announcesPerCpuSecond'),
  };
  printTable(result);
  return result;
}

async function reloadScenario(): Promise<Record<string, unknown>> {
  const n = num('big-site');
  const database = `${opts.database}_${n >= 1e6 ? `${n / 1e6}m` : n}`;
  const site = { users: n, torrents: n };
  const built = await ensureSite(opts['db-url'], database, site, opts.recreate);
  log(`site ${database}: ${n} users, ${n} torrents (${built.created ? 'created' : 'reused'} in ${built.seconds.toFixed(1)} s)`);
  const startedAt = Date.now();
  const run = await startHayate(database, { database_reload: 2 });
  const startSeconds = (Date.now() - startedAt) / 1000;
  const sampled = await driveHayate(run, { ...loadOptions(run.port, 'passkey', site), duration: Math.max(num('duration'), 20) }, 1000);
  const stopped = await stopHayate(run);
  const reloads = sum(sampled.after, 'hayate_reload_seconds_count') - sum(sampled.before, 'hayate_reload_seconds_count');
  const reloadSum = sum(sampled.after, 'hayate_reload_seconds_sum') - sum(sampled.before, 'hayate_reload_seconds_sum');
  const users = pick(sampled.after, 'hayate_reload_seconds_sum')['{source="users"}'] ?? 0;
  const result = {
    site,
    startSeconds,
    reloadSourcesTimed: reloads,
    fullReloads: Math.round(reloads / 6),
    secondsPerFullReload: reloads > 0 ? round2(reloadSum / (reloads / 6)) : null,
    usersReloadSecondsTotal: round2(users),
    ...summary(sampled.load),
    ...hayateFigures(sampled, Math.max(num('duration'), 20)),
    ...perSecondFigures(sampled),
    shutdown: stopped,
  };
  log(
    `reload of ${n}+${n}: ${result.fullReloads} full reloads, ${String(result.secondsPerFullReload)} s each; ` +
      describeEventLoop(sampled, result),
  );
  return result;
}

/**
 * hayate over TCP against hayate over a Unix socket (http.addr unix:/path), as nginx on the same
 * host can reach it: every request carries nginx's X-Real-IP in both, rounds interleaved.
 * The native generator only (loadgen.ts has no Unix sockets).
 */
async function unixScenario(): Promise<Record<string, unknown>> {
  if (nativeGenerator === undefined) return { skipped: 'the unix scenario needs the native generator (bench/loadgen.c)' };
  const site = { users: num('users'), torrents: num('torrents') };
  await ensureSite(opts['db-url'], opts.database, site, opts.recreate);
  const rounds = Math.max(1, num('rounds'));
  const runs: Record<'tcp' | 'unix', Array<LoadResult & MeasuredCost>> = { tcp: [], unix: [] };
  for (let i = 1; i <= rounds; i++) {
    for (const listen of ['tcp', 'unix'] as const) {
      log(`round ${i} of ${rounds}: hayate over ${listen === 'tcp' ? 'TCP' : 'a Unix socket'} …`);
      const run = await startHayate(opts.database, {}, undefined, listen);
      const load = { ...loadOptions(run.port, 'passkey', site), header: 'X-Real-IP: 127.0.0.1' };
      if (run.socket !== undefined) load.host = `unix:${run.socket}`;
      runs[listen].push(await driveMeasured(run.child.pid, load));
      await stopHayate(run);
    }
  }
  const show = (list: Array<LoadResult & MeasuredCost>, pick: (r: LoadResult & MeasuredCost) => number | undefined): string =>
    showStat(stat(list.flatMap((r) => pick(r) ?? [])));
  process.stdout.write(`\nhayate behind a local proxy, median (range) over ${rounds} interleaved rounds:\n`);
  for (const listen of ['tcp', 'unix'] as const) {
    const list = runs[listen];
    process.stdout.write(
      `${listen.padStart(5)}  requests/s ${show(list, (r) => r.perSecond)}  per CPU-s ${show(list, (r) => r.announcesPerCpuSecond)}  ` +
        `p99 ms ${show(list, (r) => r.latencyMs.p99)}  errors+failures ${show(list, (r) => r.errors + r.failures)}\n`,
    );
  }
  const ratio = (key: 'perSecond' | 'announcesPerCpuSecond'): Stat | null =>
    stat(runs.unix.flatMap((u, i) => (u[key] && runs.tcp[i]?.[key] ? [round2(u[key] / runs.tcp[i][key])] : [])));
  const ratios = { unixOverTcp: ratio('perSecond'), perCpuSecondUnixOverTcp: ratio('announcesPerCpuSecond') };
  for (const [key, value] of Object.entries(ratios)) process.stdout.write(`${key}: ${showStat(value)}\n`);
  return { rounds: runs, ratios };
}

async function peersScenario(): Promise<Record<string, unknown>> {
  const peers = num('big-peers');
  const result = await nodeChildJson<Record<string, unknown> & { bytesPerPeer: number }>(
    [join(here, 'peers.js'), 'measure', String(peers), opts.torrents, opts.users],
    ['--expose-gc'],
  );
  log(`${peers} peers in memory: ${result['bytesPerPeer']} bytes per tracked peer (heap after GC)`);
  return result;
}

async function serializeScenario(): Promise<Record<string, unknown>> {
  const site = { users: num('users'), torrents: num('torrents') };
  await ensureSite(opts['db-url'], opts.database, site, opts.recreate);
  const peers = num('big-peers');
  let cache: Record<string, unknown> = {};
  const run = await startHayate(opts.database, { database_serialize: 3 }, async (dir) => {
    cache = await nodeChildJson<Record<string, unknown>>([join(here, 'peers.js'), 'cache', dir, String(peers), opts.torrents, opts.users]);
  });
  const duration = Math.max(num('duration'), 20);
  const sampled = await driveHayate(run, { ...loadOptions(run.port, 'passkey', site), duration }, 1000);
  const stopped = await stopHayate(run);
  const count = sum(sampled.after, 'hayate_serialization_seconds_count') - sum(sampled.before, 'hayate_serialization_seconds_count');
  const total = sum(sampled.after, 'hayate_serialization_seconds_sum') - sum(sampled.before, 'hayate_serialization_seconds_sum');
  const result = {
    cacheFile: cache,
    serializations: count,
    secondsPerSerialization: count > 0 ? round2(total / count) : null,
    ...summary(sampled.load),
    ...hayateFigures(sampled, duration),
    ...perSecondFigures(sampled),
    shutdown: stopped,
  };
  log(
    `serialization of ${result.trackedPeers} peers: ${count} runs, ${String(result.secondsPerSerialization)} s each; ` +
      describeEventLoop(sampled, result),
  );
  return result;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

function printTable(result: Record<string, unknown>): void {
  const rows: string[][] = [
    [
      '',
      'requests/s',
      'per CPU-s',
      'with db CPU',
      'db CPU-s',
      'db rows/req',
      'acct lag s',
      'db µs/req',
      'req/s acct done',
      'gen CPU-s',
      'gen loop',
      'idle',
      'p50 ms',
      'p99 ms',
      'max ms',
      'errors',
      'failures',
      'conn/req',
    ],
  ];
  for (const name of SERVERS) {
    const r = result[name] as (LoadResult & MeasuredCost & { skipped?: string }) | undefined;
    if (r === undefined) continue;
    if (r.skipped) {
      rows.push([name, r.skipped]);
      continue;
    }
    rows.push([
      name,
      String(r.perSecond),
      String(r.announcesPerCpuSecond ?? '-'),
      String(r.perServerAndDatabaseCpuSecond ?? '-'),
      String(r.databaseCpuSeconds ?? '-'),
      String(r.databaseRowsPerRequest ?? '-'),
      String(r.accountingLagSeconds ?? '-'),
      String(r.databaseMicrosPerRequest ?? '-'),
      String(r.perSecondAccountingDone ?? '-'),
      String(r.generator.cpuSeconds),
      String(r.generator.loopUtilization),
      String(r.machineIdleShare ?? '-'),
      String(r.latencyMs.p50),
      String(r.latencyMs.p99),
      String(r.latencyMs.max),
      String(r.errors),
      String(r.failures),
      String(r.connectsPerRequest),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padStart(widths[i]!)).join('  ')}\n`);
  const h = result['hayate'] as ReturnType<typeof hayateFigures> | undefined;
  if (h) {
    const lag = h.eventLoopLagMs;
    process.stdout.write(
      `hayate: lag p99 ${lag.p99WorstWindow} ms (max ${lag.max} ms), RSS ${mb(h.rssBytes)} MB, heap ${mb(h.heapUsedBytes)} MB, ` +
        `${h.trackedPeers} peers, ${h.rowsFlushedPerSecond} rows flushed/s, queue depth max ${h.queueDepthMax}\n`,
    );
  }
  process.stdout.write(`ratios: ${JSON.stringify(result['ratios'])}\n`);
}

const mb = (x: unknown): string => (Number(x) / 1e6).toFixed(0);

async function main(): Promise<void> {
  const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
    throughput,
    reload: reloadScenario,
    peers: peersScenario,
    serialize: serializeScenario,
    unix: unixScenario,
  };
  const names = opts.scenario === 'all' ? Object.keys(scenarios) : [opts.scenario];
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model,
    node: process.version,
    date: new Date().toISOString(),
    options: opts,
  };
  if (opts.generator === 'native') {
    const native = nativeLoadgen();
    if ('path' in native) nativeGenerator = native.path;
    else log(`the native load generator is not available (${native.reason}): bench/loadgen.ts drives the load`);
  } else if (opts.generator !== 'node') {
    process.stderr.write(`bench: --generator ${opts.generator} is not native or node\n`);
    process.exit(2);
  }
  log(`load generator: ${nativeGenerator !== undefined ? 'bench/loadgen.c (native)' : 'bench/loadgen.ts (node)'}`);
  const results: Record<string, unknown> = { machine: { ...machine, generator: nativeGenerator !== undefined ? 'native' : 'node' } };
  databasePid = await findDatabasePid();
  if (databasePid === undefined) log("the database server's process is not readable here: its CPU is left out");
  for (const name of names) {
    const scenario = scenarios[name];
    if (scenario === undefined) throw new Error(`unknown scenario ${name} (throughput, reload, peers, serialize, all)`);
    log(`scenario ${name}`);
    results[name] = await scenario();
  }
  const outDir = join(root, opts.out);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${opts.scenario}-${machine.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`results written to ${file}`);
}

await main();
