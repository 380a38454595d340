/**
 * What the accounting flush costs the tracker's own process, in CPU-µs per record:
 * the sink calls (queueing, merging) and flushNow (sorting, SQL text, mysql2, the
 * socket writes) measured apart with process.cpuUsage() (all threads of this
 * process; MariaDB's own CPU is not counted).
 *
 *   npx tsc -p . && node dist/bench/flush-cpu.js [--rounds 12] [--peers 20000] [--chunk-rows 1000] [--db-url mysql://root@127.0.0.1:3306]
 *
 * Each round, every one of --peers virtual peers (a fixed user, torrent, ip) announces once,
 * as in the throughput benchmark (so nearly nothing merges: ~4 rows per announce), then every
 * queue is flushed. The first two rounds insert the transfer rows and warm the JIT; they are
 * left out of the figures.
 */
import { performance } from 'node:perf_hooks';
import { createConnection } from 'mysql2/promise';
import { schemaStatements } from '../fixtures/load.js';
import { defaultConfig } from '../src/config/config.js';
import { openPool } from '../src/database/pool.js';
import { AccountingQueues } from '../src/flush/index.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const rounds = Number(arg('rounds', '12'));
const peers = Number(arg('peers', '20000'));
const chunkRows = Number(arg('chunk-rows', '1000'));
const rootUrl = new URL(arg('db-url', 'mysql://root@127.0.0.1:3306'));
const users = 100_000;
const torrents = 100_000;
const database = 'hayate_flush_cpu';

const schema = schemaStatements();

const address = {
  host: rootUrl.hostname,
  port: Number(rootUrl.port || 3306),
  user: decodeURIComponent(rootUrl.username),
  password: decodeURIComponent(rootUrl.password),
};
const admin = await createConnection(address);
await admin.query(`DROP DATABASE IF EXISTS ${database}`);
await admin.query(`CREATE DATABASE ${database}`);
await admin.query(`USE ${database}`);
for (const s of schema) await admin.query(s);
await admin.query(`INSERT INTO users_main (ID, Enabled, torrent_pass) SELECT seq, '1', LPAD(seq, 32, '0') FROM seq_1_to_${users}`);
await admin.query(
  `INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) SELECT seq, seq, 'anime', UNHEX(LPAD(HEX(seq), 40, '0')) FROM seq_1_to_${torrents}`,
);

const dsn = `mysql://${rootUrl.username}:${rootUrl.password}@${rootUrl.host}/${database}`;
const config = defaultConfig();
config.database.dsn = dsn;
config.log_flushes = false;
const pool = openPool(dsn);
const metrics = new Metrics({ defaultMetrics: false });
const sink = new AccountingQueues(pool, config, metrics, silentLogger(), { chunkRows });

/** A deterministic spread of peers: users and torrents far apart, half the peers in 100 hot torrents. */
function peer(p: number): [uid: number, fid: number, ip: number] {
  const uid = 1 + ((p * 7919) % users);
  const fid = p % 2 === 0 ? 1 + (p % 100) : 1 + ((p * 104729) % torrents);
  return [uid, fid, 0x0a000000 + p];
}

async function rowsWritten(): Promise<number> {
  return (await metrics.flushedRows.get()).values.reduce((a, v) => a + v.value, 0);
}

const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

let flushSystem = 0;
let sinkCpu = 0;
let flushCpu = 0;
let flushWall = 0;
let rows = 0;
let announces = 0;
const perRound: string[] = [];
for (let round = 0; round < rounds; round++) {
  const now = 1_700_000_000 + round * 1800;
  const rowsBefore = await rowsWritten();
  const c0 = cpu();
  for (let p = 0; p < peers; p++) {
    const [uid, fid, ip] = peer(p);
    sink.user(uid, 16384 + (p & 1023), 8192, 16384 + (p & 1023), 8192);
    sink.torrent(fid, p % 50 === round % 50 ? 1 : 0, 10, 5, now);
    sink.transferHistory(
      uid,
      fid,
      16384,
      8192,
      1800,
      p & 1 ? 1800 : 0,
      p % 50 === round % 50 ? 1 : 0,
      (p & 1) === 1,
      0,
      now,
      now - 3600,
      true,
    );
    sink.transferIp(uid, fid, ip, 1, 16384, 8192, 6881, now, now - 3600);
    if (p % 50 === round % 50) sink.snatch(uid, fid, now);
  }
  const c1 = cpu();
  const s1 = process.cpuUsage().system;
  const w1 = performance.now();
  const result = await sink.flushNow();
  const w2 = performance.now();
  const c2 = cpu();
  const s2 = process.cpuUsage().system;
  if (!result.ok) throw new Error('flush failed');
  const written = (await rowsWritten()) - rowsBefore;
  perRound.push(
    `round ${round}: ${written} rows, sink ${((c1 - c0) / written).toFixed(2)} µs/row, flush ${((c2 - c1) / written).toFixed(2)} µs/row, ${(w2 - w1).toFixed(0)} ms wall`,
  );
  if (round < 2) continue;
  sinkCpu += c1 - c0;
  flushCpu += c2 - c1;
  flushWall += w2 - w1;
  flushSystem += s2 - s1;
  rows += written;
  announces += peers;
}
for (const line of perRound) console.log(line);
console.log(
  `\n${rounds - 2} measured rounds, ${peers} announces each, ${(rows / announces).toFixed(2)} rows per announce:\n` +
    `  sink calls: ${(sinkCpu / rows).toFixed(2)} CPU-µs per row\n` +
    `  flushNow:   ${(flushCpu / rows).toFixed(2)} CPU-µs per row, of which system ${(flushSystem / rows).toFixed(2)} (${Math.round(rows / (flushWall / 1000))} rows/s wall)\n` +
    `  total:      ${((sinkCpu + flushCpu) / rows).toFixed(2)} CPU-µs per row = ${((sinkCpu + flushCpu) / announces).toFixed(2)} per announce`,
);
metrics.close();
await pool.end();
await admin.query(`DROP DATABASE IF EXISTS ${database}`);
await admin.end();
