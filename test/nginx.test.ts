import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { decodeBencode, isDict, type BValue } from '../src/bencode/codec.js';
import { ipFromString, ipToString } from '../src/store/peer.js';
import { announceQuery, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { exampleConfigFor, selfSignedCertificate, serverErrorLog, startNginx, type RunningNginx } from './helpers/nginx.js';
import { freePorts } from './helpers/net.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';
import { SITE_PASSWORD, rawurlencode, updatePath } from './helpers/update.js';

const example = readFileSync(new URL('../deploy/nginx/hayate.conf', import.meta.url), 'utf8');

interface Reply {
  status: number;
  body: Buffer;
}

/** The value under `key` in a bencoded dict. */
function field(dict: BValue, key: string): BValue | undefined {
  if (!isDict(dict)) throw new Error('not a dict');
  return dict.entries.find(([k]) => Buffer.from(k).toString('latin1') === key)?.[1];
}

/** `ip:port` of each peer in a compact (BEP 23) peers string. */
function compactPeers(body: Buffer): string[] {
  const peers = field(decodeBencode(body), 'peers');
  if (!(peers instanceof Uint8Array)) throw new Error(`no compact peers in ${body.toString('latin1')}`);
  const out: string[] = [];
  for (let i = 0; i + 6 <= peers.length; i += 6) {
    out.push(`${peers[i]}.${peers[i + 1]}.${peers[i + 2]}.${peers[i + 3]}:${(peers[i + 4]! << 8) | peers[i + 5]!}`);
  }
  return out.sort();
}

/** A GET through nginx on `port` from `from` (a loopback address the client socket binds to). */
function throughNginx(scheme: 'http' | 'https', port: number, path: string, from: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options = {
      host: '127.0.0.1',
      port,
      path,
      method: 'GET',
      localAddress: from,
      agent: false as const,
      headers: { Host: 'tracker.example' },
    };
    const done = (res: import('node:http').IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    };
    const req = scheme === 'http' ? httpRequest(options, done) : httpsRequest({ ...options, rejectUnauthorized: false }, done);
    req.on('error', reject);
    req.end();
  });
}

