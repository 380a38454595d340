import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { announceQuery, failure, peerIdOf } from './helpers/announce.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';
import { SITE_PASSWORD, awkwardHash, insertUsers, passkeyOf } from './helpers/update.js';

const run = promisify(execFile);
const client = fileURLToPath(new URL('./php/gazelle-tracker.php', import.meta.url));

type Param = string | { bin: string } | { bins: string[] };

/**
 * Debian's php-cli (installed by scripts/test.sh) running a site's tracker calls the way
 * Gazelle's tracker class makes them: raw socket, no Host header, answer read to EOF.
 */
describe('driven like a PHP site (php-cli, raw socket GET as Gazelle writes it)', () => {
  let t: RunningTracker;
  let dir: string;
  const calls = async (list: { action: string; params?: Record<string, Param> }[]): Promise<string[]> => {
    const file = join(dir, `calls-${Date.now()}-${Math.random()}.json`);
    writeFileSync(file, JSON.stringify(list));
    const { stdout } = await run('php', [client, '127.0.0.1', String(t.port), SITE_PASSWORD, file], { timeout: 60_000 });
    return stdout.trimEnd().split('\n');
  };
  const announce = async (passkey: string, infoHash: Buffer, n: number): Promise<string> =>
    (await t.get(`/${passkey}/announce${announceQuery({ infoHash, left: 0, numwant: 0, peerId: peerIdOf('-TR3000-', n) })}`)).body.toString(
      'latin1',
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hayate-php-'));
    t = await startTracker({
      configure: (c) => {
        c.site_password = SITE_PASSWORD;
        c.intervals.database_reload = 3600;
      },
    });
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('php-cli is installed (scripts/test.sh installs it)', async () => {
    const { stdout } = await run('php', ['-r', 'echo PHP_VERSION;']);
    expect(stdout).toMatch(/^\d+\.\d+/);
  });

  it('uploads, freeleeches and deletes a torrent with an awkward binary hash, and bans users in Gazelle-sized chunks', async () => {
    const hash = awkwardHash(0xee);
    await t.db.conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (500, 5, 'music', ?)`, [hash]);
    await insertUsers(t.db.conn, 600, 300);
    const before = await calls([
      { action: 'add_torrent', params: { id: '500', info_hash: { bin: hash.toString('hex') }, freetorrent: '0' } },
      { action: 'reload' },
    ]);
    expect(before).toEqual(['ok success "success"', 'ok success "success"']);
    expect(await announce(users.normal.passkey, hash, 1)).toMatch(/^d8:completei1e/);
    expect(t.tracker.store.users.has(passkeyOf(650))).toBe(true);

    // Gazelle's remove_users sends chunks of ~124 passkeys (it keeps each under Ocelot's 4 KiB buffer).
    const passkeys = Array.from({ length: 300 }, (_, i) => passkeyOf(600 + i));
    const chunks: string[] = [];
    for (let i = 0; i < passkeys.length; i += 124) chunks.push(passkeys.slice(i, i + 124).join(''));
    const out = await calls([
      {
        action: 'update_torrents',
        params: { info_hashes: { bins: [hash.toString('hex'), torrents.liveMusic.infoHashHex] }, freetorrent: '1' },
      },
      ...chunks.map((c) => ({ action: 'remove_users', params: { passkeys: c } })),
      { action: 'delete_torrent', params: { info_hash: { bin: hash.toString('hex') }, id: '500', reason: '3' } },
      { action: 'info_torrent', params: { info_hash: { bin: hash.toString('hex') } } },
      { action: 'no_such_action' },
    ]);
    expect(out.slice(0, 5)).toEqual(Array(5).fill('ok success "success"'));
    expect(out[5]).toMatch(
      /^ok code200 "\{\\"info_hash\\":\\"[0-9a-f]{40}\\",\\"loaded\\":false,\\"unregistered\\":\{\\"reason\\":\\"Bad Folder Names\\"/,
    );
    expect(out[6]).toMatch(/^failed 3 status 400: unknown action: no_such_action$/);

    expect(t.tracker.store.torrents.get(infoHashBytes(torrents.liveMusic).toString('latin1'))?.downMultiplier).toBe(0);
    expect(passkeys.some((p) => t.tracker.store.users.has(p))).toBe(false);
    expect(await announce(users.normal.passkey, hash, 2)).toBe(failure('Unregistered torrent: Bad Folder Names', 3600));
  });
});
