/**
 * The update API under measurement (docs/update-api.md):
 *
 * 1. Push to first announce: a remove_user (then an add_user, which reads the
 *    user's row) is sent the way Gazelle sends it (a new connection, no Host,
 *    Connection: Close) while another connection announces with that passkey in a
 *    loop; the time from sending the push to the first announce answer that shows
 *    it, and to the push's own answer. --samples of each.
 * 2. Announce latency while the site pushes --rate changes a second, without
 *    pushes and with them, interleaved --rounds times: (a) paced announces,
 *    --announce-rate a second on 16 keep-alive connections, latency counted from
 *    when each was due (a late answer delays none after it); (b) saturating
 *    announces from the load generator (bench/loadgen.ts, --connections). Pushes:
 *    update_user 40 %, update_torrent 40 %, add_user 10 % and add_torrent 10 %
 *    (these two read a row each), on users and torrents the announces also use;
 *    each on its own connection, as Gazelle sends them.
 *
 * node dist/bench/update-push.js [--users 100000] [--torrents 100000] [--rate 1000]
 *   [--announce-rate 2000] [--duration 10] [--rounds 2] [--connections 32] [--samples 200]
 * Prints a summary and writes bench-results/update-push-<time>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runChildJson } from './child-json.js';
import type { LoadOptions, LoadResult } from './loadgen.js';
import { ensureSite, infoHashOf, passkeyOf } from './site.js';

const { values: opts } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    torrents: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '1000' },
    'announce-rate': { type: 'string', default: '2000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    peers: { type: 'string', default: '20000' },
    samples: { type: 'string', default: '200' },
    'db-url': { type: 'string', default: process.env['BENCH_DB_URL'] ?? 'mysql://root@127.0.0.1:3306' },
    database: { type: 'string', default: 'hayate_bench_push' },
    out: { type: 'string', default: 'bench-results' },
    /** Internal: run only the pusher against this port for --duration seconds, print its JSON (a child process of the bench). */
    'push-to': { type: 'string' },
  },
});
const num = (name: keyof typeof opts): number => Number(opts[name]);
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const PASSWORD = 'bench-site-password-0123456789';
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function startHayate(database: string): Promise<{ port: number; dir: string; child: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-push-'));
  const port = await freePort();
  const config = {
    database: { dsn: `${opts['db-url'].replace(/\/$/, '')}/${database}` },
    http: { addr: `127.0.0.1:${port}` },
    enable_metrics: true,
    site_password: PASSWORD,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const child = spawn(process.execPath, [join(root, 'dist/cmd/hayate.js'), '-c', 'config.json'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, HAYATE_LOG_LEVEL: 'warn' },
  });
  for (const deadline = Date.now() + 600_000; ;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/alive`)).ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('hayate did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  return { port, dir, child };
}

function rawurlencode(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** One push as Gazelle sends it; resolves with the status and the ms until the answer was complete. */
function push(port: number, query: string): Promise<{ status: number | string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let error = '';
    socket.on('connect', () => socket.write(`GET /${PASSWORD}/update?${query} HTTP/1.1\r\nConnection: Close\r\n\r\n`));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1', 0, 12);
      const status = /^HTTP\/1\.1 (\d+)/.exec(text)?.[1];
      resolve({ status: status === undefined ? error || 'no answer' : Number(status), ms: performance.now() - started });
    });
  });
}

/** A keep-alive announcer: announce() resolves with the answer body. */
function announcer(port: number): { announce: (passkey: string, n: number) => Promise<string>; close: () => void } {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  let pending: ((body: string) => void) | undefined;
  let buffer = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => {
    buffer = Buffer.concat([buffer, c]);
    const end = buffer.indexOf('\r\n\r\n');
    if (end === -1) return;
    const length = Number(/Content-Length: (\d+)/i.exec(buffer.toString('latin1', 0, end))?.[1] ?? 0);
    if (buffer.length < end + 4 + length) return;
    const body = buffer.toString('latin1', end + 4, end + 4 + length);
    buffer = buffer.subarray(end + 4 + length);
    const done = pending;
    pending = undefined;
    done?.(body);
  });
  const hash = rawurlencode(infoHashOf(1));
  return {
    announce: (passkey, n) =>
      new Promise((resolve) => {
        pending = resolve;
        const peer = `-qB4650-${String(n).padStart(12, '0')}`;
        socket.write(
          `GET /${passkey}/announce?info_hash=${hash}&peer_id=${peer}&port=6881&uploaded=0&downloaded=0&left=0&numwant=0 HTTP/1.1\r\nHost: b\r\n\r\n`,
        );
      }),
    close: () => socket.destroy(),
  };
}

function quantiles(values: number[]): { p50: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 1000) / 1000;
  return { p50: at(0.5), p99: at(0.99), max: Math.round(s[s.length - 1]! * 1000) / 1000 };
}

/** Sends the push and announces in a loop until `seen(body)`; ms from sending to that answer, and to the push's answer. */
async function pushToAnnounce(
  port: number,
  a: ReturnType<typeof announcer>,
  query: string,
  passkey: string,
  seen: (body: string) => boolean,
) {
  const started = performance.now();
  const answered = push(port, query);
  let announces = 0;
  let seenMs: number;
  for (;;) {
    const body = await a.announce(passkey, 1);
    announces++;
    if (seen(body)) {
      seenMs = performance.now() - started;
      break;
    }
  }
  const pushed = await answered;
  return { seenMs, pushMs: pushed.ms, status: pushed.status, announces };
}

async function latency(port: number): Promise<Record<string, unknown>> {
  const a = announcer(port);
  const removed: number[] = [];
  const added: number[] = [];
  const pushMs: number[] = [];
  for (let i = 0; i < num('samples'); i++) {
    const id = 1 + ((i * 7919) % num('users'));
    const passkey = passkeyOf(id);
    const r = await pushToAnnounce(port, a, `action=remove_user&passkey=${passkey}`, passkey, (b) => b.includes('passkey is invalid'));
    const s = await pushToAnnounce(port, a, `action=add_user&passkey=${passkey}&id=${id}&visible=1`, passkey, (b) =>
      b.startsWith('d8:complete'),
    );
    if (r.status !== 200 || s.status !== 200) throw new Error(`push answered ${r.status}/${s.status}`);
    removed.push(r.seenMs);
    added.push(s.seenMs);
    pushMs.push(r.pushMs, s.pushMs);
  }
  a.close();
  // Bulk pushes: hayate's apply time (hayate_update_seconds) and the round trip.
  const applied = async (action: string): Promise<number> => metric(port, `hayate_update_seconds_sum{action="${action}"}`);
  const bulk = async (action: string, query: string) => {
    const before = await applied(action);
    const r = await push(port, query);
    return {
      status: r.status,
      queryBytes: query.length,
      answeredMs: Math.round(r.ms * 100) / 100,
      appliedMs: Math.round(((await applied(action)) - before) * 1e5) / 100,
    };
  };
  let hashes = '';
  for (let id = 1; id <= 10_000; id++) hashes += rawurlencode(infoHashOf(id));
  let passkeys = '';
  for (let id = 1; id <= 5_000; id++) passkeys += passkeyOf(id);
  // hayate's CPU per push (robust to a busy machine, unlike latencies): 2,000 pushes one after
  // another, each on its own connection as Gazelle makes them; and, for scale, 2,000 GET /alive
  // on fresh connections.
  const cpuPer = async (what: (i: number) => Promise<unknown>): Promise<number> => {
    const before = cpuSeconds(hayatePid);
    for (let i = 0; i < 2_000; i++) await what(i);
    return Math.round(((cpuSeconds(hayatePid) - before) / 2_000) * 1e6);
  };
  const cpuMicros = {
    updateUser: await cpuPer((i) => push(port, `action=update_user&passkey=${passkeyOf(1 + i)}&can_leech=1&visible=1`)),
    updateTorrent: await cpuPer((i) => push(port, `action=update_torrent&info_hash=${rawurlencode(infoHashOf(1 + i))}&freetorrent=0`)),
    addTorrent: await cpuPer((i) =>
      push(port, `action=add_torrent&info_hash=${rawurlencode(infoHashOf(1 + i))}&id=${1 + i}&freetorrent=0`),
    ),
    aliveOnNewConnection: await cpuPer(() =>
      fetch(`http://127.0.0.1:${port}/alive`, { headers: { connection: 'close' } }).then((r) => r.text()),
    ),
  };
  const bulkTorrents = await bulk('update_torrents', `action=update_torrents&info_hashes=${hashes}&freetorrent=0`);
  const bulkUsers = await bulk('remove_users', `action=remove_users&passkeys=${passkeys}`);
  const reload = await bulk('reload', 'action=reload'); // puts the 5,000 users back
  return {
    hayateCpuMicrosPerRequest: cpuMicros,
    bulk: { updateTorrents10000: bulkTorrents, removeUsers5000: bulkUsers, reloadAction: reload },
    samples: num('samples'),
    removeUserToFirstAnnounceMs: quantiles(removed),
    addUserToFirstAnnounceMs: quantiles(added),
    pushAnsweredMs: quantiles(pushMs),
  };
}

