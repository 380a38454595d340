import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { parseExposition, sampledNames } from './helpers/prometheus.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';

interface Dashboard {
  panels: { title: string; targets?: { expr: string }[] }[];
  templating: { list: { query: { query: string } | string }[] };
}

const dashboard = JSON.parse(readFileSync(new URL('../deploy/grafana/hayate-dashboard.json', import.meta.url), 'utf8')) as Dashboard;

/** Metric names in PromQL: ours and the default process/Node metrics all carry one of these prefixes. */
const metricNames = (expr: string): string[] => [...expr.matchAll(/\b(?:hayate|process|nodejs)_[a-z0-9_]+\b/g)].map((m) => m[0]);

const queries = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
  ...dashboard.templating.list.map((v) => ({ where: 'variable', expr: typeof v.query === 'string' ? v.query : v.query.query })),
];

describe('Grafana dashboard against a live tracker', () => {
  let t: RunningTracker;
  let sampled: Set<string>;

  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.enable_metrics = true;
        c.record_announces = true;
      },
    });
    // Some of everything the dashboard plots: announces (with traffic), a failure, a scrape,
    // a reload, a flush, a purge, a cache write.
    const live = infoHashBytes(torrents.live);
    await t.get(
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', 1), left: 10, ip: '8.8.8.8' })}`,
    );
    await t.get(
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', 1), left: 5, uploaded: 7, downloaded: 5, ip: '8.8.8.8' })}`,
    );
    await t.get(`/${'x'.repeat(32)}/announce${announceQuery({ infoHash: live })}`);
    await t.get(`/${users.normal.passkey}/scrape?info_hash=${percentEncodeBytes(live)}`);
    expect(await t.tracker.reloader.reload()).toBe(true);
    expect((await t.tracker.accounting.flushNow()).ok).toBe(true);
    await t.tracker.purge.runOnce();
    expect(await t.tracker.writeCache()).toBe(true);
    await t.tracker.recorder!.flush();

    const res = await t.get('/metrics');
    expect(res.status).toBe(200);
    sampled = sampledNames(parseExposition(res.body.toString('utf8')));
  });
  afterAll(() => t?.close());

  it('queries only metrics that GET /metrics returns samples for', () => {
    expect(queries.length).toBeGreaterThan(10);
    const missing = queries.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((name) => !sampled.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it('every query names at least one metric', () => {
    for (const { where, expr } of queries) expect(metricNames(expr).length, `${where}: ${expr}`).toBeGreaterThan(0);
  });
});