describe('behind nginx with the README example config (deploy/nginx/hayate.conf)', () => {
  let t: RunningTracker;
  let nginx: RunningNginx;
  let dir: string;
  let httpPort: number;
  let httpsPort: number;
  /** TCP connections the tracker accepted (all from nginx). */
  let upstreamConnections = 0;
  let requestsThroughNginx = 0;

  function via(scheme: 'http' | 'https', path: string, from: string): Promise<Reply> {
    requestsThroughNginx++;
    return throughNginx(scheme, scheme === 'http' ? httpPort : httpsPort, path, from);
  }
  const announce = (scheme: 'http' | 'https', passkey: string, params: AnnounceParams, from: string): Promise<Reply> =>
    via(scheme, `/${passkey}/announce${announceQuery(params)}`, from);

  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.http.proxy_header = 'X-Real-IP';
        c.enable_metrics = true;
        c.site_password = SITE_PASSWORD;
        c.intervals.flush = 3600; // records wait for flushNow()
      },
      tracker: { random: () => 0 },
    });
    t.tracker.http.server.on('connection', () => upstreamConnections++);
    dir = mkdtempSync(join(tmpdir(), 'hayate-nginx-'));
    [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    const config = exampleConfigFor(example, { upstream: t.port, http: httpPort, https: httpsPort, ...selfSignedCertificate(dir) });
    nginx = await startNginx(dir, config, httpsPort);
  });
  afterAll(async () => {
    await nginx?.stop();
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('generates the test config from the example, changing only addresses, ports and certificate paths', () => {
    const config = readFileSync(join(dir, 'nginx.conf'), 'utf8');
    for (const line of example.split('\n')) {
      if (/^\s*(server 127\.0\.0\.1:|listen |ssl_certificate|error_log )/.test(line)) continue;
      expect(config, line).toContain(line);
    }
    expect(config).toContain(`server 127.0.0.1:${t.port};`);
  });

  it('gives peers the addresses nginx passed in X-Real-IP, not nginx’s own 127.0.0.1', async () => {
    const live = infoHashBytes(torrents.live);
    const handedOver = t.tracker.metrics.requests.connectionsHandedOver;
    const first = await announce(
      'http',
      users.normal.passkey,
      { infoHash: live, peerId: peerIdOf('-TR3000-', 1), left: 1000, port: 50002 },
      '127.0.0.2',
    );
    expect(first.status).toBe(200);
    expect(first.body.toString('latin1')).not.toContain('failure');
    // Over TLS too: nginx terminates it and passes the client's address the same way.
    const second = await announce(
      'https',
      users.other.passkey,
      { infoHash: live, peerId: peerIdOf('-qB4650-', 2), left: 1000, port: 50003 },
      '127.0.0.3',
    );
    expect(second.status).toBe(200);
    expect(compactPeers(second.body)).toEqual(['127.0.0.2:50002']);
    const third = await announce(
      'http',
      users.normal.passkey,
      { infoHash: live, peerId: peerIdOf('-TR3000-', 1), left: 900, port: 50002 },
      '127.0.0.2',
    );
    expect(compactPeers(third.body)).toEqual(['127.0.0.3:50003']);
    // nginx's upstream requests (X-Real-IP, keep-alive) are read on the socket path, proxy header included.
    expect(t.tracker.metrics.requests.connectionsHandedOver).toBe(handedOver);

    const swarm = t.tracker.store.torrents.get(live.toString('latin1'))!;
    expect(swarm.leechers.peers.map((p) => `${ipToString(p.ip)}:${p.port}`).sort()).toEqual(['127.0.0.2:50002', '127.0.0.3:50003']);

    expect((await t.tracker.accounting.flushNow()).ok).toBe(true);
    const [rows] = await t.db.conn.query<RowDataPacket[]>('SELECT uid, ip FROM transfer_ips WHERE fid = ? ORDER BY uid', [
      torrents.live.id,
    ]);
    expect(rows.map((r) => [Number(r['uid']), Number(r['ip'])])).toEqual([
      [users.normal.id, ipFromString('127.0.0.2')],
      [users.other.id, ipFromString('127.0.0.3')],
    ]);
  });

  it('passes binary info_hash bytes through intact (NUL, %, &, +, =, ?, #, 0x80, UTF-8 lookalikes, 0xff)', async () => {
    const music = infoHashBytes(torrents.liveMusic);
    const seeded = await announce(
      'http',
      users.other.passkey,
      { infoHash: music, peerId: peerIdOf('-qB4650-', 7), left: 0, port: 50007 },
      '127.0.0.2',
    );
    expect(seeded.body.toString('latin1')).toMatch(/^d8:completei1e10:downloadedi3e/);
    const scraped = await via('https', `/${users.normal.passkey}/scrape?info_hash=${percentEncodeBytes(music)}`, '127.0.0.3');
    const files = field(decodeBencode(scraped.body), 'files');
    expect(isDict(files!) && files.entries.map(([k]) => Buffer.from(k).toString('hex'))).toEqual([music.toString('hex')]);
  });

  it('keeps /metrics for local scrapers only, as the example says', async () => {
    const local = await via('http', '/metrics', '127.0.0.1');
    expect(local.status).toBe(200);
    expect(local.body.toString()).toMatch(/^hayate_requests_total\{route="announce"\} [1-9]/m);
    expect((await via('http', '/metrics', '127.0.0.2')).status).toBe(403);
  });

  it('reuses one keep-alive connection to the tracker for every request', async () => {
    for (let i = 0; i < 5; i++) expect((await via(i % 2 ? 'https' : 'http', '/alive', `127.0.0.${2 + (i % 2)}`)).status).toBe(200);
    // One worker, requests one after another: each finds the idle upstream connection in the cache.
    expect(requestsThroughNginx).toBeGreaterThan(10);
    expect(upstreamConnections).toBe(1);
  });

  it("keeps the update API from the public: nginx refuses /<password>/update except from the site's address", async () => {
    const path = updatePath('info_torrent', `info_hash=${rawurlencode(infoHashBytes(torrents.liveMusic))}`);
    const stranger = await via('https', path, '127.0.0.2');
    expect(stranger.status).toBe(403);
    expect(stranger.body.toString()).toContain('nginx');
    expect((await via('http', path.replace('/update', '//update'), '127.0.0.3')).status).toBe(403);
    const site = await via('http', path, '127.0.0.1');
    expect(site.status).toBe(200);
    expect(JSON.parse(site.body.toString())).toMatchObject({ info_hash: torrents.liveMusic.infoHashHex, loaded: true });
    // nginx logs a refusal with its request line at level `error`: the example logs `crit` and
    // worse only, so the site's password reaches no log file.
    const certificate = join(dir, 'tracker.pem');
    for (const log of [serverErrorLog({ certificate }), nginx.errorLog]) {
      let text = '';
      try {
        text = readFileSync(log, 'utf8');
      } catch {
        // not written at all: nothing in it
      }
      expect(text, log).not.toContain(SITE_PASSWORD);
    }
  });
});

