import type { Config } from './config.js';

/**
 * Keys SIGHUP may change in a running tracker: each is read where it is used
 * (per answer, or when the next timer is set), so assigning the new value is
 * the whole change. Everything else is fixed at start (the listening socket,
 * the database pool, queue capacities, the flushers' settings, the recorder)
 * and is reported as needing a restart. A key added later is restart-only
 * until it is listed here.
 */
export const LIVE_KEYS: readonly string[] = [
  'intervals.announce',
  'intervals.min_announce',
  'intervals.announce_drift',
  'intervals.peer_inactivity',
  'intervals.scrape',
  'intervals.database_reload',
  'intervals.database_serialize',
  'intervals.purge_inactive_peers',
  'announce.strict_port',
  'announce.numwant',
  'announce.max_numwant',
  'enable_scrape',
  'enable_metrics',
];

export interface ConfigChange {
  /** Keys whose new value is in effect. */
  applied: string[];
  /** Keys whose value changed in the file but stay as they were until a restart. */
  needRestart: string[];
}

function leaves(value: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) leaves(child, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

function assign(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  node[parts[parts.length - 1]!] = value;
}

/**
 * Applies a re-read configuration (already validated, defaults filled) to the
 * live one, in place: LIVE_KEYS take their new values, any other changed key is
 * listed in needRestart and left alone. Values are compared leaf by leaf.
 */
export function applyConfigChange(live: Config, next: Config): ConfigChange {
  const before = leaves(live, '', new Map());
  const after = leaves(next, '', new Map());
  const change: ConfigChange = { applied: [], needRestart: [] };
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    if (JSON.stringify(before.get(key)) === JSON.stringify(after.get(key))) continue;
    if (LIVE_KEYS.includes(key)) {
      assign(live as unknown as Record<string, unknown>, key, after.get(key));
      change.applied.push(key);
    } else {
      change.needRestart.push(key);
    }
  }
  change.applied.sort();
  change.needRestart.sort();
  return change;
}
