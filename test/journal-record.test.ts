import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AccountingSink } from '../src/accounting/sink.js';
import { Journal, recoverFromJournal } from '../src/journal/index.js';
import { silentLogger } from '../src/log.js';
import { peerKey } from '../src/store/peer.js';
import { Store } from '../src/store/store.js';
import { newTorrent } from '../src/store/types.js';
import { KIND_ANNOUNCE, Offset, RECORD_SIZE, crc32, recordIntact, sealRecord } from '../src/journal/record.js';

/** CRC-32 one bit at a time, straight from the polynomial: the reference the table-driven one must equal. */
function bitwiseCrc32(buf: Uint8Array, from: number, to: number): number {
  let c = 0xffffffff;
  for (let i = from; i < to; i++) {
    c ^= buf[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('journal record CRC-32', () => {
  it('gives the standard check value', () => {
    expect(crc32(Buffer.from('123456789', 'latin1'), 0, 9)).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0), 0, 0)).toBe(0);
  });

  it('equals the bit-at-a-time CRC for every offset and length mod 8', () => {
    const buf = Buffer.alloc(600);
    let x = 12345;
    for (let i = 0; i < buf.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      buf[i] = x >>> 24;
    }
    for (let from = 0; from < 17; from++) {
      for (let length = 0; length < 200; length++) {
        expect(crc32(buf, from, from + length)).toBe(bitwiseCrc32(buf, from, from + length));
      }
    }
    expect(crc32(buf, 3, 600)).toBe(bitwiseCrc32(buf, 3, 600));
  });

  it('seals a record so that any flipped bit is seen', () => {
    const buf = Buffer.alloc(RECORD_SIZE * 3);
    const at = RECORD_SIZE;
    buf[at + Offset.kind] = KIND_ANNOUNCE;
    for (let i = at + Offset.kind + 1; i < at + RECORD_SIZE; i++) buf[i] = (i * 31) & 0xff;
    sealRecord(buf, at);
    expect(recordIntact(buf, at)).toBe(true);
    for (let i = at; i < at + RECORD_SIZE; i++) {
      for (const bit of [0x01, 0x80]) {
        buf[i]! ^= bit;
        expect(recordIntact(buf, at)).toBe(false);
        buf[i]! ^= bit;
      }
    }
    expect(recordIntact(buf, at)).toBe(true);
  });
});

describe('journal record fields', () => {
  /** Every accounting call, as recovery queues it again. */
  function recordingSink(calls: unknown[][]): AccountingSink {
    return {
      user: (...a) => void calls.push(['user', ...a]),
      torrent: (...a) => void calls.push(['torrent', ...a]),
      transferHistory: (...a) => void calls.push(['transferHistory', ...a]),
      transferIp: (...a) => void calls.push(['transferIp', ...a]),
      transferIp6: (...a) => void calls.push(['transferIp6', ...a]),
      snatch: (...a) => void calls.push(['snatch', ...a]),
      revive: (...a) => void calls.push(['revive', ...a]),
    };
  }

  it('read back by the replay as written, 64-bit counters exact', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hayate-journal-record-'));
    try {
      const written: unknown[][] = [];
      const journal = new Journal(recordingSink(written), { dir, fdatasync: false, segmentBytes: 1 << 20, logger: silentLogger() });
      journal.start(1);
      const max64 = 2n ** 64n - 1n;
      const magnetLeft = 2n ** 63n - 1n;
      const now = 1_790_000_123;
      // A leecher of torrent 4,000,000,001 (above 2^31) whose counters overflow a double's integers.
      journal.user(4_000_000_007, 3_000_000_000_123, 17, 6_000_000_000_246, 0);
      journal.torrent(4_000_000_001, 1, 2, 3, now);
      journal.transferHistory(4_000_000_007, 4_000_000_001, 3_000_000_000_123, 17, 1800, 0, 1, false, magnetLeft, now, now - 1800, true);
      journal.transferIp(4_000_000_007, 4_000_000_001, 0xc0a80102, 65_000, 3_000_000_000_123, 17, 51_413, now, now - 1800);
      journal.announced(
        4_000_000_007,
        4_000_000_001,
        '-qB4650-\u00ff\u0080abcdefghij',
        0xc0a80102,
        51_413,
        65_000,
        now - 1800,
        now,
        max64,
        2n ** 53n + 1n,
        magnetLeft,
        1,
      );
      // A seeder with plain numbers, then one that stopped.
      journal.announced(9, 4_000_000_001, '-TR3000-000000000009', 0x08080808, 6881, 2, now - 60, now, 12_345, 0, 0, 2);
      journal.announced(10, 4_000_000_001, '-TR3000-000000000010', 0x08080808, 6882, 2, now - 60, now, 1, 1, 1, 1);
      journal.announced(10, 4_000_000_001, '-TR3000-000000000010', 0x08080808, 6882, 2, now - 60, now, 1, 1, 1, 0);
      journal.close();

      const store = new Store();
      const torrent = newTorrent({ id: 4_000_000_001, infoHash: 'i'.repeat(20), groupId: 1, type: 'anime' });
      store.torrents.set(torrent.infoHash, torrent);
      const requeued: unknown[][] = [];
      const result = recoverFromJournal({
        dir,
        store,
        sink: recordingSink(requeued),
        checkpoint: 0,
        positions: new Map(),
        logger: silentLogger(),
      });

      expect(result.damaged).toBeUndefined();
      expect(result.lastSeq).toBe(4);
      // The accounting calls come back with the same arguments (in the replay's order; the
      // magnet's left as its nearest double, as a bigint: what the queue saturates to the column).
      const byName = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
      const expected = written.map((call) => call.map((x) => (typeof x === 'bigint' ? BigInt(Number(x)) : x)));
      expect(requeued.sort(byName)).toEqual(expected.sort(byName));

      const leecher = torrent.leechers.get(peerKey(4_000_000_007, '-qB4650-\u00ff\u0080abcdefghij'))!;
      expect(leecher).toMatchObject({
        userId: 4_000_000_007,
        ip: 0xc0a80102 | 0,
        port: 51_413,
        clientId: 65_000,
        startTime: now - 1800,
        lastAnnounce: now,
      });
      expect(torrent.leechers.uploaded(leecher)).toBe(max64);
      expect(torrent.leechers.downloaded(leecher)).toBe(2n ** 53n + 1n);
      expect(torrent.leechers.left(leecher)).toBe(magnetLeft);
      const seeder = torrent.seeders.get(peerKey(9, '-TR3000-000000000009'))!;
      expect(seeder).toMatchObject({ ip: 0x08080808, port: 6881, clientId: 2 });
      expect([torrent.seeders.uploaded(seeder), torrent.seeders.downloaded(seeder), torrent.seeders.left(seeder)]).toEqual([12_345, 0, 0]);
      expect(torrent.seeders.size + torrent.leechers.size).toBe(2); // the stopped one is gone
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