/** Pushes at `rate` a second until stopped; returns counts and latencies. */
function pusher(port: number, rate: number): { stop: () => Promise<Record<string, unknown>> } {
  let sent = 0;
  let n = 0;
  const ms: number[] = [];
  const statuses: Record<string, number> = {};
  const inflight = new Set<Promise<void>>();
  const started = performance.now();
  const users = num('users');
  const torrents = num('torrents');
  const tick = (): void => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      sent++;
      const k = n++;
      const pick = k % 10;
      const id = 1 + ((k * 7919) % Math.min(users, torrents));
      const query =
        pick < 4
          ? `action=update_user&passkey=${passkeyOf(id)}&can_leech=1&visible=1`
          : pick < 8
            ? `action=update_torrent&info_hash=${rawurlencode(infoHashOf(id))}&freetorrent=${k % 3 === 0 ? 1 : 0}`
            : pick === 8
              ? `action=add_user&passkey=${passkeyOf(id)}&id=${id}&visible=1`
              : `action=add_torrent&info_hash=${rawurlencode(infoHashOf(id))}&id=${id}&freetorrent=0`;
      const p = push(port, query).then((r) => {
        ms.push(r.ms);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        inflight.delete(p);
      });
      inflight.add(p);
    }
  };
  const timer = setInterval(tick, 5);
  return {
    async stop() {
      clearInterval(timer);
      const seconds = (performance.now() - started) / 1000;
      await Promise.all(inflight);
      return { pushes: sent, perSecond: Math.round(sent / seconds), statuses, pushLatencyMs: quantiles(ms) };
    },
  };
}

