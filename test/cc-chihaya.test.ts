/**
 * hayate's cc against the real chihaya's cc (../shared/reference/chihaya/cc, or beside
 * CHIHAYA_BIN): the same .bin dumps to the same JSON, and each tool restores the other's
 * dump to the same cache. chihaya writes its maps in Go's random order, so .bin files are
 * compared in a canonical record order (test/helpers/cache-canon.ts).
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TorrentRecord, UserRecord } from '../src/cache/format.js';
import { loadTorrentRecords, saveTorrentRecords, saveUserRecords } from '../src/cache/tool.js';
import { canonicalCache } from './helpers/cache-canon.js';
import { CHIHAYA_CC, haveChihayaCc, missingMessage } from './helpers/chihaya.js';

const run = promisify(execFile);
const CC = join(resolve(import.meta.dirname, '..'), 'dist/cmd/cc.js');

if (!haveChihayaCc) console.warn(`cc-chihaya.test.ts ${missingMessage('cc', CHIHAYA_CC)}`);

const hayateCc = (dir: string, command: string) => run('node', [CC, '-q', command], { cwd: dir });
const chihayaCc = (dir: string, command: string) => run(CHIHAYA_CC, [command], { cwd: dir });

/** Two torrents with several peers each and every extreme both tools can write; `down` picks DownMultipliers. */
function torrents(down: (up: number) => number): TorrentRecord[] {
  const peer = (user: number, n: number, seeding: boolean) => ({
    key: Buffer.concat([Buffer.from([user, 0, 0, 0]), Buffer.from(`-TR4050-${String(n).padStart(12, '0')}`)]).toString('latin1'),
    peer: {
      peerId: `-TR4050-${String(n).padStart(12, '0')}`,
      ip: 0xc0000200 + n,
      port: 50_000 + n,
      uploaded: n === 1 ? 2n ** 64n - 1n : 1000 * n,
      downloaded: n === 2 ? 2n ** 63n : n,
      left: seeding ? 0 : 9_223_372_036_854_775_807n,
      startTime: n === 3 ? -(2n ** 63n) : 1_700_000_000 + n,
      lastAnnounce: 1_700_000_100 + n,
      torrentId: 10,
      userId: user,
      clientId: n,
      seeding,
    },
  });
  const multipliers = [1.5, 0.1, 1e-7, 1e21, 5e-324, 1.7976931348623157e308, -0, 123456.789];
  return multipliers.map((up, i) => ({
    infoHash: Buffer.alloc(20, 0x10 * (i + 1) + i).toString('latin1'),
    seeders: i === 0 ? [peer(3, 1, true), peer(1, 2, true), peer(2, 3, true)] : [],
    leechers: i === 0 ? [peer(2, 4, false), peer(1, 5, false)] : i === 1 ? [peer(7, 6, false)] : [],
    type: i % 2 === 0 ? 'anime' : 'music',
    groupId: 0xffffffff - i,
    id: 10 + i,
    snatched: i === 0 ? 65535 : i,
    status: i % 3,
    lastAction: i === 2 ? -1 : 1_700_000_000 + i,
    upMultiplier: up,
    downMultiplier: down(up),
  }));
}

function users(down: (up: number) => number): UserRecord[] {
  return [
    {
      passkey: 'l8ffo9gsj2sicxragkhwyucdvqwrr3ic',
      id: 1,
      disableDownload: false,
      trackerHide: false,
      upMultiplier: 1,
      downMultiplier: down(1),
    },
    { passkey: 'a<b>&c', id: 0xffffffff, disableDownload: true, trackerHide: true, upMultiplier: 2, downMultiplier: down(2) },
    { passkey: '0000', id: 0, disableDownload: false, trackerHide: true, upMultiplier: 0.25, downMultiplier: down(0.25) },
  ];
}

const same = (up: number) => up;
const different = (up: number) => (up === 1 ? 0 : up / 4);

let dirs: string[] = [];
async function folder(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'hayate-cc-chihaya-'));
  dirs.push(d);
  return d;
}

