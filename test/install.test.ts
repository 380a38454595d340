import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { eventually, get } from './helpers/tracker.js';

/** The one install recipe the README, docs/operations.md and the systemd unit give. */
const RECIPE = 'npm ci && npm run build && npm prune --omit=dev';
/** What the unit's comment used to say: the compiler is a dev dependency, so this cannot build. */
const OLD_RECIPE = 'npm ci --omit=dev && npm run build';

const repo = process.cwd();

const cleanPath = (process.env['PATH'] ?? '')
  .split(':')
  .filter((p) => !p.includes('node_modules'))
  .join(':');

/** Runs a shell line in `cwd` (npm's own cache, offline when it can); returns status and output. */
function sh(line: string, cwd: string): { status: number | null; output: string } {
  const r = spawnSync('bash', ['-c', line], {
    cwd,
    encoding: 'utf8',
    // Without the PATH entries npm and npx add for this test run (node_modules/.bin holds a tsc).
    env: {
      ...process.env,
      PATH: cleanPath,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_prefer_offline: 'true',
      npm_config_update_notifier: 'false',
    },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('install recipe from a fresh checkout', () => {
  let checkout: string;
  let db: TestDatabase;
  beforeAll(async () => {
    // A fresh checkout: the files git would give (tracked and new, not ignored), none of node_modules or dist.
    checkout = mkdtempSync(join(tmpdir(), 'hayate-install-'));
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '' && existsSync(join(repo, f)));
    for (const f of files) {
      mkdirSync(dirname(join(checkout, f)), { recursive: true });
      cpSync(join(repo, f), join(checkout, f));
    }
    db = await createTestDatabase();
    await loadFixtures(db.conn);
  });
  afterAll(async () => {
    await db.drop();
    rmSync(checkout, { recursive: true, force: true });
  });

  it('the documents give the one recipe', () => {
    for (const doc of ['README.md', 'docs/operations.md', 'deploy/systemd/hayate.service']) {
      expect(readFileSync(join(repo, doc), 'utf8'), doc).toContain(RECIPE);
      expect(readFileSync(join(repo, doc), 'utf8'), doc).not.toContain(OLD_RECIPE);
    }
  });

  it(`the old recipe fails (no tsc); "${RECIPE}" builds, drops the dev dependencies, and the tracker runs`, async () => {
    const old = sh(OLD_RECIPE, checkout);
    expect(old.status).not.toBe(0);
    expect(old.output).toMatch(/tsc: (not found|command not found)/);

    const r = sh(RECIPE, checkout);
    expect(r.status, r.output).toBe(0);
    expect(existsSync(join(checkout, 'dist/cmd/hayate.js'))).toBe(true);
    for (const dev of ['typescript', 'vitest', 'fast-check']) expect(existsSync(join(checkout, 'node_modules', dev)), dev).toBe(false);

    // Run it as the unit does: from another working directory, -c an absolute path.
    const state = mkdtempSync(join(tmpdir(), 'hayate-install-state-'));
    try {
      const port = await freePort();
      writeFileSync(join(state, 'config.json'), JSON.stringify({ database: { dsn: db.dsn }, http: { addr: `127.0.0.1:${port}` } }));
      const child = spawn(process.execPath, [join(checkout, 'dist/cmd/hayate.js'), '-c', join(state, 'config.json')], {
        cwd: state,
        env: { PATH: cleanPath, NODE_ENV: 'production' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      await eventually(() => (out.includes('"msg":"listening"') ? true : undefined), 30_000, `listening (${out})`);
      const res = await get(
        port,
        `/${users.normal.passkey}/announce${announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', 1), left: 1, ip: '8.8.8.8' })}`,
      );
      expect(res.body.toString('latin1')).toMatch(/^d8:completei/);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  }, 300_000); // two npm ci runs and a TypeScript build
});
