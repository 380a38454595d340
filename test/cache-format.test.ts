import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChunkWriter } from '../src/cache/binary.js';
import { Pacer, writeTorrentsBody } from '../src/cache/files.js';
import type { PeerEntry, TorrentRecord } from '../src/cache/format.js';
import { readCacheFiles, writeCacheFiles } from '../src/cache/index.js';
import { ipToString, newPeer, peerIdOf, peerKey, type Peer } from '../src/store/peer.js';
import { Store } from '../src/store/store.js';
import { newTorrent, swarmToAdd } from '../src/store/types.js';

// ---- hand-built bytes, field by field from SPEC §7 (not via the writer under test)

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function i64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n);
  return b;
}
function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}
function f64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return b;
}
function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

const HASH_A = Buffer.from('aa'.repeat(20), 'hex');
const PEER_ID_1 = Buffer.from('-TR3000-aaaaaaaaaaaa', 'latin1');
const PEER_ID_2 = Buffer.from('-qB4650-bbbbbbbbbbbb', 'latin1');

function handPeer(o: {
  peerId: Buffer;
  ip: number[];
  port: number;
  up: bigint;
  down: bigint;
  left: bigint;
  start: bigint;
  last: bigint;
  tid: number;
  uid: number;
  client: number;
  seeding: number;
}): Buffer {
  const addr = Buffer.from([...o.ip, (o.port >> 8) & 0xff, o.port & 0xff]);
  return Buffer.concat([
    o.peerId,
    addr,
    u64(o.up),
    u64(o.down),
    u64(o.left),
    i64(o.start),
    i64(o.last),
    u32(o.tid),
    u32(o.uid),
    u16(o.client),
    Buffer.from([o.seeding]),
  ]);
}

function handKey(uid: number, peerId: Buffer): Buffer {
  return Buffer.concat([u32(uid), peerId]);
}

/** One torrent: a seeder of user 7 and a leecher of user 9. */
function handTorrentFile(): Buffer {
  const seeder = handPeer({
    peerId: PEER_ID_1,
    ip: [192, 0, 2, 10],
    port: 51413,
    up: 5_000_000_000n,
    down: 0n,
    left: 0n,
    start: 1_700_000_000n,
    last: 1_700_000_900n,
    tid: 42,
    uid: 7,
    client: 3,
    seeding: 1,
  });
  const leecher = handPeer({
    peerId: PEER_ID_2,
    ip: [198, 51, 100, 7],
    port: 6881,
    up: 10n,
    down: 2048n,
    left: 4096n,
    start: 1_700_000_100n,
    last: 1_700_000_800n,
    tid: 42,
    uid: 9,
    client: 4,
    seeding: 0,
  });
  const type = Buffer.alloc(8);
  type.write('anime', 'latin1');
  return Buffer.concat([
    uvarint(3),
    uvarint(1),
    HASH_A,
    uvarint(1),
    handKey(7, PEER_ID_1),
    seeder,
    uvarint(1),
    handKey(9, PEER_ID_2),
    leecher,
    type,
    u32(1234),
    u32(42),
    u16(17),
    Buffer.from([1]),
    i64(1_700_000_950n),
    f64(2),
    f64(0.5),
  ]);
}

function handUserFile(): Buffer {
  const passkey = Buffer.from('abcdefghijklmnopqrstuvwxyz012345', 'latin1');
  return Buffer.concat([
    uvarint(1),
    uvarint(2),
    uvarint(32),
    passkey,
    u32(7),
    Buffer.from([0, 1]),
    f64(1.5),
    f64(0),
    uvarint(3),
    Buffer.from('xyz'),
    u32(9),
    Buffer.from([1, 0]),
    f64(1),
    f64(1),
  ]);
}

// ---- a hand-written reader for checking the writer's output