async function cacheIn(down: (up: number) => number): Promise<string> {
  const d = await folder();
  await saveTorrentRecords(join(d, 'torrent-cache.bin'), torrents(down));
  await saveUserRecords(join(d, 'user-cache.bin'), users(down));
  return d;
}

async function copyFiles(from: string, to: string, names: string[]): Promise<void> {
  for (const n of names) await copyFile(join(from, n), join(to, n));
}

const dumps = ['torrent-cache.json', 'user-cache.json'];
const bins = ['torrent-cache.bin', 'user-cache.bin'];
const read = (d: string, f: string) => readFile(join(d, f), 'utf8');

beforeEach(() => {
  dirs = [];
});
afterEach(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe.skipIf(!haveChihayaCc)("cc against chihaya's cc", () => {
  it('the same .bin files dump to byte-identical JSON', async () => {
    const h = await cacheIn(same);
    const c = await folder();
    await copyFiles(h, c, bins);
    await hayateCc(h, 'dump');
    await chihayaCc(c, 'dump');
    for (const f of dumps) expect(await read(h, f)).toBe(await read(c, f));
    expect(await read(h, 'torrent-cache.json')).toContain('"Left": 9223372036854775807,');
  });

  it('with DownMultiplier != UpMultiplier the dumps differ only where chihaya writes UpMultiplier for DownMultiplier', async () => {
    const h = await cacheIn(different);
    const c = await folder();
    await copyFiles(h, c, bins);
    await hayateCc(h, 'dump');
    await chihayaCc(c, 'dump');
    for (const f of dumps) {
      const ours = (await read(h, f)).split('\n');
      const theirs = (await read(c, f)).split('\n');
      expect(ours).toHaveLength(theirs.length);
      const differing = ours.map((line, i) => [line, theirs[i]!] as const).filter(([a, b]) => a !== b);
      expect(differing.length).toBeGreaterThan(0);
      for (const [a, b] of differing) {
        expect(a).toMatch(/^\t\t"DownMultiplier": /);
        expect(b).toMatch(/^\t\t"DownMultiplier": /);
      }
    }
    expect(await read(h, 'user-cache.json')).toContain('\t\t"DownMultiplier": 0.5,\n\t\t"ID": 4294967295,');
  });

  it("chihaya's dump restored by hayate's cc gives the .bin chihaya's restore gives", async () => {
    const c = await cacheIn(different);
    await chihayaCc(c, 'dump');
    const h = await folder();
    await copyFiles(c, h, dumps);
    await chihayaCc(c, 'restore');
    await hayateCc(h, 'restore');
    // chihaya's restore loses every torrent's ID (its Torrent.UnmarshalJSON never stores
    // it: all 0); hayate's keeps it. Everything else is the same.
    expect((await loadTorrentRecords(c)).map((t) => t.id)).toEqual(new Array(8).fill(0));
    expect((await loadTorrentRecords(h)).map((t) => t.id)).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    const theirs = await canonicalCache(c);
    const ours = await canonicalCache(h, { torrentIds: 'zero' });
    expect(ours.torrents).toEqual(theirs.torrents);
    expect(ours.users).toEqual(theirs.users);
  });

  it("hayate's dump restored by chihaya's cc gives the original .bin back (DownMultiplier included; torrent IDs 0, chihaya's restore bug)", async () => {
    const h = await cacheIn(different);
    const original = await canonicalCache(h);
    expect(original.torrents).not.toEqual((await canonicalCache(h, { torrentIds: 'zero' })).torrents);
    await hayateCc(h, 'dump');
    const c = await folder();
    await copyFiles(h, c, dumps);
    await chihayaCc(c, 'restore');
    await hayateCc(h, 'restore');
    const theirs = await canonicalCache(c);
    expect(theirs.torrents).toEqual((await canonicalCache(h, { torrentIds: 'zero' })).torrents); // chihaya's restore: IDs 0 (above)
    expect(theirs.users).toEqual(original.users);
    expect(await readFile(join(h, 'torrent-cache.bin'))).toEqual(original.torrents); // hayate's restore: canonical order
    expect(await readFile(join(h, 'user-cache.bin'))).toEqual(original.users);
  });
});
