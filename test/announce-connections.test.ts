import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyHead, readRequestHead, Route, type HeadLimits } from '../src/http/request-head.js';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { peerIdOf } from './helpers/announce.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';

/**
 * The announce path below Node's HTTP server (src/http/announce-connections.ts):
 * which request heads it reads itself, and that a connection it hands to Node
 * mid-stream loses no byte and keeps its order.
 */

const limits: HeadLimits = { proxyHeader: Buffer.from('x-real-ip'), maxHeadBytes: 8192, maxHeaders: 100, scrape: () => true };
const PASSKEY = users.normal.passkey;
const LIVE = percentEncodeBytes(infoHashBytes(torrents.live));

function read(text: string, at = 0): { next: number; head: ReturnType<typeof emptyHead> } {
  const head = emptyHead();
  const next = readRequestHead(Buffer.from(text, 'latin1'), at, limits, head);
  return { next, head };
}

const plain = (target: string, headers = 'Host: t\r\n'): string => `GET ${target} HTTP/1.1\r\n${headers}\r\n`;

describe('readRequestHead', () => {
  it('reads a plain announce: passkey, target, proxy header (any case, trimmed, first one), close', () => {
    const text = plain(
      '/abc_DEF-1.~/announce?info_hash=%01%ff&port=1',
      'host: t\r\nX-REAL-IP:  1.2.3.4 \t\r\nx-real-ip: 9.9.9.9\r\nConnection: Close\r\n',
    );
    const { next, head } = read(`${text}GET /next`);
    expect(next).toBe(text.length);
    expect(head.route).toBe(Route.Announce);
    expect(head.passkey).toBe('abc_DEF-1.~');
    expect(head.target).toBe('/abc_DEF-1.~/announce?info_hash=%01%ff&port=1');
    expect(head.proxyValue).toBe('1.2.3.4');
    expect(head.close).toBe(true);
  });

  it('reads a second request where the first ends, and an announce without a query', () => {
    const first = plain('/a/announce?x=1', 'Host: t\r\nConnection: keep-alive\r\nContent-Length: 0\r\n');
    const second = plain('/b/announce');
    const { next, head } = read(first + second, first.length);
    expect(next).toBe(first.length + second.length);
    expect(head.passkey).toBe('b');
    expect(head.target).toBe('/b/announce');
    expect(head.proxyValue).toBeUndefined();
    expect(head.close).toBe(false);
  });

  it('reads a scrape, and a scrape as another request when scrapes are off', () => {
    const text = plain('/pk/scrape?info_hash=%01', 'Host: t\r\nConnection: close\r\n');
    const { next, head } = read(text);
    expect(next).toBe(text.length);
    expect(head).toMatchObject({ route: Route.Scrape, passkey: 'pk', target: '/pk/scrape?info_hash=%01', close: true });
    const off = emptyHead();
    expect(readRequestHead(Buffer.from(plain('/pk/scrape'), 'latin1'), 0, { ...limits, scrape: () => false }, off)).toBe(
      plain('/pk/scrape').length,
    );
    expect(off.route).toBe(Route.Other);
  });

  // The path rule (src/protocol/path.ts): any path whose last two segments are <passkey>/announce.
  it.each([
    ['an escaped passkey', '/%61/announce', 'a'],
    ['a deeper path', '/a/b/announce', 'b'],
    ['repeated slashes', '//a//announce', 'a'],
  ])('reads %s as an announce', (_what, path, passkey) => {
    const { head } = read(plain(path));
    expect(head.route).toBe(Route.Announce);
    expect(head.passkey).toBe(passkey);
  });

  // Other requests whose end is certain: Node answers each alone, and the connection comes back.
  const others: Array<[string, string]> = [
    ['another method', 'HEAD /a/announce HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['another route', plain('/alive')],
    ['metrics', plain('/metrics', 'Host: t\r\nConnection: close\r\n')],
    ['a longer last segment', plain('/a/announcement')],
    ['a longer scrape segment', plain('/a/scraped')],
    ['an empty passkey', plain('//announce')],
    ['a POST without a body', 'POST /a/announce HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n'],
  ];
  it.each(others)('frames %s as a request for Node', (_what, text) => {
    const { next, head } = read(`${text}GET /x`);
    expect(next).toBe(text.length);
    expect(head.route).toBe(Route.Other);
  });

  const declined: Array<[string, string]> = [
    ['CONNECT', 'CONNECT /a:443 HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['a lower-case method', 'get /a/announce HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['HTTP/1.0', 'GET /a/announce HTTP/1.0\r\nHost: t\r\n\r\n'],
    ['no Host', 'GET /a/announce HTTP/1.1\r\nX: y\r\n\r\n'],
    ['no headers at all', 'GET /a/announce HTTP/1.1\r\n\r\n'],
    ['a body', plain('/a/announce', 'Host: t\r\nContent-Length: 3\r\n')],
    ['chunked', plain('/a/announce', 'Host: t\r\nTransfer-Encoding: chunked\r\n')],
    ['an upgrade', plain('/a/announce', 'Host: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n')],
    ['Expect', plain('/a/announce', 'Host: t\r\nExpect: 100-continue\r\n')],
    ['a connection list', plain('/a/announce', 'Host: t\r\nConnection: keep-alive, close\r\n')],
    ['absolute form', plain('http://t/a/announce')],
    ['a byte above 0x7e in the target', plain('/a/announce?x=\xff')],
    ['a control byte in the target', plain('/a/announce?x=\x01')],
    ['a header without a colon', plain('/a/announce', 'Host: t\r\nbroken\r\n')],
    ['a folded header', plain('/a/announce', 'Host: t\r\nX: a\r\n b\r\n')],
    ['a bare LF inside a header', plain('/a/announce', 'Host: t\r\nX: a\nb\r\n')],
    ['a bare CR inside a header', plain('/a/announce', 'Host: t\r\nX: a\rb\r\n')],
    ['a non-ASCII header value', plain('/a/announce', 'Host: t\r\nX: \xe9\r\n')],
    ['a space before the colon', plain('/a/announce', 'Host : t\r\n')],
    ['a head cut short', 'GET /a/announce?info_hash=x HTTP/1.1\r\nHost: t\r\n'],
    ['a request line cut short', 'GET /a/announce?info_hash='],
    ['a head over the size limit', plain('/a/announce', `Host: t\r\nX: ${'a'.repeat(8200)}\r\n`)],
    ['too many headers', plain('/a/announce', `Host: t\r\n${'X: 1\r\n'.repeat(100)}`)],
  ];
  it.each(declined)('declines %s', (_what, text) => {
    expect(read(text).next).toBe(-1);
  });

  it('never throws and never reads past the head it accepts, whatever the bytes', () => {
    const pieces = fc.constantFrom(
      'GET ',
      '/',
      'a',
      'announce',
      '?',
      '=',
      '&',
      ' HTTP/1.1',
      '\r\n',
      '\r',
      '\n',
      'Host: t',
      ':',
      ' ',
      'Connection: close',
      'Content-Length: 0',
      'X-Real-IP: 1.2.3.4',
      '%',
      '\xff',
      '\x00',
      'scrape',
      'HEAD ',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 40 }), fc.nat(8), (parts, offset) => {
        const bytes = Buffer.from(parts.join(''), 'latin1');
        const head = emptyHead();
        const next = readRequestHead(bytes, Math.min(offset, bytes.length), limits, head);
        if (next !== -1) {
          expect(next).toBeLessThanOrEqual(bytes.length);
          expect(bytes.toString('latin1', next - 4, next)).toBe('\r\n\r\n');
          if (head.route === Route.Announce) expect(head.target.startsWith(`/${head.passkey}/announce`)).toBe(true);
          if (head.route === Route.Scrape) expect(head.target.startsWith(`/${head.passkey}/scrape`)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits a byte stream of HTTP/1.1 responses (Content-Length framed) into responses. */
function parseResponses(bytes: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = bytes.indexOf('\r\n\r\n', at);
    if (end === -1) throw new Error(`incomplete response head at ${at}`);
    const lines = bytes.toString('latin1', at, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length']);
    if (!Number.isInteger(length)) throw new Error(`no content-length in ${lines[0]}`);
    out.push({ status: Number(lines[0]!.split(' ')[1]), headers, body: bytes.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}

/** A connection that collects everything the server sends. */
class Client {
  readonly socket: Socket;
  private chunks: Buffer[] = [];
  closed = false;
  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (c: Buffer) => this.chunks.push(c));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
  }
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }
  write(text: string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(Buffer.from(text, 'latin1'), (err) => (err ? reject(err) : resolve())));
  }
  /** Waits until `n` complete responses have arrived. */
  async responses(n: number): Promise<Parsed[]> {
    return eventually(
      () => {
        try {
          const parsed = parseResponses(this.received);
          return parsed.length >= n ? parsed : undefined;
        } catch {
          return undefined;
        }
      },
      10_000,
      `${n} responses`,
    );
  }
}

function announceTarget(n: number, left = 0, passkey = PASSKEY): string {
  const peerId = percentEncodeBytes(Buffer.from(peerIdOf('-TR3000-', 9000 + n)));
  return `/${passkey}/announce?info_hash=${LIVE}&peer_id=${peerId}&port=${20000 + n}&uploaded=0&downloaded=0&left=${left}&ip=8.8.${n}.8`;
}

const isAnnounceAnswer = (body: Buffer): boolean =>
  /^d8:completei\d+e10:downloadedi\d+e10:incompletei\d+e8:intervali/.test(body.toString('latin1'));

describe('announces read from the socket', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.http.proxy_header = 'X-Real-IP';
        c.enable_metrics = true;
      },
    });
  });
  afterAll(() => t.close());

  // A snapshot of the counters (the instance's own fields; total() is not needed).
  // eslint-disable-next-line @typescript-eslint/no-misused-spread
  const stats = () => ({ ...t.tracker.metrics.requests });

  it('keeps a connection alive across announces, with the headers Node would send', async () => {
    const before = stats();
    const c = new Client(t.port);
    try {
      await c.write(plain(announceTarget(1)));
      await c.responses(1);
      // Another user's leecher next: its answer hands out the seeder announced just before.
      await c.write(plain(announceTarget(2, 1000, users.other.passkey)));
      const both = await c.responses(2);
      for (const r of both) {
        expect(r.status).toBe(200);
        expect(r.headers['content-type']).toBe('text/plain');
        expect(r.headers['connection']).toBe('keep-alive');
        expect(r.headers['keep-alive']).toMatch(/^timeout=\d+$/);
        expect(new Date(r.headers['date']!).getTime()).not.toBeNaN();
        expect(isAnnounceAnswer(r.body)).toBe(true);
      }
      const seeder = Buffer.from([8, 8, 1, 8, 20001 >> 8, 20001 & 0xff]);
      expect(both[1]!.body.includes(seeder)).toBe(true);
      expect(c.closed).toBe(false);
      // One connection, kept by the socket path throughout.
      expect(stats().connections - before.connections).toBe(1);
      expect(stats().connectionsHandedOver - before.connectionsHandedOver).toBe(0);
      expect(stats().announces - before.announces).toBe(2);
    } finally {
      c.socket.destroy();
    }
  });

  it('answers pipelined requests in order: /alive through Node and back, then a request with a body hands the connection to Node for good without losing a byte', async () => {
    const before = stats();
    const c = new Client(t.port);
    try {
      // Three announces, /alive (Node's), an announce with a body (Node's), then a plain announce (Node's now).
      await c.write(
        plain(announceTarget(3)) +
          plain(announceTarget(4)) +
          plain(announceTarget(5)) +
          plain('/alive') +
          `GET ${announceTarget(6)} HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc` +
          plain(announceTarget(7)),
      );
      const rs = await c.responses(6);
      expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect([0, 1, 2, 4, 5].map((i) => isAnnounceAnswer(rs[i]!.body))).toEqual([true, true, true, true, true]);
      expect(JSON.parse(rs[3]!.body.toString())).toHaveProperty('uptime');
      // And the connection still serves.
      await c.write(plain(announceTarget(8)));
      expect(isAnnounceAnswer((await c.responses(7))[6]!.body)).toBe(true);
      expect(stats().connectionsHandedOver - before.connectionsHandedOver).toBe(1);
      expect(stats().requestsHandedOver - before.requestsHandedOver).toBe(1);
      expect(stats().announces - before.announces).toBe(6);
    } finally {
      c.socket.destroy();
    }
  });

  const scrapeTarget = (passkey = PASSKEY): string => `/${passkey}/scrape?info_hash=${LIVE}`;

  it('serves a connection that carried /alive, /metrics and a scrape on this path again', async () => {
    const before = stats();
    const c = new Client(t.port);
    try {
      await c.write(plain('/alive'));
      await c.responses(1);
      await c.write(plain('/metrics'));
      await c.responses(2);
      await c.write(plain(scrapeTarget()));
      await c.write(plain(announceTarget(30)));
      await c.write(plain(announceTarget(31)));
      const rs = await c.responses(5);
      expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(JSON.parse(rs[0]!.body.toString())).toHaveProperty('uptime');
      expect(rs[1]!.body.toString()).toContain('hayate_connections_total');
      expect(rs[2]!.body.toString('latin1')).toMatch(/^d5:filesd20:/);
      expect([3, 4].map((i) => isAnnounceAnswer(rs[i]!.body))).toEqual([true, true]);
      expect(c.closed).toBe(false);
      const after = stats();
      // Node answered /alive and /metrics alone; the connection was never Node's for good.
      expect(after.requestsHandedOver - before.requestsHandedOver).toBe(2);
      expect(after.connectionsHandedOver - before.connectionsHandedOver).toBe(0);
      expect(after.connections - before.connections).toBe(1);
      expect(after.scrapes - before.scrapes).toBe(1);
      expect(after.announces - before.announces).toBe(2);
      // The metric says so too.
      const metrics = (await t.get('/metrics')).body.toString();
      expect(metrics).toMatch(/^hayate_requests_handed_to_node_total \d+$/m);
    } finally {
      c.socket.destroy();
    }
  });

  it('keeps the order of requests pipelined behind one Node answers (its answer may come later)', async () => {
    const before = stats();
    const c = new Client(t.port);
    try {
      // /metrics is answered asynchronously: the announce, scrape and 404 behind it wait for it.
      await c.write(
        plain(announceTarget(32)) +
          plain('/metrics') +
          plain(announceTarget(33)) +
          plain(scrapeTarget()) +
          plain('/nothing-here') +
          plain(announceTarget(34)),
      );
      const rs = await c.responses(6);
      expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200, 404, 200]);
      expect(isAnnounceAnswer(rs[0]!.body)).toBe(true);
      expect(rs[1]!.body.toString()).toContain('hayate_connections_total');
      expect(isAnnounceAnswer(rs[2]!.body)).toBe(true);
      expect(rs[3]!.body.toString('latin1')).toMatch(/^d5:filesd20:/);
      expect(rs[4]!.body.toString()).toBe('404 page not found\n');
      expect(isAnnounceAnswer(rs[5]!.body)).toBe(true);
      expect(stats().requestsHandedOver - before.requestsHandedOver).toBe(2);
      expect(stats().connectionsHandedOver - before.connectionsHandedOver).toBe(0);
    } finally {
      c.socket.destroy();
    }
  });

  it("answers a scrape byte for byte as fastify's route does (all but the Date line)", async () => {
    const dateless = (r: Buffer): string => r.toString('latin1').replace(/\r\nDate: [^\r]*/, '');
    const target = `/${PASSKEY}/scrape?info_hash=${LIVE}&info_hash=${percentEncodeBytes(infoHashBytes(torrents.pruned))}`;
    for (const headers of ['Host: t\r\n', 'Host: t\r\nConnection: close\r\n']) {
      const before = stats();
      // This path's answer.
      const fast = new Client(t.port);
      await fast.write(plain(target, headers));
      await fast.responses(1);
      // fastify's: on a connection Node has for good (a request with a body first).
      const node = new Client(t.port);
      await node.write(`GET /alive HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx`);
      await node.responses(1);
      const start = node.received.length;
      await node.write(plain(target, headers));
      await node.responses(2);
      expect(dateless(fast.received)).toBe(dateless(node.received.subarray(start)));
      expect(stats().scrapes - before.scrapes).toBe(2);
      expect(stats().connectionsHandedOver - before.connectionsHandedOver).toBe(1);
      fast.socket.destroy();
      node.socket.destroy();
    }
  });

  it('closes after Node answers a request with Connection: close, reading nothing after it', async () => {
    const c = new Client(t.port);
    await c.write(plain('/alive', 'Host: t\r\nConnection: close\r\n') + plain(announceTarget(35)));
    await eventually(() => (c.closed ? true : undefined), 10_000, 'the server to close');
    const rs = parseResponses(c.received);
    expect(rs).toHaveLength(1);
    expect(rs[0]!.headers['connection']).toBe('close');
  });

  it("answers Node's 400 to a method Node does not know, with a bencoded failure, and closes", async () => {
    const c = new Client(t.port);
    await c.write(plain(announceTarget(36)) + 'FROB /alive HTTP/1.1\r\nHost: t\r\n\r\n' + plain(announceTarget(37)));
    await eventually(() => (c.closed ? true : undefined), 10_000, 'the server to close');
    const text = c.received.toString('latin1');
    expect(isAnnounceAnswer(parseResponses(c.received.subarray(0, text.indexOf('HTTP/1.1 400')))[0]!.body)).toBe(true);
    expect(text.slice(text.indexOf('HTTP/1.1 400'))).toMatch(
      /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nd14:failure reason48:Malformed request - not a valid HTTP\/1\.1 requeste$/,
    );
  });

  it('answers what was pipelined before a half-close, through Node and back, then ends', async () => {
    const c = new Client(t.port);
    c.socket.end(Buffer.from(plain('/metrics') + plain(announceTarget(38)), 'latin1'));
    await eventually(() => (c.closed ? true : undefined), 10_000, 'the server to end');
    const rs = parseResponses(c.received);
    expect(rs.map((r) => r.status)).toEqual([200, 200]);
    expect(isAnnounceAnswer(rs[1]!.body)).toBe(true);
  });

  it("keeps a connection idle after a Node answer beyond the read timeout (keep-alive idle applies, not Node's request timers)", async () => {
    const c = new Client(t.port);
    try {
      await c.write(plain('/alive'));
      await c.responses(1);
      // http.timeout.read is 300 ms; Node's connections check runs every ~150 ms.
      const idleSince = Date.now();
      await eventually(() => (Date.now() - idleSince > 1200 ? true : undefined), 5_000, 'time to pass');
      expect(c.closed).toBe(false);
      await c.write(plain(announceTarget(39)));
      expect(isAnnounceAnswer((await c.responses(2))[1]!.body)).toBe(true);
    } finally {
      c.socket.destroy();
    }
  });

  it('answers any mix of pipelined requests in order, however the bytes are split across reads', async () => {
    type Kind = 'announce' | 'scrape' | 'alive' | 'missing';
    const kinds: Kind[] = ['announce', 'scrape', 'alive', 'missing'];
    let n = 100;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(2000), { maxLength: 4 }),
        async (sequence, cuts) => {
          const text = sequence
            .map((kind) =>
              kind === 'announce'
                ? plain(announceTarget(n++ % 200))
                : kind === 'scrape'
                  ? plain(scrapeTarget())
                  : kind === 'alive'
                    ? plain('/alive')
                    : plain('/missing'),
            )
            .join('');
          const c = new Client(t.port);
          try {
            const points = [...new Set(cuts.map((x) => x % text.length))].sort((a, b) => a - b);
            let from = 0;
            for (const at of [...points, text.length]) {
              if (at > from) await c.write(text.slice(from, at));
              from = at;
            }
            const rs = await c.responses(sequence.length);
            expect(rs).toHaveLength(sequence.length);
            sequence.forEach((kind, i) => {
              const r = rs[i]!;
              if (kind === 'announce') expect(isAnnounceAnswer(r.body)).toBe(true);
              if (kind === 'scrape') expect(r.body.toString('latin1')).toMatch(/^d5:filesd20:/);
              if (kind === 'alive') expect(JSON.parse(r.body.toString())).toHaveProperty('uptime');
              expect(r.status).toBe(kind === 'missing' ? 404 : 200);
            });
          } finally {
            c.socket.destroy();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('answers a request that arrived in time while the event loop was held up past the read timeout', async () => {
    const before = stats().connections;
    const c = new Client(t.port);
    try {
      await eventually(() => (stats().connections > before ? true : undefined), 10_000, 'the connection to be accepted');
      // The request reaches the kernel now; then this process (the tracker's too) is busy for
      // longer than http.timeout.read (300 ms), as under a long collection or a starved CPU.
      c.socket.write(Buffer.from(plain(announceTarget(40)), 'latin1'));
      const until = Date.now() + 3 * t.tracker.config.http.timeout.read;
      while (Date.now() < until) {
        // held up
      }
      const [r] = await c.responses(1);
      expect(isAnnounceAnswer(r!.body)).toBe(true);
      expect(c.closed).toBe(false);
    } finally {
      c.socket.destroy();
    }
  });

  it('answers a request written one byte at a time', async () => {
    const c = new Client(t.port);
    try {
      const text = plain(announceTarget(9), 'Host: t\r\nX-Real-IP: 8.8.4.4\r\n');
      for (const ch of text) await c.write(ch);
      const [r] = await c.responses(1);
      expect(r!.status).toBe(200);
      expect(isAnnounceAnswer(r!.body)).toBe(true);
      // Then a plain one on the same (now Node's) connection.
      await c.write(plain(announceTarget(10)));
      expect(isAnnounceAnswer((await c.responses(2))[1]!.body)).toBe(true);
    } finally {
      c.socket.destroy();
    }
  });

  it('closes after an answer to Connection: close, and reads nothing after it', async () => {
    const c = new Client(t.port);
    await c.write(plain(announceTarget(11), 'Host: t\r\nConnection: close\r\n') + plain(announceTarget(12)));
    await eventually(() => (c.closed ? true : undefined), 10_000, 'the server to close');
    const rs = parseResponses(c.received);
    expect(rs).toHaveLength(1);
    expect(rs[0]!.headers['connection']).toBe('close');
    expect(isAnnounceAnswer(rs[0]!.body)).toBe(true);
  });

  it('takes the address from the proxy header on this path (ip parameter absent)', async () => {
    const c = new Client(t.port);
    try {
      const target = announceTarget(13).replace(/&ip=[^&]*/, '');
      await c.write(plain(target, 'Host: t\r\nx-real-ip: 8.8.13.13\r\n'));
      await c.responses(1);
      const torrent = t.tracker.store.torrents.get(infoHashBytes(torrents.live).toString('latin1'))!;
      const ips = torrent.seeders.peers.map((p) => p.ip >>> 0);
      expect(ips).toContain(((8 << 24) | (8 << 16) | (13 << 8) | 13) >>> 0);
    } finally {
      c.socket.destroy();
    }
  });

  it('answers Node-style 400 to a malformed head it declined', async () => {
    const c = new Client(t.port);
    await c.write(`GET ${announceTarget(14)} HTTP/1.1\r\nHost: t\r\nbroken header\r\n\r\n`);
    await eventually(() => (c.closed ? true : undefined), 10_000, 'the server to close');
    expect(c.received.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
  });
});

describe('a client that pipelines announces and never reads', () => {
  it('is cut off (reading stops while its answers wait, then http.timeout.write ends it), and the tracker serves on', async () => {
    const t = await startTracker({ configure: (c) => (c.announce.numwant = 50) });
    const socket = connect({ host: '127.0.0.1', port: t.port });
    socket.on('error', () => undefined);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.pause();
    // Small writes of whole requests, so the server's reads stay whole requests and this path
    // keeps the connection (a read ending mid-request would hand it to Node, tested elsewhere).
    const few = Array.from({ length: 5 }, (_, i) => plain(announceTarget(100 + i))).join('');
    let writes = 0;
    const writer = setInterval(() => {
      if (!socket.destroyed && writes++ < 8000) socket.write(few);
    }, 1);
    try {
      await eventually(() => (closed ? true : undefined), 30_000, 'the server to cut a client that never reads');
      expect((await t.get('/alive')).status).toBe(200);
    } finally {
      clearInterval(writer);
      socket.destroy();
      await t.close();
    }
  });
});

describe('shutdown with connections on this path', () => {
  it('closes idle keep-alive connections so the stop completes, and answers in-flight requests first', async () => {
    const t = await startTracker();
    const idle = new Client(t.port);
    try {
      await idle.write(plain(announceTarget(20)));
      await idle.responses(1);
      expect(idle.closed).toBe(false);
      await t.tracker.stop();
      await eventually(() => (idle.closed ? true : undefined), 10_000, 'the idle connection to be closed');
    } finally {
      idle.socket.destroy();
      await t.close();
    }
  });
});
