/**
 * Accounting flush benchmark, against a private mariadbd it starts (and kills) itself.
 *
 *   npx tsc -p . && node --expose-gc dist/bench/flush-bench.js [--outage-seconds 60] [--rate 2000] [--keys 50000]
 *
 * Measures:
 *  1. rows written per 1,000 announces' worth of sink calls, given merging;
 *  2. flush throughput (rows/s) per queue for --keys distinct keys;
 *  3. queue depth and memory during an outage of --outage-seconds at --rate announces/s,
 *     and the time to drain once the server is back.
 */
import { performance } from 'node:perf_hooks';
import { createConnection } from 'mysql2/promise';
import { schemaStatements } from '../fixtures/load.js';
import { defaultConfig, type Config } from '../src/config/config.js';
import { openPool } from '../src/database/pool.js';
import { AccountingQueues, type QueueName } from '../src/flush/index.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { PrivateMariaDb } from '../test/helpers/private-mariadb.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const outageSeconds = arg('outage-seconds', 60);
const rate = arg('rate', 2000);
const keys = arg('keys', 50_000);

const schema = schemaStatements();

async function freshDatabase(server: PrivateMariaDb, name: string, users: number, torrents: number): Promise<string> {
  const conn = await createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
  await conn.query(`DROP DATABASE IF EXISTS ${name}`);
  await conn.query(`CREATE DATABASE ${name}`);
  await conn.query(`USE ${name}`);
  for (const s of schema) await conn.query(s);
  await conn.query(`INSERT INTO users_main (ID, Enabled, torrent_pass) SELECT seq, '1', LPAD(seq, 32, '0') FROM seq_1_to_${users}`);
  await conn.query(
    `INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) SELECT seq, seq, 'anime', UNHEX(LPAD(HEX(seq), 40, '0')) FROM seq_1_to_${torrents}`,
  );
  await conn.end();
  return `mysql://root:@127.0.0.1:${server.port}/${name}`;
}

function config(dsn: string): Config {
  const c = defaultConfig();
  c.database.dsn = dsn;
  c.log_flushes = false;
  return c;
}

async function flushedRows(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.flushedRows.get()).values) out[String(v.labels['queue'])] = v.value;
  return out;
}

/** One announce's worth of sink calls for peer (uid, fid). */
function announce(sink: AccountingQueues, uid: number, fid: number, now: number, n: number): void {
  sink.user(uid, 16384 + (n & 1023), 8192, 16384 + (n & 1023), 8192);
  sink.torrent(fid, n % 50 === 0 ? 1 : 0, 10, 5, now);
  sink.transferHistory(uid, fid, 16384, 8192, 1800, n & 1 ? 1800 : 0, n % 50 === 0 ? 1 : 0, (n & 1) === 1, 0, now, now - 3600, true);
  sink.transferIp(uid, fid, 0x0a000000 + (uid & 0xffff), 1, 16384, 8192, 6881, now, now - 3600);
  if (n % 50 === 0) sink.snatch(uid, fid, now);
}

/** A deterministic pseudo-random number in [0, 1) for index i (so runs are comparable). */
function fraction(i: number): number {
  let x = (i * 0x9e3779b1) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x ^= x >>> 16;
  return (x >>> 0) / 4294967296;
}

const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

async function mergingRatio(server: PrivateMariaDb): Promise<void> {
  console.log('\n## 1. Rows written per 1,000 announces (one flush of each queue)');
  const scenarios: { name: string; pick: (n: number) => [number, number] }[] = [
    { name: 'all distinct peers (worst case)', pick: (n) => [1 + n, 1 + (n % 1000)] },
    {
      // Skewed like a real site: a few heavy seeders (seedboxes) and a few popular torrents.
      name: '1,000 announces, users and torrents drawn with a skew (20,000 users, 2,000 torrents)',
      pick: (n) => {
        const r1 = fraction(n * 2 + 1);
        const r2 = fraction(n * 2 + 2);
        return [1 + Math.floor(20000 * r1 ** 4), 1 + Math.floor(2000 * r2 ** 3)];
      },
    },
    { name: '1,000 announces, 200 users x 50 torrents (hot swarm)', pick: (n) => [1 + (n % 200), 1 + (Math.floor(n / 200) % 50)] },
  ];
  for (const scenario of scenarios) {
    const dsn = await freshDatabase(server, 'bench_merge', 20_000, 2_000);
    const pool = openPool(dsn);
    const metrics = new Metrics({ defaultMetrics: false });
    const sink = new AccountingQueues(pool, config(dsn), metrics, silentLogger());
    for (let n = 0; n < 1000; n++) {
      const [uid, fid] = scenario.pick(n);
      announce(sink, uid, fid, 1_700_000_000, n);
    }
    await sink.flushNow();
    const rows = await flushedRows(metrics);
    const total = Object.values(rows).reduce((a, b) => a + b, 0);
    console.log(`- ${scenario.name}: ${total} rows (${JSON.stringify(rows)}); unmerged one-row-per-call would be ${1000 * 4 + 20}`);
    metrics.close();
    await pool.end();
  }
}

