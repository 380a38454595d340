/**
 * A swarm-like announce load generator on raw sockets.
 *
 * Each connection owns a share of virtual peers (so a peer never has two
 * announces in flight) and sends one request at a time: started, then periodic
 * announces with growing counters, completed when a leecher finishes, stopped
 * now and then (after which the peer starts again). numwant=50, compact=1.
 * Requests are strings written as latin1; responses are parsed just enough to
 * know where they end and whether they are a failure.
 *
 * Keep-alive when the server allows it; when it closes the connection after an
 * answer (opentracker), the connection is reopened and the next request follows.
 *
 * Run as a child process: node dist/bench/loadgen.js '<LoadOptions JSON>'; prints LoadResult JSON.
 */
import { connect, type Socket } from 'node:net';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { writeDecimal } from '../src/decimal.js';
import { BENCH_CLIENTS, infoHashOf, passkeyOf } from './site.js';

export interface LoadOptions {
  /** An address, or `unix:/path` for a Unix socket (the native generator only). */
  host: string;
  port: number;
  /** 'passkey': /<passkey>/announce (hayate, bare); 'open': /announce (opentracker). */
  paths: 'passkey' | 'open';
  connections: number;
  /** Seconds of load before measuring (not counted). */
  warmup: number;
  /** Seconds measured. */
  duration: number;
  users: number;
  torrents: number;
  /** Virtual peers (distinct user/torrent/peer_id triples). */
  peers: number;
  /** Share of peers in the 100 hottest torrents (big swarms: full numwant answers). */
  hotShare: number;
  /** Share of requests that are scrapes of one of the connection's torrents (0 to 1), sent among the announces on the same connections. */
  scrapeShare: number;
  /**
   * Requests per second offered in all (spread evenly over the connections, each still one request at
   * a time), or 0: every connection sends its next request as soon as the last is answered (the
   * default, which finds the server's limit). With a rate, latency counts from when each request was
   * due, not when it could be sent, so a server that falls behind is not excused by its own delay.
   */
  rate: number;
  seed: number;
  /** One header line ("X-Real-IP: 127.0.0.1") sent in every request after Host, as nginx adds one (the native generator only). */
  header?: string;
}

export interface SecondStats {
  /** Seconds since measuring began. */
  t: number;
  count: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadResult {
  /** Answers to requests sent in the measured window (after the warm-up) that came before its end. */
  requests: number;
  /** Every answer, warm-up included: what the server's accounting has to write for this run. */
  allRequests: number;
  seconds: number;
  perSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Answers carrying a failure reason. */
  failures: number;
  /** Transport errors, non-200 answers, unparsable answers. */
  errors: number;
  connectsPerRequest: number;
  firstFailure?: string;
  perSecondSeries: SecondStats[];
  responseBytes: number;
  /**
   * The generator's own CPU over the measured window (seconds) and its event loop's busy share (0–1):
   * near 1, it was the limit. The window starts at its own warm-up's end (its clock starts after Node
   * has, some tens of ms after the parent's); a run shorter than the warm-up counts from its start.
   * `kind`: this generator ('node') or bench/loadgen.c ('native', whose busy share is its time outside epoll_wait).
   */
  generator: { cpuSeconds: number; loopUtilization: number; kind?: 'node' | 'native' };
}

/** mulberry32: a small, seeded PRNG so runs are repeatable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function percentEncode(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += `%${b < 16 ? '0' : ''}${b.toString(16)}`;
  return out;
}

export interface VirtualPeer {
  /** "GET /<passkey>/announce?info_hash=..&peer_id=..&port=N", latin1 bytes. */
  prefix: Buffer;
  /** "GET /<passkey>/scrape?info_hash=.. HTTP/1.1 …", latin1 bytes: a scrape of this peer's torrent, as its client sends now and then. */
  scrape: Buffer;
  size: number;
  uploaded: number;
  downloaded: number;
  left: number;
  started: boolean;
}

