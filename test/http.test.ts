import { Agent, request as httpRequest } from 'node:http';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { announceQuery, failure, peerIdOf } from './helpers/announce.js';
import { applyConfigChange } from '../src/config/live.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';

const live = infoHashBytes(torrents.live);
const music = infoHashBytes(torrents.liveMusic);
const announcePath = (passkey: string, params: Parameters<typeof announceQuery>[0]) => `/${passkey}/announce${announceQuery(params)}`;

describe('HTTP surface over loopback, fixtures in MariaDB', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.enable_metrics = true;
        c.http.proxy_header = 'X-Real-IP';
      },
      tracker: { random: () => 0 },
    });
  });
  afterAll(() => t.close());

  it('answers an announce with a bencoded text/plain 200, byte for byte', async () => {
    const res = await t.get(announcePath(users.normal.passkey, { infoHash: live, left: 100, ip: '8.8.8.8' }));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.body.toString('latin1')).toBe(
      'd8:completei0e10:downloadedi12e10:incompletei1e8:intervali1800e12:min intervali900e5:peers0:e',
    );
  });

  it('answers the same through the fast path and through fastify (an escaped passkey, which the router decodes)', async () => {
    const params = { infoHash: infoHashBytes(torrents.sameGroupOtherType), left: 0, numwant: 0, peerId: peerIdOf('-TR3000-', 900) };
    const fast = await t.get(announcePath(users.normal.passkey, params));
    const escaped = `%${users.normal.passkey.charCodeAt(0).toString(16)}${users.normal.passkey.slice(1)}`;
    const routed = await t.get(announcePath(escaped, params));
    expect(routed.status).toBe(200);
    expect(routed.headers['content-type']).toMatch(/^text\/plain/);
    expect(routed.body.toString('latin1')).toBe(fast.body.toString('latin1'));
    expect(fast.body.toString('latin1')).toMatch(/^d8:completei1e/);
  });

  it('refuses unknown, disabled and banned passkeys', async () => {
    const refused = failure('Your passkey is invalid', 3600);
    for (const passkey of ['x'.repeat(32), users.disabled.passkey, users.banned.passkey, 'short']) {
      const res = await t.get(announcePath(passkey, { infoHash: live }));
      expect(res.status).toBe(200);
      expect(res.body.toString('latin1')).toBe(refused);
    }
    expect((await t.get(`/${users.disabled.passkey}/scrape?info_hash=${percentEncodeBytes(live)}`)).body.toString()).toBe(refused);
  });

  it('decodes binary info_hash bytes byte-wise (NUL, %, &, +, UTF-8 lookalikes)', async () => {
    const res = await t.get(announcePath(users.other.passkey, { infoHash: music, left: 0, peerId: peerIdOf('-qB4650-', 1) }));
    expect(res.body.toString('latin1')).toMatch(/^d8:completei1e10:downloadedi3e/);
  });

  it('serves /alive as JSON', async () => {
    const before = Date.now();
    const res = await t.get('/alive');
    expect(res.status).toBe(200);
    const alive = JSON.parse(res.body.toString()) as { now: number; uptime: number };
    expect(alive.now).toBeGreaterThanOrEqual(before);
    expect(alive.uptime).toBeGreaterThanOrEqual(0);
    expect(alive.uptime).toBeLessThan(alive.now);
  });

  it('serves Prometheus text on /metrics', async () => {
    const res = await t.get('/metrics');
    expect(res.status).toBe(200);
    const text = res.body.toString();
    expect(text).toMatch(/^hayate_requests_total\{route="announce"\} [1-9]/m);
    expect(text).toMatch(/^hayate_users 5$/m);
    expect(text).toMatch(/^hayate_torrents 7$/m);
    expect(text).toMatch(/^process_resident_memory_bytes /m);
  });

  it('answers 404 to anything else', async () => {
    for (const path of ['/', '/announce', `/${users.normal.passkey}/announce/x`, '/x/y/z', '/favicon.ico']) {
      expect((await t.get(path)).status, path).toBe(404);
    }
  });

  it('scrape: known torrents in ascending info_hash order, unknown ones left out', async () => {
    const unknown = Buffer.alloc(20, 0xee);
    const hashes = [live, unknown, infoHashBytes(torrents.multiplied), music];
    const res = await t.get(`/${users.normal.passkey}/scrape?${hashes.map((h) => `info_hash=${percentEncodeBytes(h)}`).join('&')}`);
    const body = res.body.toString('latin1');
    const sorted = [live, infoHashBytes(torrents.multiplied), music].sort((a, b) => Buffer.compare(a, b));
    const order = sorted.map((h) => body.indexOf(h.toString('latin1')));
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(body).not.toContain(unknown.toString('latin1'));
    expect(body.endsWith('e5:flagsd20:min_request_intervali900eee')).toBe(true);
    expect(body.startsWith('d5:filesd20:')).toBe(true);
  });

  it('scrape byte for byte, and leaves out what a DisableDownload user may not download', async () => {
    const both = `info_hash=${percentEncodeBytes(live)}&info_hash=${percentEncodeBytes(infoHashBytes(torrents.multiplied))}`;
    const res = await t.get(`/${users.noDownload.passkey}/scrape?${both}`);
    // The hit-and-run on torrents.live lifts DisableDownload there only.
    expect(res.body.toString('latin1')).toMatch(
      new RegExp(
        `^d5:filesd20:${escape(live.toString('latin1'))}d8:completei\\d+e10:downloadedi12e10:incompletei\\d+eee5:flagsd20:min_request_intervali900eee$`,
      ),
    );
    const none = await t.get(`/${users.normal.passkey}/scrape`);
    expect(none.body.toString()).toBe(failure('Unsupported request - must provide at least one info_hash', 0));
  });

  it('resolves the client address: public ip parameter, then the proxy header, then the socket', async () => {
    // Seeders of four different users (a leecher gets one seeder per user).
    const seeder = (n: number) => peerIdOf('-TR3000-', 500 + n);
    const mult = infoHashBytes(torrents.multiplied);
    await t.get(announcePath(users.other.passkey, { infoHash: mult, left: 0, peerId: seeder(1), ip: '93.184.216.34', port: 7001 }), {
      'X-Real-IP': '1.1.1.1',
    });
    await t.get(announcePath(users.multiplied.passkey, { infoHash: mult, left: 0, peerId: seeder(2), ip: '192.168.1.5', port: 7002 }), {
      'X-Real-IP': '1.0.0.1',
    });
    await t.get(announcePath(users.hidden.passkey, { infoHash: mult, left: 0, peerId: seeder(3), port: 7003 }), {
      'X-Real-IP': 'not-an-ip',
    });
    await t.get(announcePath(users.noDownload.passkey, { infoHash: mult, left: 0, peerId: seeder(4), port: 7004 }), {
      'X-Real-IP': '::ffff:5.6.7.8',
    });
    const res = await t.get(announcePath(users.normal.passkey, { infoHash: mult, left: 10, numwant: 50, compact: '0' }));
    const body = res.body.toString('latin1');
    expect(body).toContain('2:ip13:93.184.216.34');
    expect(body).toContain('2:ip7:1.0.0.1');
    expect(body).toContain('2:ip9:127.0.0.1');
    expect(body).toContain('2:ip7:5.6.7.8');
    expect(body).not.toContain('1.1.1.1');
    expect(body).not.toContain('192.168.1.5');
  });

  it('lets a DisableDownload user leech only where a hit-and-run lifts it', async () => {
    const ok = await t.get(announcePath(users.noDownload.passkey, { infoHash: live, left: 10, peerId: peerIdOf('-DE2110-', 1) }));
    expect(ok.body.toString()).toMatch(/^d8:complete/);
    const refused = await t.get(
      announcePath(users.noDownload.passkey, { infoHash: infoHashBytes(torrents.multiplied), left: 10, peerId: peerIdOf('-DE2110-', 1) }),
    );
    expect(refused.body.toString()).toBe(failure('Your download privileges are disabled', 3600));
  });

  it('revives a pruned torrent announced by a seeder, in the database too', async () => {
    const pruned = infoHashBytes(torrents.pruned);
    const leech = await t.get(announcePath(users.normal.passkey, { infoHash: pruned, left: 10 }));
    expect(leech.body.toString()).toBe(failure('This torrent does not exist (status: 1, left: 10)', 900));
    const seed = await t.get(announcePath(users.other.passkey, { infoHash: pruned, left: 0, peerId: peerIdOf('-lt0D80-', 1) }));
    expect(seed.body.toString()).toMatch(/^d8:completei1e/);
    await eventually(
      async () => {
        const [rows] = await t.db.conn.query<RowDataPacket[]>('SELECT Status FROM torrents WHERE ID = ?', [torrents.pruned.id]);
        return rows[0]!['Status'] === 0 ? true : undefined;
      },
      10_000,
      'Status = 0 in the database',
    );
    const leechNow = await t.get(announcePath(users.normal.passkey, { infoHash: pruned, left: 10 }));
    expect(leechNow.body.toString()).toMatch(/^d8:completei1e/);
  });

  it('a removed torrent stays refused', async () => {
    const res = await t.get(announcePath(users.normal.passkey, { infoHash: infoHashBytes(torrents.removed), left: 0 }));
    expect(res.body.toString()).toBe(failure('This torrent does not exist (status: 2, left: 0)', 900));
  });
});

