import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeCacheFiles } from '../src/cache/index.js';
import type { TorrentRecord, UserRecord } from '../src/cache/format.js';
import { canonicalCache } from './helpers/cache-canon.js';
import {
  loadTorrentRecords,
  loadUserRecords,
  saveTorrentRecords,
  saveUserRecords,
  TORRENT_ANON_FILE,
  USER_ANON_FILE,
} from '../src/cache/tool.js';
import { newPeer, peerKey } from '../src/store/peer.js';
import { Store } from '../src/store/store.js';
import { newTorrent, swarmToAdd, type Torrent } from '../src/store/types.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const CC = join(root, 'dist/cmd/cc.js');

// The tool as built (scripts/test.sh builds first). Rebuilding dist/ here raced other test
// files starting the tracker from it: a file caught mid-write failed their start.
beforeAll(() => {
  if (!existsSync(CC)) throw new Error(`${CC} is missing: run \`npm run build\` first (scripts/test.sh does)`);
});

async function cc(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [CC, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Adds peer n of the user to the torrent's seeders or leechers, with counters made from n. */
function addMadePeer(torrent: Torrent, userId: number, n: number, seeding: boolean): void {
  const peer = newPeer(
    peerKey(userId, `-TR3000-${String(n).padStart(12, '0')}`),
    userId,
    0x0a000000 + n,
    50000 + n,
    1_700_000_000,
    1_700_000_100 + n,
    2,
  );
  swarmToAdd(torrent, seeding).add(peer, n * 1000, seeding ? 0 : 77, seeding ? 0 : 1000);
}

/** Three users; user 11 has peers on both torrents. */
function sampleStore(): Store {
  const store = new Store();
  for (const [id, key] of [
    [11, 'a'],
    [22, 'b'],
    [33, 'c'],
  ] as const) {
    store.users.set(key.repeat(32), {
      id,
      passkey: key.repeat(32),
      upMultiplier: 2,
      downMultiplier: 0.5,
      disableDownload: id === 33,
      trackerHide: true,
    });
  }
  let n = 0;
  for (let t = 1; t <= 2; t++) {
    const torrent = newTorrent({
      id: t,
      infoHash: Buffer.alloc(20, t).toString('latin1'),
      groupId: 9,
      type: 'anime',
      snatched: t,
      lastAction: 1_700_000_000,
    });
    for (const [uid, seeding] of [
      [11, true],
      [22, false],
      [11, false],
    ] as const) {
      addMadePeer(torrent, uid, n++, seeding);
    }
    store.torrents.set(torrent.infoHash, torrent);
  }
  return store;
}

/** Records with every extreme the format holds (values chihaya's dump also holds are in chihayaSample). */
function oddTorrents(): TorrentRecord[] {
  const peer = (n: number, left: bigint | number, start: bigint | number) => ({
    key: Buffer.concat([Buffer.from([n, 0, 0, 0]), Buffer.alloc(20, n)]).toString('latin1'),
    peer: {
      peerId: Buffer.alloc(20, n).toString('latin1'),
      ip: 0xffffffff - n,
      port: n,
      uploaded: 2n ** 63n,
      downloaded: 0,
      left,
      startTime: start,
      lastAnnounce: 2n ** 63n - 1n,
      torrentId: 0xffffffff,
      userId: n,
      clientId: 0xffff,
      seeding: n % 2 === 0,
    },
  });
  return [
    {
      infoHash: Buffer.alloc(20, 0xfe).toString('latin1'),
      seeders: [peer(2, 0, -(2n ** 63n))],
      leechers: [peer(1, 2n ** 64n - 1n, 0)],
      type: 'music',
      groupId: 0xffffffff,
      id: 0xffffffff,
      snatched: 0xffff,
      status: 0xff,
      lastAction: -1,
      upMultiplier: NaN,
      downMultiplier: -0,
    },
    {
      infoHash: Buffer.alloc(20, 0).toString('latin1'),
      seeders: [],
      leechers: [],
      type: '',
      groupId: 0,
      id: 0,
      snatched: 0,
      status: 0,
      lastAction: 0,
      upMultiplier: Infinity,
      downMultiplier: -Infinity,
    },
  ];
}

function oddUsers(): UserRecord[] {
  return [
    { passkey: 'q<&>"\\', id: 0xffffffff, disableDownload: true, trackerHide: true, upMultiplier: 1e-7, downMultiplier: 1e21 },
    { passkey: '', id: 0, disableDownload: false, trackerHide: false, upMultiplier: 0.1, downMultiplier: 123456.789 },
  ];
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hayate-cc-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cc', () => {
  it("dump writes chihaya's layout and restore gives back byte-identical .bin files", async () => {
    await writeCacheFiles(dir, sampleStore());
    // Make one 64-bit field exceed 2^53 (a bigint the JSON must keep exact).
    const bin = await readFile(join(dir, 'torrent-cache.bin'));
    const firstPeerUploaded = 2 + 20 + 1 + 24 + 20 + 6;
    bin.writeBigUInt64LE(2n ** 60n + 3n, firstPeerUploaded);
    await writeFile(join(dir, 'torrent-cache.bin'), bin);
    const users = await readFile(join(dir, 'user-cache.bin'));

    const dumped = await cc(['dump'], dir);
    expect(dumped).toMatchObject({ code: 0, stdout: 'dumped 2 torrents with 6 peers, 3 users\n' });
    const json = await readFile(join(dir, 'torrent-cache.json'), 'utf8');
    // Keyed by info hash, Go's field names, tab indentation, exact 64-bit numbers.
    expect(
      json.startsWith(
        `{\n\t"${'01'.repeat(20)}": {\n\t\t"DownMultiplier": 1,\n\t\t"Group": {\n\t\t\t"GroupID": 9,\n\t\t\t"TorrentType": "anime"\n\t\t},\n\t\t"ID": 1,\n`,
      ),
    ).toBe(true);
    expect(json).toContain('\t\t\t\t"Uploaded": 1152921504606846979,\n');
    expect(json).toContain('\t\t\t\t"Addr": "10.0.0.0:50000",\n');
    expect(json.endsWith('\n\t}\n}\n')).toBe(true);
    expect(Object.keys(JSON.parse(json))).toEqual(['01'.repeat(20), '02'.repeat(20)]); // valid JSON as a whole
    const userJson = await readFile(join(dir, 'user-cache.json'), 'utf8');
    expect(
      userJson.startsWith(
        `{\n\t"${'a'.repeat(32)}": {\n\t\t"DisableDownload": false,\n\t\t"DownMultiplier": 0.5,\n\t\t"ID": 11,\n\t\t"TrackerHide": true,\n\t\t"UpMultiplier": 2\n\t},\n`,
      ),
    ).toBe(true);

    // The dump orders records as Go does (keys sorted): the restored files hold the same
    // records in that order, and dumping them again gives the same JSON byte for byte.
    const canonical = await canonicalCache(dir);
    await rm(join(dir, 'torrent-cache.bin'));
    await rm(join(dir, 'user-cache.bin'));
    const restored = await cc(['-d', dir, 'restore']);
    expect(restored).toMatchObject({ code: 0, stdout: 'restored 2 torrents with 6 peers, 3 users\n' });
    expect(await readFile(join(dir, 'torrent-cache.bin'))).toEqual(canonical.torrents);
    expect(await readFile(join(dir, 'user-cache.bin'))).toEqual(canonical.users);
    expect(canonical.torrents).not.toEqual(bin); // the sample's swarms are not in key order: the check above can fail
    expect(users).toEqual(canonical.users);
    expect((await cc(['dump'], dir)).code).toBe(0);
    expect(await readFile(join(dir, 'torrent-cache.json'), 'utf8')).toBe(json);
    expect(await readFile(join(dir, 'user-cache.json'), 'utf8')).toBe(userJson);
  });

  it('dump then restore keeps every value exact: 64-bit extremes, odd floats, empty files', async () => {
    await saveTorrentRecords(join(dir, 'torrent-cache.bin'), oddTorrents());
    await saveUserRecords(join(dir, 'user-cache.bin'), oddUsers());
    const { torrents, users } = await canonicalCache(dir);
    expect((await cc(['dump'], dir)).code).toBe(0);
    const json = await readFile(join(dir, 'torrent-cache.json'), 'utf8');
    expect(json).toContain('"Left": 18446744073709551615,');
    expect(json).toContain('"StartTime": -9223372036854775808,');
    expect(json).toContain('"UpMultiplier": "NaN"');
    expect(json).toContain('"DownMultiplier": -0,');
    await rm(join(dir, 'torrent-cache.bin'));
    await rm(join(dir, 'user-cache.bin'));
    expect((await cc(['restore'], dir)).code).toBe(0);
    expect(await readFile(join(dir, 'torrent-cache.bin'))).toEqual(torrents);
    expect(await readFile(join(dir, 'user-cache.bin'))).toEqual(users);

    // Empty caches: `{}` both ways.
    await saveTorrentRecords(join(dir, 'torrent-cache.bin'), []);
    await saveUserRecords(join(dir, 'user-cache.bin'), []);
    const emptyT = await readFile(join(dir, 'torrent-cache.bin'));
    expect((await cc(['dump'], dir)).stdout).toBe('dumped 0 torrents with 0 peers, 0 users\n');
    expect(await readFile(join(dir, 'torrent-cache.json'), 'utf8')).toBe('{}\n');
    expect((await cc(['restore'], dir)).code).toBe(0);
    expect(await readFile(join(dir, 'torrent-cache.bin'))).toEqual(emptyT);
  });

  it('restore also reads a dump reformatted (compact, other key case, unknown fields ignored)', async () => {
    await writeCacheFiles(dir, sampleStore());
    const bin = (await canonicalCache(dir)).torrents;
    expect((await cc(['dump'], dir)).code).toBe(0);
    const compact = (await readFile(join(dir, 'torrent-cache.json'), 'utf8'))
      .replace(/\n\t*/g, '')
      .replaceAll('"Seeding"', '"seeding"')
      .replaceAll('"Snatched":', '"Note":"x","Snatched":');
    await writeFile(join(dir, 'torrent-cache.json'), compact);
    expect((await cc(['restore'], dir)).code).toBe(0);
    expect(await readFile(join(dir, 'torrent-cache.bin'))).toEqual(bin);
  });

  it("anonymize keeps each user's peers together under new IDs and scrubs identifying fields", async () => {
    await writeCacheFiles(dir, sampleStore());
    const result = await cc(['anonymize', '--dir', dir]);
    expect(result).toMatchObject({ code: 0, stdout: 'anonymized 2 torrents with 6 peers, 3 users\n' });

    const users = await loadUserRecords(dir, undefined, USER_ANON_FILE);
    expect(users.map((u) => u.id)).toEqual([1, 2, 3]);
    for (const u of users) {
      expect(u.passkey).toHaveLength(32);
      expect(['a'.repeat(32), 'b'.repeat(32), 'c'.repeat(32)]).not.toContain(u.passkey);
      expect(u).toMatchObject({ upMultiplier: 1, downMultiplier: 1, trackerHide: false });
    }
    expect(users[2]!.disableDownload).toBe(true);

    const torrents = await loadTorrentRecords(dir, undefined, TORRENT_ANON_FILE);
    const original = await loadTorrentRecords(dir);
    const mapping = new Map<number, number>(); // old user -> new user, must be a function both ways
    for (let t = 0; t < torrents.length; t++) {
      const before = [...original[t]!.seeders, ...original[t]!.leechers];
      const after = [...torrents[t]!.seeders, ...torrents[t]!.leechers];
      expect(after).toHaveLength(before.length);
      after.forEach(({ key, peer }, i) => {
        const old = before[i]!.peer;
        if (!mapping.has(old.userId)) mapping.set(old.userId, peer.userId);
        expect(peer.userId).toBe(mapping.get(old.userId));
        expect(key).toBe(peerKey(peer.userId, peer.peerId));
        expect(peer.port).toBeGreaterThanOrEqual(1024);
        expect(peer.peerId).toBe(old.peerId);
      });
    }
    expect(mapping).toEqual(
      new Map([
        [11, 1],
        [22, 2],
      ]),
    );
    const ips = torrents.flatMap((t) => [...t.seeders, ...t.leechers].map((e) => e.peer.ip));
    const oldIps = original.flatMap((t) => [...t.seeders, ...t.leechers].map((e) => e.peer.ip));
    expect(ips.filter((ip) => oldIps.includes(ip))).toEqual([]);
    // The originals are untouched.
    expect(original[0]!.seeders[0]!.peer.userId).toBe(11);
  });

  it('summary counts torrents, seeders, leechers, users and lists the biggest swarms', async () => {
    const store = sampleStore();
    const big = store.torrents.get(Buffer.alloc(20, 2).toString('latin1'))!;
    addMadePeer(big, 22, 99, true);
    await writeCacheFiles(dir, store);
    const result = await cc(['summary', '--json', '-n', '1'], dir);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      torrents: 2,
      seeders: 3,
      leechers: 4,
      users: 3,
      biggestSwarms: [{ infoHash: '02'.repeat(20), id: 2, seeders: 2, leechers: 2 }],
    });
    const text = await cc(['summary'], dir);
    expect(text.stdout).toContain('torrents  2\nseeders   3\nleechers  4\nusers     3\n');
  });

  it('exit codes: 1 with one line for missing, corrupt or unknown-version files; 2 for usage', async () => {
    const missing = await cc(['dump'], dir);
    expect(missing).toMatchObject({ code: 1, stderr: `cc: torrent-cache.bin: no such file in ${dir}\n` });

    await writeCacheFiles(dir, sampleStore());
    const bin = await readFile(join(dir, 'torrent-cache.bin'));
    await writeFile(join(dir, 'torrent-cache.bin'), bin.subarray(0, 100));
    const truncated = await cc(['summary'], dir);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/^cc: torrent-cache\.bin: truncated: .* \(at byte \d+\)\n$/);

    bin[0] = 9;
    await writeFile(join(dir, 'torrent-cache.bin'), bin);
    const version = await cc(['dump'], dir);
    expect(version).toMatchObject({
      code: 1,
      stderr: 'cc: torrent-cache.bin: unknown version 9 (this build reads versions 1 to 3) (at byte 0)\n',
    });

    await writeFile(join(dir, 'user-cache.json'), '{}\n');
    const h = '01'.repeat(20);
    for (const [text, message] of [
      [`{\n\t"${h}": {\n\t\t"ID": 1\n\t}\n}\n`, `torrent-cache.json line 4: ${h}.Group: missing`],
      [`{\n\t"zz": {}\n}\n`, 'torrent-cache.json line 2: zz (info hash): expected 20 bytes as hex, got "zz"'],
      [`{\n\t"${h}": {\n`, 'torrent-cache.json line 3: invalid JSON: unexpected end of input'],
      ['[]', 'torrent-cache.json line 1: invalid JSON: expected an object'],
    ] as const) {
      await writeFile(join(dir, 'torrent-cache.json'), text);
      const badDump = await cc(['restore'], dir);
      expect(badDump.code).toBe(1);
      expect(badDump.stderr).toContain(`cc: ${message}`);
      expect(badDump.stderr.split('\n')).toHaveLength(2);
      expect(await readFile(join(dir, 'torrent-cache.bin'))).toEqual(bin); // untouched
    }
    const ok = { DisableDownload: false, DownMultiplier: 1, ID: 1, TrackerHide: false, UpMultiplier: 1 };
    await writeFile(join(dir, 'torrent-cache.json'), '{}');
    await writeFile(join(dir, 'user-cache.json'), JSON.stringify({ a: ok, b: { ...ok, ID: 2 ** 32 } }));
    const badUser = await cc(['restore'], dir);
    expect(badUser).toMatchObject({ code: 1, stderr: 'cc: user-cache.json line 1: b.ID: 4294967296 is out of range 0..4294967295\n' });
    expect(await readFile(join(dir, 'torrent-cache.bin'))).toEqual(bin); // neither file replaced
    await writeFile(join(dir, 'user-cache.json'), `{\n"a": ${JSON.stringify(ok)},\n"a": ${JSON.stringify(ok)}\n}`);
    expect(await cc(['restore'], dir)).toMatchObject({ code: 1, stderr: 'cc: user-cache.json line 3: invalid JSON: repeated key "a"\n' });

    expect((await cc([], dir)).code).toBe(2);
    const unknown = await cc(['--frob'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n')[0]).toBe("cc: unknown option '--frob'");
    expect((await cc(['frobnicate'], dir)).code).toBe(2);
    expect((await cc(['summary', '--bogus'], dir)).code).toBe(2);
    expect((await cc(['summary', '--top', 'many'], dir)).code).toBe(2);
    const help = await cc(['--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('anonymize');
  });
});