/** The pusher in a process of its own (its connections must not slow the announcer's answers). */
function pusherChild(port: number, seconds: number): Promise<Record<string, unknown>> {
  const args = [join(here, 'update-push.js'), '--push-to', String(port), '--duration', String(seconds), '--rate', String(num('rate'))];
  args.push('--users', String(num('users')), '--torrents', String(num('torrents')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim()) as Record<string, unknown>) : reject(new Error(`pusher exited ${String(code)}`)),
    );
  });
}

function loadgen(o: LoadOptions): Promise<LoadResult> {
  return runChildJson<LoadResult>(process.execPath, [join(here, 'loadgen.js'), JSON.stringify(o)], 'loadgen');
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name.replace(/[{}"=.]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

async function underLoad(port: number, withPushes: boolean): Promise<Record<string, unknown>> {
  const load: LoadOptions = {
    host: '127.0.0.1',
    port,
    paths: 'passkey',
    connections: num('connections'),
    warmup: num('warmup'),
    duration: num('duration'),
    users: num('users'),
    torrents: num('torrents'),
    peers: num('peers'),
    hotShare: 0.5,
    scrapeShare: 0,
    rate: 0,
    seed: 42,
  };
  const loading = loadgen(load);
  await new Promise((r) => setTimeout(r, num('warmup') * 1000));
  await metric(port, 'hayate_uptime_seconds'); // resets the lag window
  const p = withPushes ? pusherChild(port, num('duration')) : undefined;
  const lag: number[] = [];
  const sampler = setInterval(
    () => void metric(port, 'hayate_event_loop_lag_seconds{quantile="0.99"}').then((v) => lag.push(v * 1000)),
    1000,
  );
  const result = await loading;
  clearInterval(sampler);
  const pushes = await p;
  return {
    withPushes,
    announcesPerSecond: result.perSecond,
    announceLatencyMs: result.latencyMs,
    failures: result.failures,
    errors: result.errors,
    lagP99WorstSecondMs: Math.round(Math.max(0, ...lag) * 1000) / 1000,
    ...(pushes ? { pushes } : {}),
  };
}

/** Announces at `rate` a second on keep-alive connections for `seconds`; latency from each one's due time. */
async function pacedAnnounces(port: number, rate: number, seconds: number): Promise<Record<string, unknown>> {
  const connections = 16;
  const sockets: { socket: Socket; due: number[]; buffer: Buffer }[] = [];
  const latencies: number[] = [];
  let failures = 0;
  for (let c = 0; c < connections; c++) {
    const socket = connect({ host: '127.0.0.1', port });
    const entry: { socket: Socket; due: number[]; buffer: Buffer } = { socket, due: [], buffer: Buffer.alloc(0) };
    socket.on('data', (chunk: Buffer) => {
      entry.buffer = entry.buffer.length === 0 ? chunk : Buffer.concat([entry.buffer, chunk]);
      for (;;) {
        const end = entry.buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const length = Number(/Content-Length: (\d+)/i.exec(entry.buffer.toString('latin1', 0, end))?.[1] ?? 0);
        if (entry.buffer.length < end + 4 + length) return;
        if (entry.buffer.toString('latin1', end + 4, end + 4 + 17) === 'd14:failure reaso') failures++;
        entry.buffer = entry.buffer.subarray(end + 4 + length);
        latencies.push(performance.now() - entry.due.shift()!);
      }
    });
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    sockets.push(entry);
  }
  const users = num('users');
  const torrents = num('torrents');
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.min(Math.floor((elapsed / 1000) * rate), Math.floor(seconds * rate));
      while (sent < due) {
        const k = sent++;
        const entry = sockets[k % connections]!;
        entry.due.push(started + (k / rate) * 1000);
        const user = 1 + ((k * 7) % users);
        const torrent = 1 + ((k * 31) % torrents);
        const peer = `-qB4650-${String(k % 1_000_000).padStart(12, '0')}`;
        entry.socket.write(
          `GET /${passkeyOf(user)}/announce?info_hash=${rawurlencode(infoHashOf(torrent))}&peer_id=${peer}&port=6881` +
            `&uploaded=${k}&downloaded=0&left=${k % 2 === 0 ? 0 : 1000}&numwant=50&compact=1 HTTP/1.1\r\nHost: b\r\n\r\n`,
        );
      }
      if (sent >= seconds * rate) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  const deadline = performance.now() + 30_000;
  while (latencies.length < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const { socket } of sockets) socket.destroy();
  return { announces: sent, answered: latencies.length, failures, perSecond: rate, latencyMs: quantiles(latencies) };
}

/** CPU seconds (user + system) the process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

let hayatePid = 0;

async function paced(port: number, withPushes: boolean): Promise<Record<string, unknown>> {
  await metric(port, 'hayate_uptime_seconds'); // resets the lag window
  const cpu0 = cpuSeconds(hayatePid);
  const wall0 = performance.now();
  const p = withPushes ? pusherChild(port, num('duration')) : undefined;
  const lag: number[] = [];
  const sampler = setInterval(
    () => void metric(port, 'hayate_event_loop_lag_seconds{quantile="0.99"}').then((v) => lag.push(v * 1000)),
    1000,
  );
  const result = await pacedAnnounces(port, num('announce-rate'), num('duration'));
  clearInterval(sampler);
  const pushes = await p;
  const hayateCores = Math.round(((cpuSeconds(hayatePid) - cpu0) / ((performance.now() - wall0) / 1000)) * 100) / 100;
  return {
    paced: true,
    withPushes,
    hayateCores,
    ...result,
    lagP99WorstSecondMs: Math.round(Math.max(0, ...lag) * 1000) / 1000,
    ...(pushes ? { pushes } : {}),
  };
}

async function main(): Promise<void> {
  const site = { users: num('users'), torrents: num('torrents') };
  const built = await ensureSite(opts['db-url'], opts.database, site);
  log(`site ${opts.database}: ${site.users} users, ${site.torrents} torrents (${built.created ? 'created' : 'reused'})`);
  const run = await startHayate(opts.database);
  hayatePid = run.child.pid!;
  try {
    log(`push → first announce, ${num('samples')} samples each of remove_user and add_user`);
    const firstSeen = await latency(run.port);
    log(JSON.stringify(firstSeen));
    const rounds: Record<string, unknown>[] = [];
    for (let r = 0; r < num('rounds'); r++) {
      for (const withPushes of [false, true]) {
        const result = await paced(run.port, withPushes);
        log(JSON.stringify(result));
        rounds.push(result);
      }
    }
    for (let r = 0; r < num('rounds'); r++) {
      for (const withPushes of [false, true]) {
        const result = await underLoad(run.port, withPushes);
        log(JSON.stringify(result));
        rounds.push(result);
      }
    }
    const results = {
      machine: { nproc: cpus().length, cpu: cpus()[0]?.model, node: process.version, date: new Date().toISOString(), options: opts },
      firstSeen,
      rounds,
    };
    const outDir = join(root, opts.out);
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `update-push-${results.machine.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    log(`results written to ${file}`);
  } finally {
    run.child.kill('SIGTERM');
    await once(run.child, 'exit');
    rmSync(run.dir, { recursive: true, force: true });
  }
}

if (opts['push-to'] !== undefined) {
  const p = pusher(Number(opts['push-to']), num('rate'));
  await new Promise((r) => setTimeout(r, num('duration') * 1000));
  process.stdout.write(`${JSON.stringify(await p.stop())}\n`);
} else {
  await main();
}