async function throughput(server: PrivateMariaDb): Promise<void> {
  console.log(`\n## 2. Flush throughput, ${keys.toLocaleString()} distinct keys per queue, 1,000 rows per statement`);
  const dsn = await freshDatabase(server, 'bench_tp', keys, keys);
  const pool = openPool(dsn);
  const metrics = new Metrics({ defaultMetrics: false });
  const sink = new AccountingQueues(pool, config(dsn), metrics, silentLogger());
  const fill: Record<string, () => void> = {
    users: () => {
      for (let i = 1; i <= keys; i++) sink.user(i, 1000, 1000, 1000, 1000);
    },
    torrents: () => {
      for (let i = 1; i <= keys; i++) sink.torrent(i, 1, 3, 4, 1_700_000_000);
    },
    'transfer_history (insert)': () => {
      for (let i = 1; i <= keys; i++)
        sink.transferHistory(i, 1 + (i % 97), 1000, 1000, 1800, 0, 0, false, 10, 1_700_000_000, 1_700_000_000, true);
    },
    'transfer_history (update)': () => {
      for (let i = 1; i <= keys; i++)
        sink.transferHistory(i, 1 + (i % 97), 1000, 1000, 1800, 0, 0, false, 10, 1_700_000_001, 1_700_000_000, true);
    },
    'transfer_ips (insert)': () => {
      for (let i = 1; i <= keys; i++) sink.transferIp(i, 1 + (i % 97), 0x0a000001, 1, 1000, 1000, 6881, 1_700_000_000, 1_700_000_000);
    },
    'transfer_ips (update)': () => {
      for (let i = 1; i <= keys; i++) sink.transferIp(i, 1 + (i % 97), 0x0a000001, 1, 1000, 1000, 6881, 1_700_000_001, 1_700_000_000);
    },
    snatches: () => {
      for (let i = 1; i <= keys; i++) sink.snatch(i, 1 + (i % 97), 1_700_000_000);
    },
    revivals: () => {
      for (let i = 1; i <= keys; i++) sink.revive(i);
    },
  };
  for (const [label, run] of Object.entries(fill)) {
    const queue = label.split(' ')[0] as QueueName;
    const t0 = performance.now();
    run();
    const queued = performance.now() - t0;
    const t1 = performance.now();
    const result = await sink.flushNow(queue);
    const seconds = (performance.now() - t1) / 1000;
    console.log(
      `- ${label}: ${result.written} rows in ${seconds.toFixed(2)} s = ${Math.round(result.written / seconds).toLocaleString()} rows/s` +
        ` (queueing the ${keys.toLocaleString()} sink calls took ${queued.toFixed(0)} ms)`,
    );
  }
  metrics.close();
  await pool.end();
}

async function outage(server: PrivateMariaDb): Promise<void> {
  const users = 50_000;
  const torrents = 20_000;
  const peers = 100_000; // distinct (user, torrent) pairs the generator below can produce
  console.log(
    `\n## 3. Outage: ${outageSeconds} s with mariadbd killed, ${rate} announces/s from ${peers.toLocaleString()} peers ` +
      `(${users.toLocaleString()} users, ${torrents.toLocaleString()} torrents)`,
  );
  const dsn = await freshDatabase(server, 'bench_outage', users, torrents);
  const pool = openPool(dsn);
  const metrics = new Metrics({ defaultMetrics: false });
  const sink = new AccountingQueues(pool, config(dsn), metrics, silentLogger());
  sink.start();
  const gc = (globalThis as { gc?: () => void }).gc;
  const sample = (label: string): void => {
    gc?.();
    const mem = process.memoryUsage();
    console.log(`| ${label} | ${JSON.stringify(sink.depths())} | ${mb(mem.heapUsed)} | ${mb(mem.rss)} |`);
  };
  let n = 0;
  const perTick = rate / 100;
  const timer = setInterval(() => {
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < perTick; i++, n++) {
      // Peer n of the population: a fixed (user, torrent) pair, hashed so users spread over torrents.
      const p = (n * 2654435761) % peers;
      announce(sink, 1 + (p % users), 1 + ((p * 31) % torrents), now, n);
    }
  }, 10);
  console.log('| t | depths | heapUsed MB | rss MB |\n| --- | --- | --- | --- |');
  await new Promise((r) => setTimeout(r, 5000));
  sample('up, steady (5 s)');
  await server.kill();
  const down = Date.now();
  for (let s = 5; s <= outageSeconds; s += 5) {
    await new Promise((r) => setTimeout(r, down + s * 1000 - Date.now()));
    sample(`down ${s} s`);
  }
  await server.start();
  const back = Date.now();
  const queuedAtRestart = Object.values(sink.depths()).reduce((a, b) => a + b, 0);
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const depths = sink.depths();
    if (depths.users < 1000 && depths.transfer_history < 5000 && depths.transfer_ips < 5000 && depths.torrents < 5000) break;
  }
  const drainedMs = Date.now() - back;
  sample(`back, drained to steady state after ${(drainedMs / 1000).toFixed(1)} s`);
  clearInterval(timer);
  const report = await sink.stop(60_000);
  console.log(
    `\n${queuedAtRestart.toLocaleString()} keys were waiting when the server came back; ` +
      `the backlog was written in ${(drainedMs / 1000).toFixed(1)} s (including reconnect and the flushers' backoff, max 30 s) while ${rate}/s kept arriving. ` +
      `${n.toLocaleString()} announces in all; final stop complete=${report.complete}; sqlErrors=${(await metrics.sqlErrors.get()).values.reduce((a, v) => a + v.value, 0)}`,
  );
  metrics.close();
  await pool.end();
}

const server = await PrivateMariaDb.create();
try {
  console.log(`# hayate accounting flush bench (node ${process.version}, private mariadbd on port ${server.port})`);
  await mergingRatio(server);
  await throughput(server);
  if (outageSeconds > 0) await outage(server);
} finally {
  await server.destroy();
}
