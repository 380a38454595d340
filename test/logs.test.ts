import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/nginx.js';
import { eventually, get } from './helpers/tracker.js';

const entry = fileURLToPath(new URL('../dist/cmd/hayate.js', import.meta.url));

interface LogLine {
  level: number;
  time: string;
  msg: string;
  [key: string]: unknown;
}

interface Run {
  lines: LogLine[];
  stderr: string;
  code: number | null;
}

/**
 * Runs the built tracker (`node dist/cmd/hayate.js -c config.json`) in a fresh folder,
 * sends one announce with traffic once it listens, then SIGTERM; every stdout line
 * must be a JSON log record.
 */
async function runTracker(db: TestDatabase, config: object, env: Record<string, string> = {}): Promise<Run> {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (scripts/test.sh does)`);
  const dir = mkdtempSync(join(tmpdir(), 'hayate-logs-'));
  const port = await freePort();
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ database: { dsn: db.dsn }, http: { addr: `127.0.0.1:${port}` }, ...config }));
  const child = spawn(process.execPath, [entry, '-c', 'config.json'], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // 'close', not 'exit': 'exit' can come before the last bytes of stdout have been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    await eventually(() => (/"msg":"listening"/.test(stdout) ? true : undefined), 20_000, `"listening" in the log (stderr: ${stderr})`);
    const live = infoHashBytes(torrents.live);
    const peerId = peerIdOf('-TR3000-', 1);
    await get(port, `/${users.normal.passkey}/announce${announceQuery({ infoHash: live, peerId, left: 100, ip: '8.8.8.8' })}`);
    const res = await get(
      port,
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: live, peerId, left: 50, uploaded: 10, downloaded: 50, ip: '8.8.8.8' })}`,
    );
    expect(res.body.toString('latin1')).not.toContain('failure');
    child.kill('SIGTERM');
    const code = await exited;
    const lines = stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        try {
          return JSON.parse(line) as LogLine;
        } catch {
          throw new Error(`stdout line is not JSON: ${line}`);
        }
      });
    return { lines, stderr, code };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const messages = (run: Run): string[] => run.lines.map((l) => l.msg);

describe('structured logs of the built tracker (node dist/cmd/hayate.js)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await loadFixtures(db.conn);
  });
  afterAll(() => db?.drop());

  it('writes one JSON line per event with level, time and msg, and exits 0 on SIGTERM', async () => {
    const run = await runTracker(db, { log_flushes: true });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    for (const line of run.lines) {
      expect(typeof line.level, JSON.stringify(line)).toBe('number');
      expect(Number.isNaN(Date.parse(line.time)), JSON.stringify(line)).toBe(false);
      expect(typeof line.msg, JSON.stringify(line)).toBe('string');
      expect(line['name']).toBe('hayate');
    }
    const msgs = messages(run);
    for (const msg of ['configuration loaded', 'data loaded', 'listening', 'cache files written', 'shutdown complete']) {
      expect(msgs, msg).toContain(msg);
    }
    // Order of the life cycle.
    expect(msgs.indexOf('configuration loaded')).toBeLessThan(msgs.indexOf('data loaded'));
    expect(msgs.indexOf('data loaded')).toBeLessThan(msgs.indexOf('listening'));
    expect(msgs.at(-1)).toBe('shutdown complete');
    const done = run.lines.at(-1)!;
    expect(done).toMatchObject({ level: 30, flushed: true, cacheWritten: true });
    // The configuration line names the file it read.
    const configured = run.lines.find((l) => l.msg === 'configuration loaded')!;
    expect(String(configured['config'])).toMatch(/config\.json$/);
  });

  it('log_flushes true: an info line per flush naming the queue and rows', async () => {
    const run = await runTracker(db, { log_flushes: true });
    const flushes = run.lines.filter((l) => l.msg === 'flushed');
    expect(flushes.map((l) => l['queue']).sort()).toEqual(expect.arrayContaining(['transfer_history', 'transfer_ips', 'users']));
    for (const line of flushes) {
      expect(line.level).toBe(30);
      expect(line['rows']).toBeGreaterThan(0);
    }
  });

  it('log_flushes false: flush lines only at debug level', async () => {
    const quiet = await runTracker(db, { log_flushes: false });
    expect(quiet.code).toBe(0);
    expect(messages(quiet)).not.toContain('flushed');
    const debug = await runTracker(db, { log_flushes: false }, { HAYATE_LOG_LEVEL: 'debug' });
    const flushes = debug.lines.filter((l) => l.msg === 'flushed');
    expect(flushes.length).toBeGreaterThan(0);
    for (const line of flushes) expect(line.level).toBe(20);
  });
});