describe('reload from the database', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker();
  });
  afterAll(() => t.close());

  it('serves a new torrent, refuses a disabled user, keeps swarms, and keeps old data when a reload fails', async () => {
    const fresh = Buffer.alloc(20, 0x42);
    expect((await t.get(announcePath(users.normal.passkey, { infoHash: fresh }))).body.toString()).toBe(
      failure('This torrent does not exist', 300),
    );
    // A peer in the live swarm before the reload.
    await t.get(announcePath(users.other.passkey, { infoHash: live, left: 0, peerId: peerIdOf('-TR3000-', 42), ip: '8.8.8.8' }));
    await t.db.conn.query("INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (100, 100, 'music', ?)", [fresh]);
    await t.db.conn.query("UPDATE users_main SET Enabled = '0' WHERE ID = ?", [users.multiplied.id]);
    expect(await t.tracker.reloader.reload()).toBe(true);

    expect((await t.get(announcePath(users.normal.passkey, { infoHash: fresh }))).body.toString()).toMatch(/^d8:complete/);
    expect((await t.get(announcePath(users.multiplied.passkey, { infoHash: live }))).body.toString()).toBe(
      failure('Your passkey is invalid', 3600),
    );
    const swarm = await t.get(announcePath(users.normal.passkey, { infoHash: live, left: 10, numwant: 50 }));
    expect(swarm.body.includes(Buffer.from([8, 8, 8, 8]))).toBe(true);

    // A torrent removed from the database stops being served.
    await t.db.conn.query('DELETE FROM torrents WHERE ID = 100');
    await t.tracker.reloader.reload();
    expect((await t.get(announcePath(users.normal.passkey, { infoHash: fresh }))).body.toString()).toContain('This torrent does not exist');

    // A failing reload keeps what was loaded, and is counted.
    await t.db.conn.query('RENAME TABLE users_main TO users_main_away');
    try {
      expect(await t.tracker.reloader.reload()).toBe(false);
      expect((await t.get(announcePath(users.normal.passkey, { infoHash: live, left: 0 }))).body.toString()).toMatch(/^d8:complete/);
      const metrics = await t.tracker.metrics.registry.getSingleMetricAsString('hayate_reload_failures_total');
      expect(metrics).toMatch(/hayate_reload_failures_total\{source="users"\} [1-9]/);
    } finally {
      await t.db.conn.query('RENAME TABLE users_main_away TO users_main');
    }
  });

  it('reads FLOAT multipliers as MariaDB writes them in text (6 significant digits), not as the widened float32', async () => {
    const odd = [1.1, 16777217, 0.3, 99999.99];
    await t.db.conn.query('UPDATE users_main SET UpMultiplier = ?, DownMultiplier = ? WHERE ID = ?', [odd[0], odd[1], users.normal.id]);
    await t.db.conn.query('UPDATE torrents SET UpMultiplier = ?, DownMultiplier = ? WHERE ID = ?', [odd[2], odd[3], torrents.live.id]);
    try {
      expect(await t.tracker.reloader.reload()).toBe(true);
      const [[user]] = await t.db.conn.query<RowDataPacket[]>('SELECT UpMultiplier, DownMultiplier FROM users_main WHERE ID = ?', [
        users.normal.id,
      ]);
      const [[torrent]] = await t.db.conn.query<RowDataPacket[]>('SELECT UpMultiplier, DownMultiplier FROM torrents WHERE ID = ?', [
        torrents.live.id,
      ]);
      const loadedUser = t.tracker.store.users.get(users.normal.passkey)!;
      const loadedTorrent = t.tracker.store.torrents.get(live.toString('latin1'))!;
      // What the text protocol gives: 1.1, 16777200, 0.3, 100000 (the binary protocol: 1.100000023841858, 16777216, …).
      expect([loadedUser.upMultiplier, loadedUser.downMultiplier, loadedTorrent.upMultiplier, loadedTorrent.downMultiplier]).toEqual([
        user!['UpMultiplier'],
        user!['DownMultiplier'],
        torrent!['UpMultiplier'],
        torrent!['DownMultiplier'],
      ]);
      expect(loadedUser.upMultiplier).toBe(1.1);
      expect(loadedUser.downMultiplier).toBe(16777200);
    } finally {
      await t.db.conn.query('UPDATE users_main SET UpMultiplier = 1, DownMultiplier = 1 WHERE ID = ?', [users.normal.id]);
      await t.db.conn.query('UPDATE torrents SET UpMultiplier = 1, DownMultiplier = 1 WHERE ID = ?', [torrents.live.id]);
      await t.tracker.reloader.reload();
    }
  });

  it('a changed passkey: the old one is refused and the new one served after a reload', async () => {
    const fresh = 'n'.repeat(32);
    await t.db.conn.query('UPDATE users_main SET torrent_pass = ? WHERE ID = ?', [fresh, users.hidden.id]);
    expect(await t.tracker.reloader.reload()).toBe(true);
    expect((await t.get(announcePath(users.hidden.passkey, { infoHash: live }))).body.toString()).toBe(
      failure('Your passkey is invalid', 3600),
    );
    expect((await t.get(announcePath(fresh, { infoHash: live, left: 0 }))).body.toString()).toMatch(/^d8:complete/);
    expect([...t.tracker.store.users.values()].filter((u) => u.id === users.hidden.id)).toHaveLength(1);
  });

  it('answers announces promptly while a big reload runs', async () => {
    // 60,000 extra torrents: the reload runs in pages and yields, so announces interleave.
    const values: string[] = [];
    for (let i = 0; i < 60_000; i++) values.push(`(${1000 + i}, ${i}, 'anime', UNHEX('${(1000 + i).toString(16).padStart(40, '0')}'))`);
    for (let i = 0; i < values.length; i += 10_000) {
      await t.db.conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES ${values.slice(i, i + 10_000).join(',')}`);
    }
    let reloading = true;
    const reload = t.tracker.reloader.reload().finally(() => (reloading = false));
    let answeredDuring = 0;
    while (reloading) {
      const res = await t.get(announcePath(users.normal.passkey, { infoHash: live, left: 0 }));
      expect(res.body.toString()).toMatch(/^d8:complete/);
      if (reloading) answeredDuring++;
    }
    expect(await reload).toBe(true);
    expect(answeredDuring).toBeGreaterThan(0);
    expect(t.tracker.store.torrents.size).toBe(7 + 60_000);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('enable_scrape: false', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker({ configure: (c) => (c.enable_scrape = false) });
  });
  afterAll(() => t.close());

  it('answers scrapes with a 404 and announces as usual', async () => {
    const scraped = await t.get(`/${users.normal.passkey}/scrape?info_hash=${percentEncodeBytes(live)}`);
    expect(scraped.status).toBe(404);
    const announced = await t.get(announcePath(users.normal.passkey, { infoHash: live, left: 0 }));
    expect(announced.status).toBe(200);
    expect(announced.body.toString()).toMatch(/^d8:complete/);
  });
});

describe('enable_scrape changed by SIGHUP', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker();
  });
  afterAll(() => t.close());

  it('takes effect at once, on a connection already open too', async () => {
    // One keep-alive connection for every request: the socket path reads it throughout.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    const scrape = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const path = `/${users.normal.passkey}/scrape?info_hash=${percentEncodeBytes(live)}`;
        const req = httpRequest({ host: '127.0.0.1', port: t.port, path, agent }, (res) => {
          ports.add(res.socket.localPort ?? 0);
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    // SIGHUP's path in cmd/hayate.ts: the re-read file applied to the running configuration.
    const set = (on: boolean) => {
      const next = structuredClone(t.tracker.config);
      next.enable_scrape = on;
      expect(applyConfigChange(t.tracker.config, next).applied).toEqual(['enable_scrape']);
    };
    try {
      expect(await scrape()).toBe(200);
      set(false);
      expect(await scrape()).toBe(404);
      set(true);
      expect(await scrape()).toBe(200);
      expect(ports.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });
});