export function makePeers(o: LoadOptions, random: () => number): VirtualPeer[] {
  const peers: VirtualPeer[] = [];
  const hot = Math.min(100, o.torrents);
  for (let i = 0; i < o.peers; i++) {
    const torrentId = random() < o.hotShare ? 1 + Math.floor(random() * hot) : 1 + Math.floor(random() * o.torrents);
    const userId = 1 + Math.floor(random() * o.users);
    const peerId = Buffer.from(`${BENCH_CLIENTS[0]}4650-${i.toString(36).padStart(12, '0')}`, 'latin1');
    const port = 1024 + Math.floor(random() * 60000);
    const base = o.paths === 'passkey' ? `/${passkeyOf(userId)}` : '';
    const size = 1_000_000 + Math.floor(random() * 4_000_000_000);
    const seeder = random() < 0.3;
    const infoHash = percentEncode(infoHashOf(torrentId));
    peers.push({
      prefix: Buffer.from(`GET ${base}/announce?info_hash=${infoHash}&peer_id=${percentEncode(peerId)}&port=${port}`, 'latin1'),
      scrape: Buffer.from(`GET ${base}/scrape?info_hash=${infoHash}${TAIL_SCRAPE}`, 'latin1'),
      size,
      uploaded: 0,
      downloaded: 0,
      left: seeder ? 0 : size,
      started: false,
    });
  }
  return peers;
}

const TAIL = Buffer.from('&numwant=50&compact=1 HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n', 'latin1');
/** What follows a scrape's request target: the request line's end and the headers. */
export const TAIL_SCRAPE = ' HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n';
const UPLOADED = Buffer.from('&uploaded=', 'latin1');
const DOWNLOADED = Buffer.from('&downloaded=', 'latin1');
const LEFT = Buffer.from('&left=', 'latin1');
const STARTED = Buffer.from('&event=started', 'latin1');
const STOPPED = Buffer.from('&event=stopped', 'latin1');
const COMPLETED = Buffer.from('&event=completed', 'latin1');

/** Bytes a request written by writeRequest may take (a prefix is under 256, three counters of at most 16 digits, the rest fixed). */
export const REQUEST_ROOM = 1024;

/**
 * Writes the next request of this peer into `buf` (REQUEST_ROOM bytes from 0), advancing its
 * state as a real client would; returns its length in bytes.
 *
 * Bytes, not a string built per request: a template of the peer's prefix and three numbers is a
 * rope that Node flattens again on every write (the prefix's own percent-encoded parts included),
 * which was a fifth of the generator's CPU, and the generator shares the machine with the server
 * it measures.
 */
export function writeRequest(peer: VirtualPeer, random: () => number, buf: Buffer): number {
  let event: Buffer | undefined;
  if (!peer.started) {
    peer.started = true;
    event = STARTED;
  } else {
    const r = random();
    if (r < 0.03) {
      event = STOPPED;
      peer.started = false;
    } else {
      peer.uploaded += Math.floor(random() * 10_000_000);
      if (peer.left > 0) {
        const got = Math.min(peer.left, Math.floor(random() * peer.size * 0.2));
        peer.downloaded += got;
        peer.left -= got;
        if (peer.left === 0 || r < 0.06) {
          peer.left = 0;
          event = COMPLETED;
        }
      }
    }
  }
  buf.set(peer.prefix, 0);
  let at = peer.prefix.length;
  buf.set(UPLOADED, at);
  at = writeDecimal(buf, at + UPLOADED.length, peer.uploaded);
  buf.set(DOWNLOADED, at);
  at = writeDecimal(buf, at + DOWNLOADED.length, peer.downloaded);
  buf.set(LEFT, at);
  at = writeDecimal(buf, at + LEFT.length, peer.left);
  if (event !== undefined) {
    buf.set(event, at);
    at += event.length;
  }
  buf.set(TAIL, at);
  at += TAIL.length;
  if (!peer.started) {
    // After stopping, the client starts over as a fresh leecher of the same torrent.
    peer.uploaded = 0;
    peer.downloaded = 0;
    peer.left = peer.size;
  }
  return at;
}

const REQUEST_SCRATCH = Buffer.allocUnsafe(REQUEST_ROOM);