function parseTorrentFile(buf: Buffer) {
  let pos = 0;
  const varint = () => {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = buf[pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  };
  const take = (n: number) => buf.subarray(pos, (pos += n));
  const version = varint();
  const count = varint();
  const torrents = [];
  for (let i = 0; i < count; i++) {
    const hash = take(20).toString('hex');
    const swarms = [];
    for (let s = 0; s < 2; s++) {
      const n = varint();
      const peers = [];
      for (let p = 0; p < n; p++) {
        const key = take(24);
        const peerId = take(20).toString('latin1');
        const addr = take(6);
        peers.push({
          keyUser: key.readUInt32LE(0),
          keyPeerId: key.subarray(4).toString('latin1'),
          peerId,
          ip: `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`,
          port: addr.readUInt16BE(4),
          uploaded: take(8).readBigUInt64LE(0),
          downloaded: take(8).readBigUInt64LE(0),
          left: take(8).readBigUInt64LE(0),
          startTime: take(8).readBigInt64LE(0),
          lastAnnounce: take(8).readBigInt64LE(0),
          torrentId: take(4).readUInt32LE(0),
          userId: take(4).readUInt32LE(0),
          clientId: take(2).readUInt16LE(0),
          seeding: take(1)[0],
        });
      }
      swarms.push(peers);
    }
    const type = take(8).toString('latin1').replace(/\0+$/, '');
    torrents.push({
      hash,
      seeders: swarms[0]!,
      leechers: swarms[1]!,
      type,
      groupId: take(4).readUInt32LE(0),
      id: take(4).readUInt32LE(0),
      snatched: take(2).readUInt16LE(0),
      status: take(1)[0],
      lastAction: take(8).readBigInt64LE(0),
      up: take(8).readDoubleLE(0),
      down: take(8).readDoubleLE(0),
    });
  }
  return { version, count, torrents, rest: buf.length - pos };
}

/** A model peer; its counters are given when it is added to a swarm. */
function peer(f: { peerId: string; userId: number; ip?: number; port?: number }): Peer {
  return newPeer(peerKey(f.userId, f.peerId), f.userId, f.ip ?? 0xc000020a, f.port ?? 51413, 1_700_000_000, 1_700_000_500, 1);
}

/**
 * Runs `step(tick)` (tick 1, 2, …) on every turn of the event loop until stopped: the
 * announces that change swarms between a writer's yields.
 */
function onEveryTurn(step: (tick: number) => void): { readonly ticks: number; stop(): void } {
  let ticks = 0;
  let stopped = false;
  const turn = () => {
    if (stopped) return;
    step(++ticks);
    setImmediate(turn);
  };
  setImmediate(turn);
  return {
    get ticks() {
      return ticks;
    },
    stop() {
      stopped = true;
    },
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hayate-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('reading cache files', () => {
  it('loads hand-built bytes into the right torrents, peers and users', async () => {
    await writeFile(join(dir, 'torrent-cache.bin'), handTorrentFile());
    await writeFile(join(dir, 'user-cache.bin'), handUserFile());
    const { torrents, users, errors } = await readCacheFiles(dir);
    expect(errors).toEqual([]);
    const t = torrents.get(HASH_A.toString('latin1'))!;
    expect(t).toMatchObject({
      id: 42,
      groupId: 1234,
      type: 'anime',
      snatched: 17,
      status: 1,
      lastAction: 1_700_000_950,
      upMultiplier: 2,
      downMultiplier: 0.5,
    });
    expect(t.seeders.size).toBe(1);
    expect(t.leechers.size).toBe(1);
    const s = t.seeders.get(peerKey(7, PEER_ID_1.toString('latin1')))!;
    // The model peer holds the address signed (a small integer) and no torrent ID, seeding flag or counters: its swarm holds those.
    expect(s).toMatchObject({
      key: peerKey(7, PEER_ID_1.toString('latin1')),
      ip: 0xc000020a | 0,
      port: 51413,
      startTime: 1_700_000_000,
      lastAnnounce: 1_700_000_900,
      userId: 7,
      clientId: 3,
    });
    expect([t.seeders.uploaded(s), t.seeders.downloaded(s), t.seeders.left(s)]).toEqual([5_000_000_000, 0, 0]);
    expect(peerIdOf(s)).toBe(PEER_ID_1.toString('latin1'));
    const l = t.leechers.get(peerKey(9, PEER_ID_2.toString('latin1')))!;
    expect(l).toMatchObject({ ip: (198 * 2 ** 24 + (51 << 16) + (100 << 8) + 7) | 0, port: 6881, userId: 9, clientId: 4 });
    expect([t.leechers.uploaded(l), t.leechers.downloaded(l), t.leechers.left(l)]).toEqual([10, 2048, 4096]);
    expect(ipToString(l.ip)).toBe('198.51.100.7');
    expect(users.get('abcdefghijklmnopqrstuvwxyz012345')).toMatchObject({
      id: 7,
      passkey: 'abcdefghijklmnopqrstuvwxyz012345',
      disableDownload: false,
      trackerHide: true,
      upMultiplier: 1.5,
      downMultiplier: 0,
    });
    expect(users.get('xyz')).toMatchObject({ id: 9, disableDownload: true, trackerHide: false });
  });

  it('missing files are empty, not errors', async () => {
    const r = await readCacheFiles(dir);
    expect(r.errors).toEqual([]);
    expect(r.torrents.size).toBe(0);
    expect(r.users.size).toBe(0);
  });

  it('truncation at every offset gives an error naming the file, never a throw', async () => {
    const full = handTorrentFile();
    const users = handUserFile();
    await writeFile(join(dir, 'user-cache.bin'), users);
    for (let cut = 0; cut < full.length; cut++) {
      await writeFile(join(dir, 'torrent-cache.bin'), full.subarray(0, cut));
      const r = await readCacheFiles(dir);
      expect(r.torrents.size, `cut at ${cut}`).toBe(0);
      expect(r.errors, `cut at ${cut}`).toHaveLength(1);
      expect(r.errors[0]).toMatch(/^torrent-cache\.bin: /);
      expect(r.users.size).toBe(2); // the other file is independent
    }
    await writeFile(join(dir, 'torrent-cache.bin'), full);
    const fullUsers = handUserFile();
    for (let cut = 0; cut < fullUsers.length; cut++) {
      await writeFile(join(dir, 'user-cache.bin'), fullUsers.subarray(0, cut));
      const r = await readCacheFiles(dir);
      expect(r.errors, `cut at ${cut}`).toHaveLength(1);
      expect(r.errors[0]).toMatch(/^user-cache\.bin: /);
      expect(r.users.size).toBe(0);
    }
  });

  it('names the offset and what was expected', async () => {
    const full = handTorrentFile();
    await writeFile(join(dir, 'torrent-cache.bin'), full.subarray(0, full.length - 5));
    await writeFile(join(dir, 'user-cache.bin'), handUserFile().subarray(0, 30));
    const r = await readCacheFiles(dir);
    expect(r.errors).toEqual([
      `torrent-cache.bin: truncated: expected DownMultiplier (8 bytes), 3 left (at byte ${full.length - 8})`,
      'user-cache.bin: truncated: passkey claims 32 bytes, 27 left (at byte 3)',
    ]);
  });

  it('an unknown version is a clear error', async () => {
    const bytes = handTorrentFile();
    bytes[0] = 4;
    await writeFile(join(dir, 'torrent-cache.bin'), bytes);
    await writeFile(join(dir, 'user-cache.bin'), Buffer.concat([uvarint(200), uvarint(0)]));
    const r = await readCacheFiles(dir);
    expect(r.errors).toEqual([
      'torrent-cache.bin: unknown version 4 (this build reads versions 1 to 3) (at byte 0)',
      'user-cache.bin: unknown version 200 (this build reads versions 1 to 1) (at byte 0)',
    ]);
  });

  it('a huge claimed peer count or trailing garbage is corruption, not an allocation or a silent load', async () => {
    const bytes = Buffer.concat([uvarint(3), uvarint(1), HASH_A, uvarint(2 ** 40)]);
    await writeFile(join(dir, 'torrent-cache.bin'), bytes);
    await writeFile(join(dir, 'user-cache.bin'), Buffer.concat([handUserFile(), Buffer.from([0])]));
    const r = await readCacheFiles(dir);
    expect(r.errors[0]).toMatch(/torrent-cache\.bin: truncated: \d+ seeders cannot fit/);
    expect(r.errors[1]).toMatch(/user-cache\.bin: 1 unexpected bytes after the last of 2 records/);
  });
});

describe('writing cache files', () => {
  function sampleStore(): Store {
    const store = new Store();
    const t = newTorrent({
      id: 42,
      infoHash: HASH_A.toString('latin1'),
      groupId: 1234,
      type: 'music',
      snatched: 70_000,
      lastAction: 1_700_000_950,
      downMultiplier: 0,
    });
    const p1 = peer({ peerId: PEER_ID_1.toString('latin1'), userId: 7 });
    const p2 = peer({ peerId: PEER_ID_2.toString('latin1'), userId: 9, ip: 0x0a000001, port: 1025 });
    swarmToAdd(t, true).add(p1, 2 ** 40, 0, 0);
    swarmToAdd(t, false).add(p2, 0, 0, 100);
    store.torrents.set(t.infoHash, t);
    store.users.set('k'.repeat(32), {
      id: 7,
      passkey: 'k'.repeat(32),
      upMultiplier: 1,
      downMultiplier: 0.25,
      disableDownload: true,
      trackerHide: false,
    });
    return store;
  }

  it('produces bytes a hand-written reader parses field by field', async () => {
    const result = await writeCacheFiles(dir, sampleStore());
    expect(result).toMatchObject({ torrents: 1, peers: 2, users: 1 });
    const parsed = parseTorrentFile(await readFile(join(dir, 'torrent-cache.bin')));
    expect(parsed).toMatchObject({ version: 3, count: 1, rest: 0 });
    const t = parsed.torrents[0]!;
    expect(t).toMatchObject({
      hash: 'aa'.repeat(20),
      type: 'music',
      groupId: 1234,
      id: 42,
      snatched: 65535,
      status: 0,
      lastAction: 1_700_000_950n,
      up: 1,
      down: 0,
    });
    expect(t.seeders).toEqual([
      {
        keyUser: 7,
        keyPeerId: PEER_ID_1.toString('latin1'),
        peerId: PEER_ID_1.toString('latin1'),
        ip: '192.0.2.10',
        port: 51413,
        uploaded: 2n ** 40n,
        downloaded: 0n,
        left: 0n,
        startTime: 1_700_000_000n,
        lastAnnounce: 1_700_000_500n,
        torrentId: 42,
        userId: 7,
        clientId: 1,
        seeding: 1,
      },
    ]);
    expect(t.leechers[0]).toMatchObject({ keyUser: 9, ip: '10.0.0.1', port: 1025, left: 100n, seeding: 0 });
    const users = await readFile(join(dir, 'user-cache.bin'));
    expect(users).toEqual(
      Buffer.concat([uvarint(1), uvarint(1), uvarint(32), Buffer.from('k'.repeat(32)), u32(7), Buffer.from([1, 0]), f64(1), f64(0.25)]),
    );
    expect((await readdir(dir)).sort()).toEqual(['torrent-cache.bin', 'user-cache.bin']); // no .tmp left
  });

  it('hand-built bytes read then written come back identical', async () => {
    await writeFile(join(dir, 'torrent-cache.bin'), handTorrentFile());
    await writeFile(join(dir, 'user-cache.bin'), handUserFile());
    const { torrents, users } = await readCacheFiles(dir);
    const store = new Store();
    store.torrents = torrents;
    store.users = users;
    const out = await mkdtemp(join(tmpdir(), 'hayate-cache-out-'));
    try {
      await writeCacheFiles(out, store);
      expect(await readFile(join(out, 'torrent-cache.bin'))).toEqual(handTorrentFile());
      expect(await readFile(join(out, 'user-cache.bin'))).toEqual(handUserFile());
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('keeps announces running: swarms changing between yields are written consistently', async () => {
    const store = new Store();
    const hashes: string[] = [];
    for (let i = 0; i < 50; i++) {
      const hash = Buffer.alloc(20, i).toString('latin1');
      hashes.push(hash);
      const t = newTorrent({
        id: i + 1,
        infoHash: hash,
        groupId: 1,
        type: 'anime',
      });
      for (let u = 0; u < 40; u++) {
        const p = peer({ peerId: `-TR3000-${String(u).padStart(12, '0')}`, userId: u + 1 });
        swarmToAdd(t, true).add(p, u, 0, 0);
      }
      store.torrents.set(hash, t);
    }
    // Mutate the store on every yield: drop a torrent, add one, remove and add peers.
    const churn = onEveryTurn((ticks) => {
      const victim = hashes[ticks % hashes.length]!;
      const t = store.torrents.get(victim);
      if (t) {
        const first = t.seeders.peers[0];
        if (first) t.seeders.delete(first.key);
        const p = peer({ peerId: `-qB4650-${String(ticks).padStart(12, '0')}`, userId: 1000 + ticks });
        swarmToAdd(t, false).add(p, ticks, 0, 1);
      }
      if (ticks % 7 === 0) store.torrents.delete(hashes[(ticks * 3) % hashes.length]!);
    });
    const result = await writeCacheFiles(dir, store, { yieldEvery: 16 });
    churn.stop();
    expect(churn.ticks).toBeGreaterThan(10); // the event loop really ran during the write
    const parsed = parseTorrentFile(await readFile(join(dir, 'torrent-cache.bin')));
    expect(parsed.rest).toBe(0);
    expect(parsed.count).toBe(result.torrents);
    let peers = 0;
    for (const t of parsed.torrents) {
      peers += t.seeders.length + t.leechers.length;
      for (const p of [...t.seeders, ...t.leechers]) {
        expect(p.keyUser).toBe(p.userId);
        expect(p.keyPeerId).toBe(p.peerId);
        expect(p.torrentId).toBe(t.id); // written from the torrent being written
      }
      for (const p of t.seeders) expect(p.seeding).toBe(1);
      for (const p of t.leechers) expect(p.seeding).toBe(0);
    }
    expect(peers).toBe(result.peers);
    const back = await readCacheFiles(dir);
    expect(back.errors).toEqual([]);
    expect(back.torrents.size).toBe(result.torrents);
  });

  it('a swarm that grows while the writer waits for room is written whole: the count is read after the wait', async () => {
    // Small chunks, so the writer often awaits a flush (and the slice end) before a torrent;
    // every turn of the event loop adds a peer to every torrent, from 1 up to 12 and again
    // (below the 16-record slice, so each is written in one go from the live arrays).
    const entry = (torrentId: number, userId: number): PeerEntry => {
      const peerId = `-TR3000-${String(userId).padStart(12, '0')}`;
      const key = Buffer.alloc(4);
      key.writeUInt32LE(userId);
      return {
        key: key.toString('latin1') + peerId,
        peer: {
          peerId,
          ip: 0xc000020a,
          port: 51413,
          uploaded: userId,
          downloaded: 0,
          left: 0,
          startTime: 1_700_000_000,
          lastAnnounce: 1_700_000_500,
          torrentId,
          userId,
          clientId: 1,
          seeding: true,
        },
      };
    };
    let nextUser = 1;
    const torrents: TorrentRecord[] = Array.from({ length: 40 }, (_, i) => ({
      infoHash: Buffer.alloc(20, i + 1).toString('latin1'),
      seeders: [entry(i + 1, nextUser++)],
      leechers: [],
      type: 'anime',
      groupId: 1,
      id: i + 1,
      snatched: 0,
      status: 0,
      lastAction: 1_700_000_000,
      upMultiplier: 1,
      downMultiplier: 1,
    }));
    const grow = onEveryTurn(() => {
      for (const t of torrents) {
        if (t.seeders.length >= 12) t.seeders.length = 1;
        t.seeders.push(entry(t.id, nextUser++));
      }
    });
    const chunks: Buffer[] = [];
    const w = new ChunkWriter(async (chunk) => {
      chunks.push(Buffer.from(chunk));
      await new Promise((resolve) => setImmediate(resolve));
    }, 512);
    const written = await writeTorrentsBody(
      w,
      torrents,
      { peerCount: (t) => t.seeders.length + t.leechers.length, swarms: (t) => t },
      new Pacer(16),
    );
    await w.flush();
    grow.stop();
    expect(grow.ticks).toBeGreaterThan(5);
    const parsed = parseTorrentFile(Buffer.concat(chunks));
    expect(parsed.rest).toBe(0);
    expect(parsed.count).toBe(40);
    let peers = 0;
    for (const t of parsed.torrents) {
      for (const p of t.seeders) {
        expect(p.torrentId).toBe(t.id);
        expect(p.uploaded).toBe(BigInt(p.userId));
      }
      peers += t.seeders.length;
    }
    expect(peers).toBe(written);
    expect(peers).toBeGreaterThan(40);
  });

  // Slices of 16: swarms of 1–40 peers, the small ones (kept in exact arrays, replaced on every
  // add) written in one go, the big ones copied. Slices of 64: swarms of 17–76 peers, big
  // swarms (one array each, changed in place) written in one go up to 63 peers.
  it.each([
    { slice: 16, size: (i: number) => (i % 40) + 1 },
    { slice: 64, size: (i: number) => 17 + (i % 60) },
  ])(
    'writes every peer with its own counters in slices of $slice, in one go and from copies, while swarms change',
    async ({ slice, size }) => {
      // On every yield each swarm loses a seeder (the last one moves into its slot), gains a
      // peer, and has its first and last peers swapped (as the peer choice does). Each peer's
      // counters are made from its user ID, so a counter written from another peer's slot, or a
      // swarm read in place across a yield, shows.
      const counters = (userId: number) => [userId * 1000, userId * 1000 + 1, userId * 1000 + 2] as const;
      const huge = 2n ** 60n; // users above 5000 announce an exact counter past 2^53
      const expectedUploaded = (userId: number) => (userId > 5000 ? huge + BigInt(userId) : BigInt(userId * 1000));
      const add = (t: ReturnType<typeof newTorrent>, seeding: boolean, userId: number, tag: string) => {
        const [up, down, left] = counters(userId);
        swarmToAdd(t, seeding).add(
          peer({ peerId: `-TR3000-${tag.padStart(12, '0')}`, userId }),
          userId > 5000 ? huge + BigInt(userId) : up,
          down,
          left,
        );
      };
      const store = new Store();
      const hashes: string[] = [];
      let nextUser = 1;
      for (let i = 0; i < 60; i++) {
        const hash = Buffer.alloc(20, i).toString('latin1');
        hashes.push(hash);
        const t = newTorrent({ id: i + 1, infoHash: hash, groupId: 1, type: 'anime' });
        for (let u = 0; u < size(i); u++) add(t, u % 3 !== 0, nextUser++, `${i}-${u}`);
        store.torrents.set(hash, t);
      }
      const churn = onEveryTurn((ticks) => {
        for (const hash of hashes) {
          const t = store.torrents.get(hash)!;
          const first = t.seeders.peers[0];
          if (first !== undefined && t.seeders.size > 1) t.seeders.delete(first.key);
          add(t, ticks % 2 === 0, ticks % 5 === 0 ? 5000 + ticks : 2000 + ticks, `c${ticks}-${t.id}`);
          for (const swarm of [t.seeders, t.leechers]) if (swarm.size > 1) swarm.swap(0, swarm.size - 1);
        }
      });
      const result = await writeCacheFiles(dir, store, { yieldEvery: slice });
      churn.stop();
      expect(churn.ticks).toBeGreaterThan(10);
      const parsed = parseTorrentFile(await readFile(join(dir, 'torrent-cache.bin')));
      expect(parsed.rest).toBe(0);
      let peers = 0;
      for (const t of parsed.torrents) {
        for (const [list, seeding] of [
          [t.seeders, 1],
          [t.leechers, 0],
        ] as const) {
          for (const p of list) {
            peers++;
            expect(p.keyUser).toBe(p.userId);
            expect(p.torrentId).toBe(t.id);
            expect(p.seeding).toBe(seeding);
            expect(p.uploaded).toBe(expectedUploaded(p.userId));
            expect(p.downloaded).toBe(BigInt(p.userId * 1000 + 1));
            expect(p.left).toBe(BigInt(p.userId * 1000 + 2));
          }
        }
      }
      expect(peers).toBe(result.peers);
      expect(peers).toBeGreaterThan(1000);
    },
  );
});