describe("behind nginx over a Unix socket (the example config's `server unix:` line, http.addr unix:/path)", () => {
  let t: RunningTracker;
  let nginx: RunningNginx;
  let dir: string;
  let httpPort: number;
  let upstreamConnections = 0;

  const via = (path: string, from: string): Promise<Reply> => throughNginx('http', httpPort, path, from);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hayate-nginx-unix-'));
    // nginx started as root runs its workers as nobody: they must reach the socket (as
    // nginx's user in hayate's group would in production, with the default 0660).
    chmodSync(dir, 0o755);
    // The example as it stands: no proxy_header, so X-Real-IP is believed because the socket is local.
    t = await startTracker({
      listen: { path: join(dir, 'hayate.sock') },
      configure: (c) => {
        if (process.getuid?.() === 0) c.http.socket_mode = '0666';
        c.site_password = SITE_PASSWORD;
        c.intervals.flush = 3600;
      },
      tracker: { random: () => 0 },
    });
    t.tracker.http.server.on('connection', () => upstreamConnections++);
    const [http, https] = (await freePorts(2)) as [number, number];
    httpPort = http;
    const config = exampleConfigFor(example, {
      upstream: { path: join(dir, 'hayate.sock') },
      http: httpPort,
      https,
      ...selfSignedCertificate(dir),
    });
    expect(config).toContain(`server unix:${join(dir, 'hayate.sock')};`);
    expect(config).not.toMatch(/^\s*server 127\.0\.0\.1:/m);
    nginx = await startNginx(dir, config, httpPort);
  });
  afterAll(async () => {
    await nginx?.stop();
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("gives peers the clients' addresses, on one pooled connection, and lets the site's update API through", async () => {
    const live = infoHashBytes(torrents.live);
    const first = await via(
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', 1), left: 1000, port: 50002 })}`,
      '127.0.0.2',
    );
    expect(first.body.toString('latin1')).not.toContain('failure');
    const second = await via(
      `/${users.other.passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-qB4650-', 2), left: 1000, port: 50003 })}`,
      '127.0.0.3',
    );
    expect(compactPeers(second.body)).toEqual(['127.0.0.2:50002']);
    const site = await via(updatePath('info_torrent', `info_hash=${rawurlencode(live)}`), '127.0.0.1');
    expect(site.status).toBe(200);
    expect(JSON.parse(site.body.toString())).toMatchObject({ info_hash: torrents.live.infoHashHex, loaded: true });
    expect((await via(updatePath('reload'), '127.0.0.2')).status).toBe(403);
    expect(upstreamConnections).toBe(1);
    expect(t.tracker.metrics.requests.connectionsHandedOver).toBe(0);
  });
});
