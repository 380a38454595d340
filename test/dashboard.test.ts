import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Metrics } from '../src/metrics/metrics.js';

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } | string }[] };
}

const dashboard = JSON.parse(readFileSync(new URL('../deploy/grafana/hayate-dashboard.json', import.meta.url), 'utf8')) as Dashboard;
const graphPanels = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = graphPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const variableQueries = dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query.query));

/** Metric names in PromQL: ours and the default process/Node metrics all carry one of these prefixes. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(?:hayate|process|nodejs)_[a-z0-9_]+\b/g)].map((m) => m[0]);
}

/** Every series name the registry can expose, from its `# TYPE` lines (present even before any sample). */
async function exposedNames(metrics: Metrics): Promise<Set<string>> {
  const text = await metrics.registry.metrics();
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix);
    } else if (type === 'summary') {
      for (const suffix of ['', '_sum', '_count']) names.add(name! + suffix);
    } else {
      names.add(name!);
    }
  }
  return names;
}

const metrics = new Metrics();
afterAll(() => metrics.close());

describe('Grafana dashboard', () => {
  it('is an importable dashboard with a Prometheus datasource input', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBeTruthy();
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.__inputs).toContainEqual(
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    );
  });

  it('gives every panel a unique id and a grid position inside 24 columns, without overlaps', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { gridPos: g, title } of dashboard.panels) {
      expect([g.x, g.y, g.w, g.h].every(Number.isInteger), title).toBe(true);
      expect(g.w > 0 && g.h > 0 && g.x >= 0 && g.y >= 0 && g.x + g.w <= 24, title).toBe(true);
    }
    const cells = new Map<string, string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const key = `${x},${y}`;
          expect(cells.get(key), `${title} overlaps ${cells.get(key)}`).toBeUndefined();
          cells.set(key, title);
        }
      }
    }
  });

  it('gives every graph panel targets with an expr on the ${DS_PROMETHEUS} datasource', () => {
    expect(graphPanels.length).toBeGreaterThan(10);
    for (const panel of graphPanels) {
      expect(panel.datasource?.uid, panel.title).toBe('${DS_PROMETHEUS}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      const refIds = panel.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      for (const target of panel.targets!) {
        expect(target.expr.trim(), panel.title).not.toBe('');
        expect(target.datasource.uid, panel.title).toBe('${DS_PROMETHEUS}');
        expect(metricNames(target.expr).length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0);
      }
    }
  });

  it('queries only metrics that hayate exposes', async () => {
    const exposed = await exposedNames(metrics);
    const used = [...exprs.map((e) => e.expr), ...variableQueries].flatMap(metricNames);
    const unknown = [...new Set(used)].filter((name) => !exposed.has(name));
    expect(unknown).toEqual([]);
  });

  it('covers the metrics operators watch', () => {
    const used = new Set(exprs.flatMap((e) => metricNames(e.expr)));
    for (const name of [
      'hayate_requests_total',
      'hayate_failed_requests_total',
      'hayate_peers',
      'hayate_users',
      'hayate_torrents',
      'hayate_reload_seconds_bucket',
      'hayate_flush_seconds_bucket',
      'hayate_flushed_rows_total',
      'hayate_queue_depth',
      'hayate_deadlocks_total',
      'hayate_deadlock_aborted_total',
      'hayate_sql_errors_total',
      'hayate_event_loop_lag_seconds',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'hayate_serialization_seconds_bucket',
      'hayate_recorded_announces_total',
      'hayate_update_requests_total',
      'hayate_update_auth_failures_total',
      'hayate_update_seconds_bucket',
    ]) {
      expect(used.has(name), name).toBe(true);
    }
  });
});