/** The next request of this peer as a (flat) latin1 string, advancing its state: writeRequest for callers that want text. */
export function nextRequest(peer: VirtualPeer, random: () => number): string {
  return REQUEST_SCRATCH.toString('latin1', 0, writeRequest(peer, random, REQUEST_SCRATCH));
}

const CRLF2 = Buffer.from('\r\n\r\n');
const FAILURE = Buffer.from('14:failure reason');

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (o.header !== undefined || o.host.startsWith('unix:'))
    throw new Error('loadgen.ts sends over TCP with no extra header: use bench/loadgen.c');
  const peers = makePeers(o, prng(o.seed));
  // The requests' choices from a stream of their own, as bench/loadgen.c draws them: with one
  // connection, the two generators send the same requests in the same order.
  const random = prng((o.seed + 1) >>> 0);
  const warmupEnd = performance.now() + o.warmup * 1000;
  const end = warmupEnd + o.duration * 1000;
  const perSecond: number[][] = [];
  let requests = 0;
  let allRequests = 0;
  let failures = 0;
  let errors = 0;
  let connects = 0;
  let responseBytes = 0;
  let firstFailure: string | undefined;
  let measuredFrom: { cpu: NodeJS.CpuUsage; loop: EventLoopUtilization } | undefined;
  const marking = setTimeout(() => (measuredFrom = { cpu: process.cpuUsage(), loop: performance.eventLoopUtilization() }), o.warmup * 1000);

  const runConnection = (index: number): Promise<void> =>
    new Promise((resolveDone) => {
      const own = peers.filter((_, i) => i % o.connections === index);
      let cursor = 0;
      let socket: Socket | undefined;
      let buf: Buffer | undefined;
      let sentAt = 0;
      /** With a rate: when this connection's next request is due (performance.now() ms). */
      const everyMs = o.rate > 0 ? (o.connections * 1000) / o.rate : 0;
      let due = performance.now() + (everyMs * index) / o.connections;
      /** When the request in flight was due. */
      let dueAt = 0;
      let pacing: NodeJS.Timeout | undefined;
      let waiting = false;
      let expectedLength = -1;
      let headerEnd = -1;
      let closeDelimited = false;
      /** The answer's head says Connection: close. */
      let headClosing = false;
      /** Learnt when the server closes after an answer without saying so (opentracker): reconnect after each. */
      let serverCloses = false;
      /** The request in flight: a view of `requestBytes` or a peer's scrape (rewritten only once its answer has come). */
      let lastRequest: Buffer = Buffer.alloc(0);
      const requestBytes = Buffer.allocUnsafe(REQUEST_ROOM);

      const finish = (): void => {
        if (pacing !== undefined) clearTimeout(pacing);
        socket?.destroy();
        resolveDone();
      };

      const send = (): void => {
        // A close while waiting for the next due time calls send() too: one timer at a time.
        if (pacing !== undefined) clearTimeout(pacing);
        pacing = undefined;
        const now = performance.now();
        if (now >= end) {
          finish();
          return;
        }
        if (everyMs > 0 && now < due) {
          pacing = setTimeout(send, due - now);
          return;
        }
        dueAt = due;
        due += everyMs;
        const peer = own[cursor]!;
        cursor = cursor + 1 === own.length ? 0 : cursor + 1;
        lastRequest =
          o.scrapeShare > 0 && random() < o.scrapeShare ? peer.scrape : requestBytes.subarray(0, writeRequest(peer, random, requestBytes));
        waiting = true;
        if (socket === undefined || socket.destroyed) {
          open();
          return;
        }
        write();
      };

      const write = (): void => {
        buf = undefined;
        headerEnd = -1;
        expectedLength = -1;
        closeDelimited = false;
        waiting = true;
        // With a rate, latency counts from when the request was due (a resend after a reconnect keeps it).
        sentAt = everyMs > 0 ? Math.min(dueAt, performance.now()) : performance.now();
        socket!.write(lastRequest);
      };

      const complete = (body: Buffer, status: number): void => {
        waiting = false;
        allRequests++;
        const now = performance.now();
        if (sentAt >= warmupEnd && now <= end) {
          requests++;
          responseBytes += body.length;
          const second = Math.floor((sentAt - warmupEnd) / 1000);
          (perSecond[second] ??= []).push(now - sentAt);
          if (status !== 200 || body[0] !== 0x64 /* d */) {
            errors++;
            firstFailure ??= `status ${status}: ${body.toString('latin1', 0, 120)}`;
          } else if (body.indexOf(FAILURE) !== -1) {
            failures++;
            firstFailure ??= body.toString('latin1', 0, 200);
          }
        }
      };

      const parse = (): void => {
        if (buf === undefined) return;
        if (headerEnd === -1) {
          const at = buf.indexOf(CRLF2);
          if (at === -1) return;
          headerEnd = at + 4;
          const head = buf.toString('latin1', 0, at).toLowerCase();
          headClosing = head.includes('connection: close');
          const cl = head.indexOf('content-length:');
          if (cl !== -1) expectedLength = parseInt(head.slice(cl + 15), 10);
          else closeDelimited = true;
        }
        if (expectedLength >= 0 && buf.length - headerEnd >= expectedLength) {
          const status = parseInt(buf.toString('latin1', 9, 12), 10);
          const body = buf.subarray(headerEnd, headerEnd + expectedLength);
          complete(body, status);
          if (headClosing || serverCloses) {
            socket?.destroy();
            socket = undefined;
          }
          send();
        }
      };

      const open = (): void => {
        if (performance.now() >= warmupEnd) connects++;
        const s = connect({ host: o.host, port: o.port, noDelay: true });
        socket = s;
        s.on('connect', () => (waiting ? write() : send()));
        s.on('data', (chunk: Buffer) => {
          // Bytes nobody asked for (between requests, at a fixed rate) are not an answer.
          if (!waiting) return;
          buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
          parse();
        });
        s.on('end', () => {
          if (socket !== s) return;
          if (waiting && closeDelimited && buf !== undefined && headerEnd !== -1) {
            complete(buf.subarray(headerEnd), parseInt(buf.toString('latin1', 9, 12), 10));
          } else if (waiting && buf === undefined && !serverCloses) {
            // Closed after the previous answer, before reading this request: send it again on a new connection.
            serverCloses = true;
            socket = undefined;
            s.destroy();
            open();
            return;
          } else if (waiting) {
            errors++;
            waiting = false;
          }
          socket = undefined;
          s.destroy();
          send();
        });
        s.on('error', (err) => {
          if (socket !== s) return;
          errors++;
          firstFailure ??= err.message;
          waiting = false;
          socket = undefined;
          s.destroy();
          if (pacing !== undefined) clearTimeout(pacing);
          pacing = setTimeout(send, 10);
        });
      };

      open();
    });

  await Promise.all(Array.from({ length: o.connections }, (_, i) => runConnection(i)));
  clearTimeout(marking);
  const cpu = process.cpuUsage(measuredFrom?.cpu);
  const loop = performance.eventLoopUtilization(measuredFrom?.loop);

  const all: number[] = [];
  const series: SecondStats[] = [];
  perSecond.forEach((list, t) => {
    const sorted = Float64Array.from(list).sort();
    series.push({ t, count: list.length, p99Ms: round(quantile(sorted, 0.99)), maxMs: round(sorted[sorted.length - 1]!) });
    for (const v of list) all.push(v);
  });
  const sorted = Float64Array.from(all).sort();
  return {
    requests,
    allRequests,
    seconds: o.duration,
    perSecond: Math.round(requests / o.duration),
    latencyMs: {
      p50: round(quantile(sorted, 0.5)),
      p90: round(quantile(sorted, 0.9)),
      p99: round(quantile(sorted, 0.99)),
      max: round(sorted.length > 0 ? sorted[sorted.length - 1]! : 0),
    },
    failures,
    errors,
    connectsPerRequest: requests > 0 ? Math.round((connects / requests) * 1000) / 1000 : 0,
    ...(firstFailure !== undefined ? { firstFailure } : {}),
    perSecondSeries: series,
    responseBytes: requests > 0 ? Math.round(responseBytes / requests) : 0,
    generator: { cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100, loopUtilization: round(loop.utilization), kind: 'node' },
  };
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
  runLoad(options).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (err: unknown) => {
      process.stderr.write(`loadgen: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
