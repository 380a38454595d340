import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker, type TrackerOptions } from '../../src/app.js';
import { defaultConfig, type Config, type ListenTarget } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { loadFixtures } from '../../fixtures/load.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { eventually as pollUntil } from './flush-setup.js';

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw GET: the path goes on the wire exactly as given (no URL normalisation). */
export function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface RunningTracker {
  tracker: Tracker;
  db: TestDatabase;
  port: number;
  dir: string;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** Stops the tracker, drops the database and the folder. */
  close(): Promise<void>;
}

/**
 * A tracker on 127.0.0.1 (or `host`; random port) over a fresh database loaded with the
 * fixtures (unless `fixtures: false`). `configure` edits the config first.
 */
export async function startTracker(
  options: {
    configure?: (config: Config) => void;
    fixtures?: boolean;
    db?: TestDatabase;
    dir?: string;
    tracker?: Partial<TrackerOptions>;
    /** Listen address; `get` only works on 127.0.0.1. */
    host?: string;
    /** Where to listen instead of `host` and a random port (a Unix socket: `port` is 0, `get` unusable). */
    listen?: ListenTarget;
  } = {},
): Promise<RunningTracker> {
  const db = options.db ?? (await createTestDatabase());
  if (options.fixtures !== false && options.db === undefined) await loadFixtures(db.conn);
  const config = defaultConfig();
  config.database.dsn = db.dsn;
  config.intervals.flush = 0;
  config.log_flushes = false;
  options.configure?.(config);
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hayate-test-'));
  const tracker = new Tracker({
    config,
    logger: silentLogger(),
    dir,
    accounting: { backoffMinMs: 50, backoffMaxMs: 200 },
    ...options.tracker,
  });
  const address = await tracker.start(options.listen ?? { host: options.host ?? '127.0.0.1', port: 0 });
  const port = options.listen !== undefined && 'path' in options.listen ? 0 : Number(new URL(address).port);
  return {
    tracker,
    db,
    port,
    dir,
    get: (path, headers) => get(port, path, headers),
    async close() {
      await tracker.stop(10_000);
      if (options.db === undefined) await db.drop();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  return (await pollUntil(check, (value) => value !== undefined, what, timeoutMs)) as T;
}
