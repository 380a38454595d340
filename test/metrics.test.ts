import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { queueNames } from '../src/flush/index.js';
import { reloadSources } from '../src/database/reload.js';
import { announceQuery, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { labelValues, parseExposition, value, type Exposition } from './helpers/prometheus.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';

/** SPEC §11, item by item: the family hayate exposes for it, its type and its labels. */
const specMetrics: Array<{ item: string; name: string; type: string; labels: string[] }> = [
  { item: 'uptime', name: 'hayate_uptime_seconds', type: 'gauge', labels: [] },
  { item: 'users', name: 'hayate_users', type: 'gauge', labels: [] },
  { item: 'torrents', name: 'hayate_torrents', type: 'gauge', labels: [] },
  { item: 'clients', name: 'hayate_approved_clients', type: 'gauge', labels: [] },
  { item: 'hit-and-runs', name: 'hayate_hit_and_runs', type: 'gauge', labels: [] },
  { item: 'peers', name: 'hayate_peers', type: 'gauge', labels: ['kind'] },
  { item: 'requests', name: 'hayate_requests_total', type: 'counter', labels: ['route'] },
  { item: 'failed requests', name: 'hayate_failed_requests_total', type: 'counter', labels: [] },
  { item: 'throughput', name: 'hayate_throughput_requests_per_minute', type: 'gauge', labels: [] },
  { item: 'deadlocks', name: 'hayate_deadlocks_total', type: 'counter', labels: ['queue'] },
  { item: 'deadlock-aborted', name: 'hayate_deadlock_aborted_total', type: 'counter', labels: ['queue'] },
  { item: 'deadlock seconds', name: 'hayate_deadlock_seconds_total', type: 'counter', labels: ['queue'] },
  { item: 'SQL errors', name: 'hayate_sql_errors_total', type: 'counter', labels: ['queue'] },
  { item: 'serialization seconds', name: 'hayate_serialization_seconds', type: 'histogram', labels: [] },
  { item: 'reload seconds per source', name: 'hayate_reload_seconds', type: 'histogram', labels: ['source'] },
  { item: 'flush seconds per queue', name: 'hayate_flush_seconds', type: 'histogram', labels: ['queue'] },
  { item: 'flushed rows per queue', name: 'hayate_flushed_rows_total', type: 'counter', labels: ['queue'] },
  { item: 'purge seconds', name: 'hayate_purge_seconds', type: 'histogram', labels: [] },
  { item: 'queue depth per queue', name: 'hayate_queue_depth', type: 'gauge', labels: ['queue'] },
  { item: 'event-loop lag', name: 'hayate_event_loop_lag_seconds', type: 'gauge', labels: ['quantile'] },
];
/** A few of prom-client's default process and Node.js metrics. */
const defaultMetrics = [
  'process_cpu_user_seconds_total',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'process_open_fds',
  'nodejs_heap_size_used_bytes',
  'nodejs_eventloop_lag_seconds',
  'nodejs_version_info',
];

const live = infoHashBytes(torrents.live);
const multiplied = infoHashBytes(torrents.multiplied);
const announcePath = (passkey: string, params: AnnounceParams) => `/${passkey}/announce${announceQuery(params)}`;

/** Histogram sample names of a family (only for families whose `# TYPE` says histogram). */
const sampleNamesOf = (family: string, type: string): string[] =>
  type === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`] : [family];

describe('/metrics of a live tracker', () => {
  let t: RunningTracker;
  let before: Exposition;
  let queued: Exposition;
  let after: Exposition;
  let historyBefore: number[][];
  const history = async (): Promise<number[][]> => {
    const [rows] = await t.db.conn.query<RowDataPacket[]>('SELECT uploaded, downloaded FROM transfer_history WHERE uid = ? AND fid = ?', [
      users.normal.id,
      torrents.live.id,
    ]);
    return rows.map((r) => [Number(r['uploaded']), Number(r['downloaded'])]);
  };

  async function scrapeMetrics(): Promise<Exposition> {
    const res = await t.get('/metrics');
    expect(res.status).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(res.body.toString('utf8'));
  }

  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.enable_metrics = true;
        // The background flushers sleep after their first (empty) round: records wait for flushNow().
        c.intervals.flush = 3600;
      },
    });
    // Once the accounting thread has made its first round (it starts with the listener), the
    // flushers sleep; announces made before that could be in it.
    await t.tracker.accounting.flushNow();
    before = await scrapeMetrics();

    // 5 successful announces: 3 peers on torrents.live, 1 on torrents.multiplied, one re-announce with traffic.
    const ok: AnnounceParams[] = [
      { infoHash: live, peerId: peerIdOf('-TR3000-', 1), left: 1000, ip: '8.8.8.1' },
      { infoHash: live, peerId: peerIdOf('-qB4650-', 2), left: 0, ip: '8.8.8.2' },
      { infoHash: multiplied, peerId: peerIdOf('-DE2000-', 3), left: 500, ip: '8.8.8.3' },
      { infoHash: live, peerId: peerIdOf('-TR3000-', 1), left: 600, uploaded: 4096, downloaded: 400, ip: '8.8.8.1' },
    ];
    const who = [users.normal, users.other, users.normal, users.normal];
    for (const [i, params] of ok.entries()) {
      const res = await t.get(announcePath(who[i]!.passkey, params));
      expect(res.body.toString('latin1'), JSON.stringify(params)).not.toContain('failure reason');
    }
    const lastOk = await t.get(
      announcePath(users.multiplied.passkey, { infoHash: live, peerId: peerIdOf('-lt0D60-', 4), left: 10, ip: '8.8.8.4' }),
    );
    expect(lastOk.body.toString('latin1')).not.toContain('failure reason');
    // 3 failures: an unknown passkey, a missing info_hash, an unapproved client.
    const failing = [
      announcePath('x'.repeat(32), { infoHash: live }),
      announcePath(users.normal.passkey, { infoHash: null }),
      announcePath(users.normal.passkey, { infoHash: live, peerId: peerIdOf('-UT3500-', 9) }),
    ];
    for (const path of failing) expect((await t.get(path)).body.toString('latin1')).toContain('failure reason');
    // 2 scrapes (one failing: no info_hash), 1 unknown path.
    expect((await t.get(`/${users.normal.passkey}/scrape?info_hash=${percentEncodeBytes(live)}`)).status).toBe(200);
    expect((await t.get(`/${users.normal.passkey}/scrape`)).body.toString()).toContain('failure reason');
    expect((await t.get('/nothing-here')).status).toBe(404);

    expect(await t.tracker.reloader.reload()).toBe(true);
    // The depths are the accounting thread's report (every 250 ms): wait for the one that has read these announces.
    await eventually(
      () => (t.tracker.accounting.depths().transfer_history === 4 ? true : undefined),
      10_000,
      'the depths of the announces made',
    );
    queued = await scrapeMetrics();
    historyBefore = await history();
    expect((await t.tracker.accounting.flushNow()).ok).toBe(true);
    expect(await t.tracker.writeCache()).toBe(true);
    after = await scrapeMetrics();
  });
  afterAll(() => t?.close());

  it('exposes every SPEC §11 metric with its type, labels and a help text', () => {
    for (const { item, name, type, labels } of specMetrics) {
      expect(after.types.get(name), `${item}: # TYPE ${name}`).toBe(type);
      expect(after.help.get(name)?.length ?? 0, `${item}: # HELP ${name}`).toBeGreaterThan(10);
      const samples = after.samples.filter((s) => sampleNamesOf(name, type).includes(s.name));
      expect(samples.length, `${item}: samples of ${name}`).toBeGreaterThan(0);
      for (const sample of samples) {
        const own = Object.keys(sample.labels)
          .filter((l) => l !== 'le')
          .sort();
        expect(own, `${item}: labels of ${sample.name}`).toEqual([...labels].sort());
      }
    }
    for (const name of defaultMetrics)
      expect(
        after.samples.some((s) => s.name === name),
        name,
      ).toBe(true);
  });

  it('names metrics the Prometheus way', () => {
    for (const [name, type] of after.types) {
      expect(name).toMatch(/^[a-z][a-z0-9_]*$/);
      if (type === 'counter') expect(name, name).toMatch(/_total$/);
      if (name.startsWith('hayate_') && /seconds|bytes/.test(name)) expect(name).toMatch(/_(seconds|bytes)(_total)?$/);
    }
  });

  it('counts requests by route and failures exactly', () => {
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    expect(delta('hayate_requests_total', { route: 'announce' })).toBe(8);
    expect(delta('hayate_requests_total', { route: 'scrape' })).toBe(2);
    // The 404 and two more GET /metrics (each counted before it answers).
    expect(delta('hayate_requests_total', { route: 'other' })).toBe(3);
    expect(delta('hayate_failed_requests_total')).toBe(4);
    expect(delta('hayate_request_errors_total')).toBe(0);
    expect(value(after, 'hayate_throughput_requests_per_minute')).toBeGreaterThanOrEqual(0);
    expect(value(after, 'hayate_uptime_seconds')).toBeGreaterThan(0);
  });

  it('reports the loaded data as the database has it, and peers as the swarms hold them', async () => {
    const count = async (sql: string): Promise<number> => {
      const [rows] = await t.db.conn.query<RowDataPacket[]>(sql);
      return Number(rows[0]!['n']);
    };
    expect(value(after, 'hayate_users')).toBe(await count("SELECT COUNT(*) n FROM users_main WHERE Enabled = '1'"));
    expect(value(after, 'hayate_torrents')).toBe(await count('SELECT COUNT(*) n FROM torrents'));
    expect(value(after, 'hayate_approved_clients')).toBe(await count('SELECT COUNT(*) n FROM approved_clients WHERE archived = 0'));
    expect(value(after, 'hayate_hit_and_runs')).toBe(
      await count("SELECT COUNT(*) n FROM transfer_history th JOIN users_main u ON u.ID = th.uid WHERE th.hnr = 1 AND u.Enabled = '1'"),
    );
    // Swarms: live has leechers normal + multiplied and seeder other; multiplied has leecher normal.
    expect(value(after, 'hayate_peers', { kind: 'seeder' })).toBe(1);
    expect(value(after, 'hayate_peers', { kind: 'leecher' })).toBe(3);
    let seeders = 0;
    let leechers = 0;
    for (const torrent of t.tracker.store.torrents.values()) {
      seeders += torrent.seeders.size;
      leechers += torrent.leechers.size;
    }
    expect([seeders, leechers]).toEqual([1, 3]);
  });

  it('times every reload source, and the flushes, and the cache write', () => {
    const count = (e: Exposition, name: string, labels: Record<string, string> = {}) => value(e, `${name}_count`, labels);
    // The start-up load and the reload above.
    expect(labelValues(after, 'hayate_reload_seconds_count', 'source')).toEqual([...reloadSources].sort());
    for (const source of reloadSources) {
      expect(count(after, 'hayate_reload_seconds', { source }) - count(before, 'hayate_reload_seconds', { source }), source).toBe(1);
      expect(value(after, 'hayate_reload_failures_total', { source }), source).toBe(0);
    }
    expect(count(after, 'hayate_serialization_seconds') - count(before, 'hayate_serialization_seconds')).toBe(1);
    expect(value(after, 'hayate_serialization_failures_total')).toBe(0);
    for (const queue of ['users', 'torrents', 'transfer_history', 'transfer_ips']) {
      expect(value(after, 'hayate_flushed_rows_total', { queue }), queue).toBeGreaterThan(0);
      expect(count(after, 'hayate_flush_seconds', { queue }), queue).toBeGreaterThan(0);
    }
    for (const queue of queueNames) {
      expect(value(after, 'hayate_queue_depth', { queue }), queue).toBe(0);
      for (const name of [
        'hayate_deadlocks_total',
        'hayate_deadlock_aborted_total',
        'hayate_deadlock_seconds_total',
        'hayate_sql_errors_total',
      ]) {
        expect(value(after, name, { queue }), `${name} ${queue}`).toBe(0);
      }
    }
    expect(labelValues(after, 'hayate_event_loop_lag_seconds', 'quantile')).toEqual(['0.5', '0.99', '1']);
  });

  it('shows rows written by the flushes in the database', async () => {
    const [up = 0, down = 0] = historyBefore[0] ?? [];
    expect(await history()).toEqual([[up + 4096, down + 400]]);
  });

  it('shows the queue depth while records wait, 0 after flushNow, and the rows flushed per queue', () => {
    // Distinct keys: users 1 (only the re-announce carried traffic); (user, torrent) pairs 4.
    const expected = { users: 1, transfer_history: 4, transfer_ips: 4, transfer_ips6: 0, torrents: 2, snatches: 0, revivals: 0 };
    for (const queue of queueNames) {
      expect(value(queued, 'hayate_queue_depth', { queue }), queue).toBe(expected[queue]);
      expect(value(after, 'hayate_queue_depth', { queue }), queue).toBe(0);
      expect(value(after, 'hayate_flushed_rows_total', { queue }) - value(queued, 'hayate_flushed_rows_total', { queue }), queue).toBe(
        expected[queue],
      );
    }
  });

  it('times a purge and counts the peers it drops', async () => {
    const beforePurge = await scrapeMetrics();
    const peers = value(beforePurge, 'hayate_peers', { kind: 'seeder' }) + value(beforePurge, 'hayate_peers', { kind: 'leecher' });
    expect(peers).toBe(4);
    // Far enough in the future that every peer is inactive.
    const later = Math.floor(Date.now() / 1000) + t.tracker.config.intervals.peer_inactivity + 60;
    expect((await t.tracker.purge.runOnce(later)).purgedPeers).toBe(4);
    const afterPurge = await scrapeMetrics();
    expect(value(afterPurge, 'hayate_purge_seconds_count') - value(beforePurge, 'hayate_purge_seconds_count')).toBe(1);
    expect(value(afterPurge, 'hayate_purged_peers_total') - value(beforePurge, 'hayate_purged_peers_total')).toBe(4);
    expect(value(afterPurge, 'hayate_peers', { kind: 'seeder' })).toBe(0);
    expect(value(afterPurge, 'hayate_peers', { kind: 'leecher' })).toBe(0);
  });
});

describe('/metrics when enable_metrics is false', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker({ configure: (c) => (c.enable_metrics = false) });
  });
  afterAll(() => t?.close());

  it('is 404 (and the tracker still answers)', async () => {
    const res = await t.get('/metrics');
    expect(res.status).toBe(404);
    expect(res.body.toString()).not.toContain('hayate_');
    expect((await t.get('/alive')).status).toBe(200);
  });
});
