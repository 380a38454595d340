import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { spawnHayate } from './helpers/process.js';
import { get } from './helpers/tracker.js';

/**
 * The image's entrypoint (deploy/docker/entrypoint.sh), run here as the image runs it
 * (as root, in the data folder) without a Docker engine. HAYATE_IMAGE_USER stands in for
 * the image's `hayate` user (this machine has none): `nobody`. Runs as root (CI does).
 */
const ENTRYPOINT = join(process.cwd(), 'deploy/docker/entrypoint.sh');
const HOST_UID = 4242; // a host user's folder, as `-v "$PWD:/data"` mounts it
const NOBODY = 65534;

function folder(uid: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-volume-'));
  chmodSync(dir, 0o755);
  chownSync(dir, uid, uid);
  return dir;
}

function entry(dir: string, command: string[], wrap: string[] = []) {
  const argv = [...wrap, ENTRYPOINT, ...command];
  return spawnSync(argv[0]!, argv.slice(1), {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', HAYATE_IMAGE_USER: 'nobody' },
  });
}

describe('docker entrypoint: the data folder', () => {
  const dirs: string[] = [];
  let db: TestDatabase;
  beforeAll(async () => {
    expect(process.getuid?.()).toBe(0);
    db = await createTestDatabase();
    await loadFixtures(db.conn);
  });
  afterAll(async () => {
    await db.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("a host user's folder: the command runs as its owner and what it writes belongs to them", () => {
    const dir = folder(HOST_UID);
    dirs.push(dir);
    const r = entry(dir, ['sh', '-c', 'id -u; id -g; touch written']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').slice(0, 2)).toEqual([String(HOST_UID), String(HOST_UID)]);
    expect(statSync(join(dir, 'written')).uid).toBe(HOST_UID);
  });

  it("a root-owned folder: the image's user, made owner of the folder and of the tracker's files, not of config.json", () => {
    const dir = folder(0);
    dirs.push(dir);
    writeFileSync(join(dir, 'config.json'), '{}');
    writeFileSync(join(dir, 'torrent-cache.bin'), '');
    const r = entry(dir, ['sh', '-c', 'id -u; touch written']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(String(NOBODY));
    expect(statSync(dir).uid).toBe(NOBODY);
    expect(statSync(join(dir, 'torrent-cache.bin')).uid).toBe(NOBODY);
    expect(statSync(join(dir, 'config.json')).uid).toBe(0);
    expect(statSync(join(dir, 'written')).uid).toBe(NOBODY);
  });

  it("a root-owned folder holding an earlier run's state (journal, checkpoint, cache files): the image's user takes it over and the tracker starts", async () => {
    const dir = folder(0);
    dirs.push(dir);
    const port = await freePort();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ database: { dsn: db.dsn }, http: { addr: `127.0.0.1:${port}` } }));
    const announce = (n: number) =>
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', n), left: 1, ip: '8.8.8.8' })}`;
    // The earlier run, as root (e.g. before the image had its entrypoint): its files are root's.
    const earlier = spawnHayate(dir, []);
    await earlier.waitForLog('listening');
    expect((await get(port, announce(2))).body.toString('latin1')).toMatch(/^d8:completei/);
    earlier.child.kill('SIGTERM');
    expect(await earlier.exited).toBe(0);
    const state = ['torrent-cache.bin', 'user-cache.bin', 'journal', 'journal-checkpoint.json'];
    for (const f of state) expect(statSync(join(dir, f)).uid, f).toBe(0);
    // Without the entrypoint, as the image's user in a folder it may write (the earlier run's
    // files still root's): the journal folder is named in one line, before anything is read.
    chownSync(dir, NOBODY, NOBODY);
    const refused = spawnHayate(dir, [], {}, ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--']);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr()).toBe(`hayate: journal folder ${join(dir, 'journal')} is not writable: permission denied (EACCES)\n`);
    chownSync(dir, 0, 0);

    const p = spawnHayate(dir, [], { HAYATE_IMAGE_USER: 'nobody' }, [ENTRYPOINT]);
    await p.waitForLog('listening');
    expect((await get(port, announce(2))).body.toString('latin1')).toMatch(/^d8:completei/);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    for (const f of state) expect(statSync(join(dir, f)).uid, f).toBe(NOBODY);
    expect(p.lines().some((l) => l.msg === 'journal replayed')).toBe(true);
    expect(p.stdout()).not.toContain('unreadable');
  });

  it('docker run --user: runs as given, changes nothing', () => {
    const dir = folder(HOST_UID);
    dirs.push(dir);
    const r = entry(dir, ['id', '-u'], ['setpriv', '--reuid=23456', '--regid=23456', '--clear-groups', '--']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('23456');
    expect(statSync(dir).uid).toBe(HOST_UID);
  });

  it("the tracker in a host user's folder: as the image's fixed user it cannot start; through the entrypoint it writes its cache files there", async () => {
    const dir = folder(HOST_UID);
    dirs.push(dir);
    const port = await freePort();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ database: { dsn: db.dsn }, http: { addr: `127.0.0.1:${port}` } }));
    // What the image did before (USER hayate): an unwritable folder, every restart loses its peers.
    const before = spawnHayate(dir, [], {}, ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--']);
    expect(await before.exited).toBe(1);
    expect(before.stderr()).toContain(`working directory ${dir} is not writable: permission denied (EACCES)`);

    const p = spawnHayate(dir, [], { HAYATE_IMAGE_USER: 'nobody' }, [ENTRYPOINT]);
    await p.waitForLog('listening');
    const res = await get(
      port,
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: infoHashBytes(torrents.live), peerId: peerIdOf('-TR3000-', 1), left: 1, ip: '8.8.8.8' })}`,
    );
    expect(res.body.toString('latin1')).toMatch(/^d8:completei/);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    for (const f of ['torrent-cache.bin', 'user-cache.bin']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
      expect(statSync(join(dir, f)).uid, f).toBe(HOST_UID);
    }
  });
});
