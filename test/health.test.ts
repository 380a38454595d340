import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import { announceQuery, failure, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { eventually, get as getUrl, startTracker, type RunningTracker } from './helpers/tracker.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker, type TrackerOptions } from '../src/app.js';
import { defaultConfig } from '../src/config/config.js';
import { createLogger, silentLogger } from '../src/log.js';
import { openDbRelay, openFreezableRelay } from './helpers/db-relay.js';
import { parseExposition, value } from './helpers/prometheus.js';

interface Health {
  status: string;
  loaded_from: string | null;
  database: { reachable: boolean | null; last_reload_age: number | null; last_error: string | null };
  queued: number;
  uptime: number;
}

describe('before the first load, and /health', () => {
  let db: TestDatabase;
  let running: RunningTracker | undefined;
  let proxy: { close(): Promise<void> } | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    await loadFixtures(db.conn);
  });
  afterAll(async () => {
    await running?.close();
    await proxy?.close();
    await db.drop();
  });

  it('a database that is not there yet: "try again" answers, /health 503, then 200 once it answers', async () => {
    const port = await freePort();
    const root = new URL(inject('dbRootUrl'));
    const dsn = `mysql://${root.username}:${root.password}@127.0.0.1:${port}/${db.name}`;
    // Without the crash journal: the tracker listens before the database answers (with it, see below).
    running = await startTracker({
      db,
      configure: (c) => {
        c.database.dsn = dsn;
        c.journal.enabled = false;
      },
    });

    const query = announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', 1), left: 10, ip: '8.8.8.8' });
    const announce = await running.get(`/${users.normal.passkey}/announce${query}`);
    // Never "Your passkey is invalid" to a valid user: a retryable failure with a short interval.
    expect(announce.status).toBe(200);
    expect(announce.body.toString('latin1')).toBe(failure('Tracker is starting up, please try again shortly', 30));
    const scrape = await running.get(`/${users.normal.passkey}/scrape?info_hash=${'%00'.repeat(20)}`);
    expect(scrape.body.toString('latin1')).toBe(failure('Tracker is starting up, please try again shortly', 30));

    const before = await running.get('/health');
    expect(before.status).toBe(503);
    expect(before.headers['content-type']).toMatch(/^application\/json/);
    const h0 = JSON.parse(before.body.toString()) as Health;
    expect(h0).toMatchObject({
      status: 'loading',
      loaded_from: null,
      database: { reachable: false, last_reload_age: null, last_error: 'ECONNREFUSED' },
    });
    // chihaya's /alive stays as it is: the process is alive.
    expect((await running.get('/alive')).status).toBe(200);
    // The same as metrics (Prometheus alerts without a JSON exporter): not reachable, no success yet.
    const metric = async (name: string) => value(parseExposition(await running!.tracker.metrics.registry.metrics()), name);
    expect(await metric('hayate_database_reachable')).toBe(0);
    expect(await metric('hayate_last_reload_success_timestamp_seconds')).toBe(0);

    // The database comes back (on the same address): the tracker retries within seconds.
    proxy = await openDbRelay(port, root);
    const h1 = await eventually(
      async () => {
        const res = await running!.get('/health');
        return res.status === 200 ? (JSON.parse(res.body.toString()) as Health) : undefined;
      },
      20_000,
      '/health 200',
    );
    expect(h1).toMatchObject({ status: 'ok', loaded_from: 'database', database: { reachable: true, last_error: null } });
    expect(h1.database.last_reload_age).toBeGreaterThanOrEqual(0);
    expect(await metric('hayate_database_reachable')).toBe(1);
    const lastSuccess = await metric('hayate_last_reload_success_timestamp_seconds');
    expect(Math.abs(lastSuccess - (Date.now() / 1000 - h1.database.last_reload_age!))).toBeLessThan(2);
    const after = await running.get(`/${users.normal.passkey}/announce${query}`);
    expect(after.body.toString('latin1')).toMatch(/^d8:completei/);
    // An unknown passkey is now what it says.
    const unknown = await running.get(`/${'x'.repeat(32)}/announce${query}`);
    expect(unknown.body.toString('latin1')).toBe(failure('Your passkey is invalid', 3600));

    // The database goes away again: still serving (200), the report says the database is not reachable.
    await proxy.close();
    proxy = undefined;
    await running.tracker.reloadNow();
    const h2 = JSON.parse((await running.get('/health')).body.toString()) as Health;
    expect(h2).toMatchObject({ status: 'ok', loaded_from: 'database', database: { reachable: false, last_error: 'ECONNREFUSED' } });
    expect((await running.get('/health')).status).toBe(200);
    expect(await metric('hayate_database_reachable')).toBe(0);
    expect(await metric('hayate_last_reload_success_timestamp_seconds')).toBe(lastSuccess);

    // Stopping: 503, so a load balancer drains this tracker.
    const stopped = running.tracker.stop(5_000);
    expect(running.tracker.health().status).toBe(503);
    expect(running.tracker.health().body.status).toBe('stopping');
    await stopped;
  });

  it('a database that stops answering mid-reload (frozen, not refusing): the pass fails after its page limit, /health and the gauge say unreachable, announces are served', async () => {
    const port = await freePort();
    const root = new URL(inject('dbRootUrl'));
    const frozen = await openFreezableRelay(port, root);
    let open: RunningTracker | undefined;
    try {
      const tracker = (open = await startTracker({
        db,
        configure: (c) => {
          c.database.dsn = `mysql://${root.username}:${root.password}@127.0.0.1:${port}/${db.name}`;
          c.journal.enabled = false;
        },
        tracker: { reload: { pageTimeoutMs: 2_000 } },
      }));
      const metric = async (name: string) => value(parseExposition(await tracker.tracker.metrics.registry.metrics()), name);
      expect(JSON.parse((await tracker.get('/health')).body.toString())).toMatchObject({ status: 'ok', database: { reachable: true } });

      const failures = async () => {
        const exposition = parseExposition(await tracker.tracker.metrics.registry.metrics());
        return exposition.samples.filter((s) => s.name === 'hayate_reload_failures_total').reduce((sum, s) => sum + s.value, 0);
      };
      const failuresBefore = await failures();
      frozen.freeze();
      // Other callers (update API reads, the purge) hold every pooled connection, waiting on the
      // frozen server: the reload's wait for a connection counts against its limit too.
      const held = Array.from({ length: 8 }, () => tracker.tracker.pool.query('SELECT 1').catch(() => undefined));
      // Without a limit this pass would wait for ever, and /health say "reachable" all along.
      expect(await tracker.tracker.reloadNow()).toBe(false);
      // The first source that got no answer ended the pass: the others would only have waited too.
      expect((await failures()) - failuresBefore).toBe(1);
      const h = JSON.parse((await tracker.get('/health')).body.toString()) as Health;
      expect(h).toMatchObject({ status: 'ok', database: { reachable: false, last_error: 'PROTOCOL_SEQUENCE_TIMEOUT' } });
      expect(await metric('hayate_database_reachable')).toBe(0);
      // The next pass, while it runs, still reports the last one's error (not a bare "error").
      const next = tracker.tracker.reloadNow();
      expect(JSON.parse((await tracker.get('/health')).body.toString())).toMatchObject({
        database: { reachable: false, last_error: 'PROTOCOL_SEQUENCE_TIMEOUT' },
      });
      expect(await next).toBe(false);
      const query = announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', 7), left: 10, ip: '8.8.8.8' });
      expect((await tracker.get(`/${users.normal.passkey}/announce${query}`)).body.toString('latin1')).toMatch(/^d8:completei/);

      frozen.thaw();
      await Promise.all(held);
      expect(await tracker.tracker.reloadNow()).toBe(true);
      expect(JSON.parse((await tracker.get('/health')).body.toString())).toMatchObject({ database: { reachable: true, last_error: null } });
      expect(await metric('hayate_database_reachable')).toBe(1);
      open = undefined;
      await tracker.close();
    } finally {
      await frozen.close(); // first: a stop on a frozen database would wait for it
      await open?.close();
    }
  });

  it('a stop while the database is frozen ends at its deadline, saying what was not written; the journal writes it on the next start', async () => {
    const port = await freePort();
    const root = new URL(inject('dbRootUrl'));
    const frozen = await openFreezableRelay(port, root);
    const dir = mkdtempSync(join(tmpdir(), 'hayate-frozen-stop-'));
    const dsn = `mysql://${root.username}:${root.password}@127.0.0.1:${port}/${db.name}`;
    try {
      const first = await startTracker({ db, dir, configure: (c) => void (c.database.dsn = dsn) });
      const peerId = peerIdOf('-TR3000-', 9);
      const announce = (uploaded: number) =>
        first.get(
          `/${users.normal.passkey}/announce${announceQuery({ infoHash: infoHashBytes(torrents.live), peerId, left: 10, uploaded, ip: '8.8.8.8' })}`,
        );
      const rawUp = async () => {
        const [rows] = await db.conn.query<RowDataPacket[]>('SELECT rawup FROM users_main WHERE ID = ?', [users.normal.id]);
        return Number(rows[0]!['rawup']);
      };
      await announce(0);
      await announce(1_000);
      expect((await first.tracker.accounting.flushNow()).ok).toBe(true); // pooled connections open
      const start = await rawUp();
      await announce(5_000);
      frozen.freeze();
      const report = await first.tracker.stop(2_000);
      expect(report.flush.complete).toBe(false);
      expect(report.flush.remaining.users.uploaded).toBe(4_000);
      frozen.thaw();
      // The next start replays the journal: the 4,000 bytes credited once.
      const second = await startTracker({ db, dir, configure: (c) => void (c.database.dsn = dsn) });
      expect((await second.tracker.accounting.flushNow()).ok).toBe(true);
      expect(await rawUp()).toBe(start + 4_000);
      await second.tracker.stop(10_000);
    } finally {
      await frozen.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cache files count as a first load: valid users are served while the database is down', async () => {
    // A first tracker writes its cache files at stop.
    const first = await startTracker({ db });
    const dir = first.dir;
    await first.tracker.stop(5_000);
    const port = await freePort();
    const root = new URL(inject('dbRootUrl'));
    const second = await startTracker({
      db,
      dir,
      configure: (c) => {
        c.database.dsn = `mysql://${root.username}:${root.password}@127.0.0.1:${port}/${db.name}`;
        c.journal.enabled = false;
      },
    });
    try {
      // The cache files know users and torrents, not the approved clients: "try again", not "not approved".
      const query = announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', 2), left: 10, ip: '8.8.8.8' });
      expect((await second.get(`/${users.normal.passkey}/announce${query}`)).body.toString('latin1')).toBe(
        failure('Tracker is starting up, please try again shortly', 30),
      );
      // A passkey the cache does not know is invalid: the cache holds every enabled user.
      expect((await second.get(`/${'x'.repeat(32)}/announce${query}`)).body.toString('latin1')).toBe(
        failure('Your passkey is invalid', 3600),
      );
      const health = await second.get('/health');
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body.toString())).toMatchObject({ status: 'ok', loaded_from: 'cache', database: { reachable: false } });
    } finally {
      await second.close();
    }
  });

  /** An announce of peer `n` of the normal user on the live torrent. */
  const liveAnnounce = (n: number, uploaded = 0) =>
    `/${users.normal.passkey}/announce${announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', n), left: 10, uploaded, ip: '8.8.8.8' })}`;

  /** The folder a first tracker (journal on) leaves after `announces` and a clean stop: cache files, checkpoint, journal. */
  async function leftByAFirstTracker(announces: string[]): Promise<string> {
    const first = await startTracker({ db, configure: (c) => (c.journal.enabled = true) });
    for (const path of announces) expect((await first.get(path)).body.toString('latin1')).toMatch(/^d8:completei/);
    await first.tracker.stop(5_000);
    return first.dir;
  }

  /**
   * A tracker (journal on) started in `dir` on a database address nothing answers yet: its start
   * waits. `databaseBack` opens a relay to the real database there.
   */
  async function startWithoutDatabase(dir: string, options: { sitePassword?: string; reload?: TrackerOptions['reload'] } = {}) {
    const port = await freePort();
    const root = new URL(inject('dbRootUrl'));
    const lines: string[] = [];
    const config = defaultConfig();
    config.database.dsn = `mysql://${root.username}:${root.password}@127.0.0.1:${port}/${db.name}`;
    config.journal.enabled = true;
    if (options.sitePassword !== undefined) config.site_password = options.sitePassword;
    const tracker = new Tracker({
      config,
      dir,
      logger: createLogger({ level: 'info' }, { write: (l) => void lines.push(l) }),
      ...(options.reload === undefined ? {} : { reload: options.reload }),
    });
    const starting = tracker.start({ host: '127.0.0.1', port: 0 });
    starting.catch(() => undefined); // a stop while it waits ends the start: awaited by each test
    const listeningEarly = () =>
      eventually(() => (lines.some((l) => l.includes('listening while waiting')) ? true : undefined), 20_000, 'listening early');
    return { tracker, lines, starting, listeningEarly, databaseBack: () => openDbRelay(port, root) };
  }

  const cacheFiles = ['torrent-cache.bin', 'user-cache.bin', 'journal-checkpoint.json'];
  const readCacheFiles = (dir: string) => cacheFiles.map((f) => readFileSync(join(dir, f)));

  it('with the crash journal: a stop while the start waits for the database leaves the cache files and their checkpoint as they were', async () => {
    // A first tracker's journal holds accounted bytes, all flushed at its stop.
    const dir = await leftByAFirstTracker([liveAnnounce(5, 0), liveAnnounce(5, 1_000_000)]);
    const before = readCacheFiles(dir);
    const { tracker, starting, listeningEarly } = await startWithoutDatabase(dir);
    try {
      await listeningEarly();
      const report = await tracker.stop(5_000);
      // Nothing was accounted, so nothing to flush: the accounting thread is not started now
      // (without the stored positions it would read the whole journal again).
      expect(report.flush.complete).toBe(true);
      expect(report.cacheWritten).toBe(true);
      await expect(starting).rejects.toThrow('stopped during start-up');
      expect(readCacheFiles(dir)).toEqual(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with the crash journal: a stop while the start loads, once the database is back, ends the start there (no replay, nothing written)', async () => {
    const dir = await leftByAFirstTracker([]);
    const before = readCacheFiles(dir);
    const segments = readdirSync(join(dir, 'journal')).sort();
    // The reload after the database comes back is held on its first page until released.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reachedPage: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (reachedPage = resolve));
    const { tracker, lines, starting, listeningEarly, databaseBack } = await startWithoutDatabase(dir, {
      reload: {
        pageHook: async () => {
          reachedPage();
          await held;
        },
      },
    });
    await listeningEarly();
    const back = await databaseBack();
    try {
      await reached;
      const stopped = tracker.stop(5_000);
      release();
      const report = await stopped;
      expect(report.flush.complete).toBe(true);
      await expect(starting).rejects.toThrow('stopped during start-up');
      expect(lines.some((l) => l.includes('journal replayed'))).toBe(false);
      expect(lines.some((l) => l.includes('"listening"'))).toBe(false);
      expect(readdirSync(join(dir, 'journal')).sort()).toEqual(segments);
      expect(readCacheFiles(dir)).toEqual(before);
    } finally {
      release();
      await back.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stop while the listener is being opened closes it once it is open: no socket left listening, no socket file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hayate-stop-listen-'));
    const path = join(dir, 'hayate.sock');
    const config = defaultConfig();
    config.database.dsn = db.dsn;
    const tracker = new Tracker({ config, dir, logger: silentLogger() });
    // The stop lands while fastify's listen() is under way (the window no timing of signals hits reliably).
    const http = tracker.http as unknown as { listen: (options: object) => Promise<string> };
    const listen = http.listen.bind(tracker.http);
    let stopped: Promise<unknown> = Promise.resolve();
    http.listen = (options) => {
      const listening = listen(options);
      stopped = tracker.stop(5_000);
      return listening;
    };
    try {
      await expect(tracker.start({ path })).rejects.toThrow('stopped during start-up');
      await stopped;
      expect(tracker.http.server.listening).toBe(false);
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unusable cache file after a clean stop: the journal says nothing was lost (not that records are missing), and nothing is credited twice', async () => {
    // A first tracker whose journal starts a new segment every few records, so its clean stop
    // prunes the early ones (the checkpoint and every flush are past them).
    const first = await startTracker({
      db,
      configure: (c) => {
        c.journal.enabled = true;
        c.journal.segment_bytes = 256;
      },
    });
    for (let n = 0; n < 6; n++) expect((await first.get(liveAnnounce(7, n * 1_000_000))).body.toString('latin1')).toMatch(/^d8:completei/);
    await first.tracker.stop(5_000);
    const dir = first.dir;
    expect(readdirSync(join(dir, 'journal')).sort()[0]).not.toMatch(/^0*1\D/);
    const rawup = async () =>
      Number((await db.conn.query<RowDataPacket[]>('SELECT rawup FROM users_main WHERE ID = ?', [users.normal.id]))[0][0]!['rawup']);
    const before = await rawup();
    // A torn cache file (a disk that filled during a copy): unusable, so the start has no checkpoint.
    const cache = join(dir, 'torrent-cache.bin');
    writeFileSync(cache, readFileSync(cache).subarray(0, 10));
    const lines: string[] = [];
    const config = defaultConfig();
    config.database.dsn = db.dsn;
    const tracker = new Tracker({ config, dir, logger: createLogger({ level: 'info' }, { write: (l) => void lines.push(l) }) });
    try {
      await tracker.start({ host: '127.0.0.1', port: 0 });
      const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(msgs.some((m) => m.startsWith('cache file unusable'))).toBe(true);
      expect(msgs.some((m) => m.startsWith('journal: records before the first segment were pruned'))).toBe(true);
      expect(msgs.some((m) => m.startsWith('journal: records the replay needs are missing'))).toBe(false);
      expect((await tracker.stop(5_000)).flush.complete).toBe(true);
      expect(await rawup()).toBe(before);
    } finally {
      await tracker.stop(5_000);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('while the start waits for the database, an announce from an approved client of a loaded user is not served either', async () => {
    // The wait after a first load that reached the database (clients approved) and a positions
    // read that did not: set directly, as no timing of a real outage makes it reliably.
    const t = await startTracker({ db, configure: (c) => (c.journal.enabled = true) });
    try {
      expect((await t.get(liveAnnounce(6))).body.toString('latin1')).toMatch(/^d8:completei/);
      const torrent = t.tracker.store.torrents.get(infoHashBytes(torrents.live).toString('latin1'))!;
      const peers = torrent.seeders.size + torrent.leechers.size;
      const appended = t.tracker.journal!.appended();
      const waiting = t.tracker as unknown as { waitingForDatabase: boolean };
      waiting.waitingForDatabase = true;
      expect((await t.get(liveAnnounce(7))).body.toString('latin1')).toBe(failure('Tracker is starting up, please try again shortly', 30));
      expect(torrent.seeders.size + torrent.leechers.size).toBe(peers);
      expect(t.tracker.journal!.appended()).toBe(appended);
      waiting.waitingForDatabase = false;
      expect((await t.get(liveAnnounce(7))).body.toString('latin1')).toMatch(/^d8:completei/);
      expect(torrent.seeders.size + torrent.leechers.size).toBe(peers + 1);
    } finally {
      await t.close();
    }
  });

  it('with the crash journal: until the database says what was flushed, it listens and serves nothing, retrying', async () => {
    // A first tracker (journal on) leaves cache files that know the users, torrents and a peer.
    const dir = await leftByAFirstTracker([liveAnnounce(3)]);
    const { tracker, lines, starting, databaseBack } = await startWithoutDatabase(dir, { sitePassword: 'p'.repeat(32) });
    let started = false;
    starting.then(
      () => (started = true),
      () => undefined,
    );
    try {
      // Retrying (a transient outage never stops the start), listening meanwhile.
      await eventually(
        () => (lines.filter((l) => l.includes('cannot read the flushed positions')).length >= 2 ? true : undefined),
        20_000,
        'two retries',
      );
      expect(started).toBe(false);
      expect(lines.some((l) => l.includes('"listening"'))).toBe(false);
      const early = lines
        .map((l) => JSON.parse(l) as { msg: string; address?: string })
        .find((l) => l.msg.startsWith('listening while waiting'));
      expect(early?.address).toBeDefined();
      const earlyPort = Number(new URL(early!.address!).port);

      // Nothing is served or changed: the cache files know this user and torrent, but the
      // peers' counters are not right until the replay.
      const swarm = () => {
        const torrent = tracker.store.torrents.get(infoHashBytes(torrents.live).toString('latin1'))!;
        return torrent.seeders.size + torrent.leechers.size;
      };
      const peersBefore = swarm();
      expect(peersBefore).toBe(1);
      const notReady = failure('Tracker is starting up, please try again shortly', 30);
      expect((await getUrl(earlyPort, liveAnnounce(4))).body.toString('latin1')).toBe(notReady);
      expect((await getUrl(earlyPort, liveAnnounce(3))).body.toString('latin1')).toBe(notReady);
      expect((await getUrl(earlyPort, `/${users.normal.passkey}/scrape?info_hash=${'%00'.repeat(20)}`)).body.toString('latin1')).toBe(
        notReady,
      );
      expect(swarm()).toBe(peersBefore);
      expect(tracker.journal?.appended()).toBe(0);
      const pushed = await getUrl(earlyPort, `/${'p'.repeat(32)}/update?action=remove_user&passkey=${users.normal.passkey}`);
      expect(pushed.status).toBe(503);
      expect(pushed.body.toString()).toBe('tracker starting: waiting for the database; try again\n');
      expect(tracker.store.users.has(users.normal.passkey)).toBe(true);
      const health = await getUrl(earlyPort, '/health');
      expect(health.status).toBe(503);
      expect(JSON.parse(health.body.toString())).toMatchObject({
        status: 'starting',
        database: { reachable: false, last_error: 'ECONNREFUSED' },
      });

      const back = await databaseBack();
      try {
        const address = await starting;
        expect(Number(new URL(address).port)).toBe(earlyPort);
        expect(lines.some((l) => l.includes('"listening"'))).toBe(true);
        const res = await getUrl(earlyPort, liveAnnounce(4));
        expect(res.body.toString('latin1')).toMatch(/^d8:completei/);
        expect(swarm()).toBe(peersBefore + 1);
        expect(tracker.health().status).toBe(200);
      } finally {
        await tracker.stop(5_000);
        await back.close();
      }
    } finally {
      if (!started) await tracker.stop(1_000).catch(() => undefined);
      await starting.catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
