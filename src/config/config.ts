import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { addressBlocksError } from '../protocol/address.js';

/** The validated configuration, defaults filled in (SPEC §10). */
export interface Config {
  database: { dsn: string; deadlock_pause: number; deadlock_retries: number };
  channels: { torrents: number; users: number; transfer_history: number; transfer_ips: number; snatches: number };
  intervals: {
    announce: number;
    min_announce: number;
    announce_drift: number;
    peer_inactivity: number;
    scrape: number;
    database_reload: number;
    database_serialize: number;
    purge_inactive_peers: number;
    flush: number;
  };
  http: {
    addr: string;
    /** Permissions of the socket file when addr is `unix:/path` (octal text, e.g. "0660"). */
    socket_mode: string;
    proxy_header: string;
    trusted_proxies: string[];
    timeout: { read: number; write: number; idle: number };
  };
  announce: { strict_port: boolean; numwant: number; max_numwant: number; ipv6: boolean };
  /** Crash safety: the announce journal (docs/crash-safety.md). */
  journal: { enabled: boolean; fdatasync: boolean; segment_bytes: number; accounting_thread: boolean };
  record_announces: boolean;
  enable_scrape: boolean;
  enable_metrics: boolean;
  log_flushes: boolean;
  /** Update API password (Ocelot's key); '' = API off. */
  site_password: string;
  /** Addresses / CIDR blocks allowed to call the update API; empty = any. */
  site_addresses: string[];
}

const UNIX_PREFIX = 'unix:';
/**
 * The longest Unix socket path Linux takes (sun_path is 108 bytes with its NUL); a longer
 * one would fail at listen() with a message that does not name the cause.
 */
const UNIX_PATH_MAX_BYTES = 107;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const schemaPath = fileURLToPath(new URL('../../../config.schema.json', import.meta.url));
const schemaPathFromSource = fileURLToPath(new URL('../../config.schema.json', import.meta.url));

function readSchema(): Record<string, unknown> {
  // Compiled code lives one level deeper (dist/src/config) than the source (src/config).
  for (const path of [schemaPathFromSource, schemaPath]) {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new Error(`config.schema.json not found (looked at ${schemaPathFromSource} and ${schemaPath})`);
}

let validator: ReturnType<Ajv['compile']> | undefined;
function validate(data: unknown): readonly ErrorObject[] | null {
  if (validator === undefined) {
    // verbose: errors carry their schema node, for a pattern's `x-pattern-means`.
    const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false, verbose: true });
    validator = ajv.compile(readSchema());
  }
  return validator(data) ? null : (validator.errors ?? []);
}

function keyOf(error: ErrorObject): string {
  const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  if (error.keyword === 'required')
    return path ? `${path}.${String(error.params['missingProperty'])}` : String(error.params['missingProperty']);
  return path || '(root)';
}

function describe(error: ErrorObject, data: unknown): string {
  const key = keyOf(error);
  let value: unknown = data;
  for (const part of error.instancePath.split('/').slice(1)) value = (value as Record<string, unknown> | null | undefined)?.[part];
  // A pattern says what it accepts in words (the schema's x-pattern-means), not as a regular expression.
  const means =
    error.keyword === 'pattern' ? (error.parentSchema as { 'x-pattern-means'?: string } | undefined)?.['x-pattern-means'] : undefined;
  const message = means !== undefined ? `must be ${means}` : (error.message ?? 'is invalid');
  // A password is not echoed to the log, even a wrong one (it may be a near miss of the real one).
  const got = key === 'site_password' && typeof value === 'string' ? `${value.length} characters` : JSON.stringify(value);
  return `${key}: ${message} (got ${got})`;
}

/**
 * Validates a parsed config object, fills in the defaults, and applies the
 * DB_DSN environment override. Throws ConfigError naming every bad key.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError('config must be a JSON object');
  }
  const data = structuredClone(raw) as Record<string, unknown>;
  const errors = validate(data);
  if (errors !== null) {
    throw new ConfigError(`invalid configuration: ${errors.map((e) => describe(e, data)).join('; ')}`);
  }
  const config = data as unknown as Config;
  // The schema's pattern allows up to 5 digits; a port past 65535 would only fail at listen().
  const target = listenAddress(config.http.addr);
  if ('port' in target && target.port > 65535) {
    throw new ConfigError(`invalid configuration: http.addr: port must be 0..65535 (got ${JSON.stringify(config.http.addr)})`);
  }
  if ('path' in target && Buffer.byteLength(target.path) > UNIX_PATH_MAX_BYTES) {
    throw new ConfigError(
      `invalid configuration: http.addr: a Unix socket path is at most ${UNIX_PATH_MAX_BYTES} bytes (got ${Buffer.byteLength(target.path)})`,
    );
  }
  const proxiesError = addressBlocksError(config.http.trusted_proxies);
  if (proxiesError !== undefined) throw new ConfigError(`invalid configuration: http.trusted_proxies: ${proxiesError}`);
  const sitesError = addressBlocksError(config.site_addresses);
  if (sitesError !== undefined) throw new ConfigError(`invalid configuration: site_addresses: ${sitesError}`);
  if (env['DB_DSN']) config.database.dsn = env['DB_DSN'];
  if (config.announce.numwant > config.announce.max_numwant) config.announce.numwant = config.announce.max_numwant;
  return config;
}

export interface LoadedConfig {
  config: Config;
  /** Where it came from, for the log ("defaults" when the file was missing). */
  source: string;
  /** Keys present in the file that hayate does not know (likely typos). */
  unknownKeys: string[];
}

/** Reads a config file; a missing file means defaults. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { config: parseConfig({}, env), source: `defaults (${path} not found)`, unknownKeys: [] };
    }
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  const config = parseConfig(raw, env);
  return { config, source: path, unknownKeys: unknownKeys(raw as Record<string, unknown>) };
}

export function defaultConfig(): Config {
  return parseConfig({}, {});
}

function unknownKeys(raw: Record<string, unknown>): string[] {
  const schema = readSchema();
  const out: string[] = [];
  const walk = (value: Record<string, unknown>, node: Record<string, unknown>, prefix: string): void => {
    const props = (node['properties'] ?? {}) as Record<string, Record<string, unknown>>;
    for (const [key, child] of Object.entries(value)) {
      const sub = props[key];
      if (sub === undefined) out.push(prefix + key);
      else if (sub['type'] === 'object' && child !== null && typeof child === 'object') {
        walk(child as Record<string, unknown>, sub, `${prefix}${key}.`);
      }
    }
  };
  walk(raw, schema, '');
  return out;
}

/** Where the HTTP server listens: a TCP host and port, or a Unix socket's path. */
export type ListenTarget = { host: string; port: number } | { path: string };

/**
 * http.addr as a ListenTarget: ":34000", "127.0.0.1:34000", "[::1]:34000" (TCP), or
 * "unix:/run/hayate/hayate.sock" (a Unix socket, nginx's spelling of one).
 */
export function listenAddress(addr: string): ListenTarget {
  if (addr.startsWith(UNIX_PREFIX)) return { path: addr.slice(UNIX_PREFIX.length) };
  const idx = addr.lastIndexOf(':');
  let host = addr.slice(0, idx);
  const port = Number(addr.slice(idx + 1));
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port };
}
