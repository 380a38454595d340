import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { readCacheFiles, writeCacheFiles } from '../src/cache/index.js';
import { parseTrackerQuery } from '../src/protocol/query.js';
import { newPeer, peerKey } from '../src/store/peer.js';
import { Store } from '../src/store/store.js';
import { Swarm, type Counter } from '../src/store/swarm.js';
import { counterDelta, MAX_DELTA } from '../src/tracker/counters.js';
import { announceQuery, failure, harness, peerIdOf, text } from './helpers/announce.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';

/** SPEC §4 "Numbers": uploaded, downloaded, left are unsigned 64-bit; nothing wraps or rounds. */

const U63 = 9223372036854775807n; // 2^63 − 1: Transmission's left before it has the metadata
const U64 = 18446744073709551615n; // 2^64 − 1: other clients'
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

describe('parsing', () => {
  const left = (value: string) => parseTrackerQuery(`/p/announce?left=${value}`).left;
  it('accepts every unsigned 64-bit value, exactly: a number up to 2^53 − 1, a bigint above', () => {
    expect(left('0')).toBe(0);
    expect(left('007')).toBe(7);
    expect(left('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(left('9007199254740992')).toBe(9007199254740992n);
    expect(left('9223372036854775807')).toBe(U63);
    expect(left('18446744073709551615')).toBe(U64);
    expect(left('%31%38446744073709551615')).toBe(U64);
    expect(left('000000000000000000000018446744073709551615')).toBe(U64);
  });

  it('port and numwant take leading zeros as strconv.ParseUint does (chihaya), however many', () => {
    const q = parseTrackerQuery('/p/announce?port=0000000000000000000000050003&numwant=00000000000000000001');
    expect(q.port).toBe(50003);
    expect(q.numwant).toBe(1);
    expect(parseTrackerQuery('/p/announce?port=0').port).toBe(0);
    expect(Number.isNaN(parseTrackerQuery('/p/announce?port=00000000000000000000099999999999999999').port)).toBe(true);
  });

  it('refuses what is not a decimal or exceeds 2^64 − 1', () => {
    for (const bad of [
      '18446744073709551616',
      '99999999999999999999',
      '184467440737095516150',
      '-1',
      '+1',
      '1e3',
      ' 1',
      '1.0',
      '',
      '0x10',
    ]) {
      expect(Number.isNaN(left(bad)), bad).toBe(true);
    }
  });

  it('counterDelta is exact across 2^53 and saturates at 2^53 − 1 bytes', () => {
    expect(counterDelta(2n ** 63n + 1000n, 2n ** 63n)).toBe(1000);
    expect(counterDelta(U64, U64 - 1n)).toBe(1);
    expect(counterDelta(5, U64)).toBe(0);
    expect(counterDelta(2n ** 63n, 0)).toBe(MAX_DELTA);
    expect(counterDelta(Number.MAX_SAFE_INTEGER, 0)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('Swarm counters above 2^53', () => {
  it('stay exact with their peer through add, replace, swap, delete and growth past the scan limit', () => {
    const swarm = new Swarm();
    const expected = new Map<string, Counter[]>();
    const value = (i: number): Counter => (i % 3 === 0 ? U64 - BigInt(i) : i % 3 === 1 ? i * 1000 : 2n ** 53n + BigInt(i));
    for (let i = 0; i < 40; i++) {
      const p = newPeer(peerKey(1 + (i % 5), peerIdOf('-TR3000-', i)), 1 + (i % 5), 0x08080808, 6881, 0, 0, 1);
      const c: Counter[] = [value(i), value(i + 1), value(i + 2)];
      swarm.add(p, c[0]!, c[1]!, c[2]!);
      expected.set(p.key, c);
      if (i % 4 === 3) swarm.swap(0, swarm.size - 1);
      if (i % 7 === 6) {
        const gone = swarm.peers[1]!;
        swarm.delete(gone.key);
        expected.delete(gone.key);
      }
      if (i % 5 === 4) {
        const small = swarm.peers[2]!; // back to plain numbers: the exact entry must go
        swarm.setCounters(small, 1, 2, 3);
        expected.set(small.key, [1, 2, 3]);
      }
    }
    const actual = new Map(swarm.peers.map((p) => [p.key, [swarm.uploaded(p), swarm.downloaded(p), swarm.left(p)]]));
    expect(actual).toEqual(expected);
    expect(swarm.exactSnapshot()!.size).toBe([...expected.values()].filter((c) => c.some((v) => typeof v === 'bigint')).length);
  });
});

describe('announce (in memory)', () => {
  it('a left of 2^63 − 1 or 2^64 − 1 is a leecher, then a seeder on left=0 (with its snatch)', () => {
    const h = harness();
    const magnet = text(h.announce({ left: U63.toString() }).body);
    expect(magnet).toMatch(/^d8:completei0e10:downloadedi0e10:incompletei1e/);
    expect(text(h.announce({ left: U64.toString() }).body)).toMatch(/^d8:completei0e10:downloadedi0e10:incompletei1e/);
    expect(text(h.announce({ left: '1000' }).body)).toMatch(/^d8:completei0e10:downloadedi0e10:incompletei1e/);
    expect(text(h.announce({ left: 0 }).body)).toMatch(/^d8:completei1e10:downloadedi1e10:incompletei0e/);
    expect(h.accounting.histories.map((r) => r.left)).toEqual([U63, U64, 1000, 0]);
  });

  it('says the exact left in a refusal', () => {
    const h = harness();
    const pruned = h.addTorrent(2, { status: 1 });
    const res = text(h.announce({ left: U64.toString(), infoHash: Buffer.from(pruned.infoHash, 'latin1') }).body);
    expect(res).toBe(failure(`This torrent does not exist (status: 1, left: ${U64})`, 900));
  });

  it('keeps counters above 2^53 exact through the cache files', async () => {
    const h = harness();
    h.announce({
      left: U63.toString(),
      uploaded: (2n ** 63n + 7n).toString(),
      downloaded: U64.toString(),
      peerId: peerIdOf('-TR3000-', 1),
    });
    h.announce({ left: '5', uploaded: 10, downloaded: 20, peerId: peerIdOf('-TR3000-', 2) });
    const dir = mkdtempSync(join(tmpdir(), 'hayate-numbers-'));
    try {
      await writeCacheFiles(dir, h.store);
      const read = await readCacheFiles(dir);
      expect(read.errors).toEqual([]);
      const store = new Store();
      store.torrents = read.torrents;
      const leechers = store.torrents.get(h.torrent.infoHash)!.leechers;
      const counters = new Map(
        leechers.peers.map((p) => [p.key.slice(4), [leechers.uploaded(p), leechers.downloaded(p), leechers.left(p)]]),
      );
      expect(counters).toEqual(
        new Map([
          [peerIdOf('-TR3000-', 1), [2n ** 63n + 7n, U64, U63]],
          [peerIdOf('-TR3000-', 2), [10, 20, 5]],
        ]),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('numbers over HTTP, accounted in MariaDB', () => {
  let t: RunningTracker;
  const hash = infoHashBytes(torrents.sameGroupOtherType);
  const uid = users.normal.id;
  const fid = torrents.sameGroupOtherType.id;
  beforeAll(async () => {
    t = await startTracker();
  });
  afterAll(() => t.close());

  const announce = async (
    peer: number,
    params: { uploaded?: bigint | number; downloaded?: bigint | number; left: bigint | number; event?: string },
  ) => {
    const res = await t.get(
      `/${users.normal.passkey}/announce${announceQuery({
        infoHash: hash,
        peerId: peerIdOf('-TR3000-', peer),
        uploaded: String(params.uploaded ?? 0),
        downloaded: String(params.downloaded ?? 0),
        left: String(params.left),
        ...(params.event ? { event: params.event } : {}),
        ip: '8.8.8.8',
      })}`,
    );
    const body = res.body.toString('latin1');
    expect(body).toMatch(/^d8:complete/);
    return body;
  };

  /** One row's columns as exact bigints (each selected column is cast to text in `sql`). */
  const columns = async (sql: string): Promise<Record<string, bigint>> => {
    const [rows] = await t.db.conn.query<RowDataPacket[]>(sql);
    const row = rows[0];
    if (row === undefined) return {};
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, BigInt(v as string)]));
  };
  const user = () =>
    columns(
      `SELECT CAST(Uploaded AS CHAR) AS Uploaded, CAST(Downloaded AS CHAR) AS Downloaded, CAST(rawup AS CHAR) AS rawup, CAST(rawdl AS CHAR) AS rawdl FROM users_main WHERE ID = ${uid}`,
    );
  const history = () =>
    columns(
      `SELECT CAST(uploaded AS CHAR) AS uploaded, CAST(downloaded AS CHAR) AS downloaded, CAST(remaining AS CHAR) AS remaining FROM transfer_history WHERE uid = ${uid} AND fid = ${fid}`,
    );
  const ips = () =>
    columns(
      `SELECT CAST(uploaded AS CHAR) AS uploaded, CAST(downloaded AS CHAR) AS downloaded FROM transfer_ips WHERE uid = ${uid} AND fid = ${fid}`,
    );
  /** Waits until the flushers have written what `check` expects. */
  const until = <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string) =>
    eventually(
      async () => {
        const v = await read();
        return ok(v) ? v : undefined;
      },
      15_000,
      what,
    );

  it('a magnet announces left = 2^63 − 1, then 2^64 − 1, then its real left: a leecher throughout, remaining exact (2^64 − 1 saturated to BIGINT)', async () => {
    expect(await announce(1, { left: U63 })).toContain('10:incompletei1e');
    await until(history, (h) => h['remaining'] === U63, 'remaining = 2^63 − 1');
    expect(await announce(1, { left: U64 })).toContain('10:incompletei1e');
    await until(history, (h) => h['remaining'] === U63, 'remaining = 2^63 − 1 for left 2^64 − 1');
    expect(await announce(1, { left: 123_456_789 })).toContain('10:incompletei1e');
    await until(history, (h) => h['remaining'] === 123_456_789n, 'remaining = real left');
    await announce(1, { left: 0, event: 'completed' });
    await until(history, (h) => h['remaining'] === 0n, 'remaining = 0 once complete');
    await announce(1, { left: 0, event: 'stopped' });
  });

  it('uploaded deltas of 2^63 and 2^64 − 1 are credited saturated at 2^53 − 1, exact deltas between huge counters, in every table', async () => {
    const u0 = await user();
    const h0 = await history();
    // A fresh peer: its counters are the baseline.
    await announce(2, { uploaded: 0, downloaded: 0, left: 500 });
    await announce(2, { uploaded: 2n ** 63n, downloaded: 0, left: 500 }); // delta 2^63
    const u1 = await until(user, (u) => u['rawup'] === u0['rawup']! + SAFE, 'rawup += 2^53 − 1');
    expect(u1['Uploaded']).toBe(u0['Uploaded']! + SAFE);
    await until(history, (h) => h['uploaded'] === h0['uploaded']! + SAFE, 'transfer_history.uploaded += 2^53 − 1');
    await until(ips, (i) => i['uploaded'] === SAFE, 'transfer_ips.uploaded = 2^53 − 1');

    await announce(2, { uploaded: 2n ** 63n + 1000n, downloaded: U64, left: 500 }); // exact +1000 up; down 0 → 2^64 − 1
    const u2 = await until(
      user,
      (u) => u['rawup'] === u1['rawup']! + 1000n && u['rawdl'] === u0['rawdl']! + SAFE,
      'exact +1000, saturated down',
    );
    expect(u2['Uploaded']).toBe(u1['Uploaded']! + 1000n);
    expect(u2['Downloaded']).toBe(u0['Downloaded']! + SAFE);
    await until(ips, (i) => i['uploaded'] === SAFE + 1000n && i['downloaded'] === SAFE, 'transfer_ips exact');

    await announce(2, { uploaded: U64, downloaded: U64, left: 500 }); // delta 2^63 − 1001: saturated
    // Written before the next delta joins it: a round's row that sums past 2^53 − 1 saturates too.
    await until(user, (u) => u['rawup'] === u2['rawup']! + SAFE, 'rawup += 2^53 − 1 again');
    await announce(2, { uploaded: 5, downloaded: 0, left: 500 }); // a restart: counters went back, nothing credited
    await announce(2, { uploaded: 105, downloaded: 7, left: 500 }); // then exact again
    const u3 = await until(user, (u) => u['rawup'] === u2['rawup']! + SAFE + 100n, 'rawup after restart');
    expect(u3['rawdl']).toBe(u2['rawdl']! + 7n);
    await until(ips, (i) => i['uploaded'] === 2n * SAFE + 1100n && i['downloaded'] === SAFE + 7n, 'transfer_ips after restart');
  });

  it('additive columns saturate at their maximum instead of overflowing (no batch lost)', async () => {
    await t.db.conn.query(`UPDATE users_main SET rawup = ${U64 - 10n}, Uploaded = ${U64 - 10n} WHERE ID = ${uid}`);
    await t.db.conn.query(`UPDATE transfer_history SET uploaded = ${U63 - 10n} WHERE uid = ${uid} AND fid = ${fid}`);
    await t.db.conn.query(`UPDATE transfer_ips SET uploaded = ${U64 - 10n} WHERE uid = ${uid} AND fid = ${fid}`);
    await announce(3, { uploaded: 0, left: 500 });
    await announce(3, { uploaded: 2n ** 63n, left: 77 });
    await until(user, (u) => u['rawup'] === U64 && u['Uploaded'] === U64, 'users_main saturated at 2^64 − 1');
    const h = await until(history, (r) => r['uploaded'] === U63, 'transfer_history.uploaded saturated at 2^63 − 1');
    expect(h['remaining']).toBe(77n); // the rest of the row was written with it
    await until(ips, (i) => i['uploaded'] === U64, 'transfer_ips saturated at 2^64 − 1');
  });
});
