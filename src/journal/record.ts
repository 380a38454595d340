/**
 * The journal's one record: what one announce did (docs/crash-safety.md).
 *
 * Fixed size, little-endian, protected by a CRC-32 over everything after it.
 * It holds the peer's state after the announce (absolute counters, so replaying
 * it *sets* the peer: replay is idempotent per peer) and the arguments of the
 * accounting calls the announce made (so replay can queue them again for the
 * tables whose flushes did not cover it).
 *
 *   off size
 *     0  4  crc32 of bytes [4, RECORD_SIZE)
 *     4  1  kind (KIND_ANNOUNCE)
 *     5  1  calls made (Call.*)
 *     6  1  flags (Flag.*)
 *     7  1  dual-stack state (DualStack bits, src/accounting/sink.ts; 0 before they were kept)
 *     8  4  user ID                 12  4  torrent ID
 *    16 20  peer_id                 36  4  peer IPv4 (uint32)
 *    40  2  port                    42  2  0
 *    44  4  client ID               48  4  now (unix s): last_announce, snatch time
 *    52  4  activetime delta (s)    56  4  seedtime delta (s)
 *    60  4  torrent seeders         64  4  torrent leechers
 *    68  2  torrents.Snatched delta 70  2  transfer_history.snatched delta
 *    72  4  transfer_ips ip         76  4  0
 *    80  8  uploaded (f64, absolute)     88  8  downloaded (absolute)
 *    96  8  left (absolute)             104  8  start time (unix s)
 *   112  8  raw up delta (bytes)        120  8  raw down delta
 *   128  8  credited up (bytes)         136  8  credited down
 *   144  8  transfer_history.remaining  152  8  torrents.last_action
 *   160 16  transfer_ips6 address (announce.ipv6)
 *
 * Counters (uploaded, downloaded, left) are f64 when exact as one (≤ 2^53), else
 * u64 with their Flag.*Big bit set.
 */

export const RECORD_SIZE = 176;
export const KIND_ANNOUNCE = 1;

/** Which AccountingSink calls the announce made (bits of byte 5). */
export const Call = {
  revive: 1,
  snatch: 2,
  torrent: 4,
  history: 8,
  user: 16,
  ip: 32,
  ip6: 64,
} as const;

/** Bits of byte 6. */
export const Flag = {
  historySeeding: 1,
  historyActive: 2,
  /** The peer is in a swarm after the announce (not stopped). */
  peerPresent: 4,
  /** ... in the seeders (else the leechers). */
  peerSeeding: 8,
  /** The announce's accounting calls were cut short (an error inside it): no peer state. */
  incomplete: 16,
  uploadedBig: 32,
  downloadedBig: 64,
  leftBig: 128,
} as const;

export const Offset = {
  crc: 0,
  kind: 4,
  calls: 5,
  flags: 6,
  dualStack: 7,
  userId: 8,
  torrentId: 12,
  peerId: 16,
  ip: 36,
  port: 40,
  clientId: 44,
  now: 48,
  deltaTime: 52,
  deltaSeedTime: 56,
  seeders: 60,
  leechers: 64,
  torrentSnatches: 68,
  historySnatches: 70,
  rowIp: 72,
  uploaded: 80,
  downloaded: 88,
  left: 96,
  startTime: 104,
  rawUp: 112,
  rawDown: 120,
  up: 128,
  down: 136,
  remaining: 144,
  lastAction: 152,
  addr6: 160,
} as const;

/** Writes a counter (number or exact bigint) at `at`; returns the flag to set when it went as u64. */
export function writeCounter(view: DataView, value: number | bigint, at: number, bigFlag: number): number {
  if (typeof value === 'number') {
    view.setFloat64(at, value, true);
    return 0;
  }
  view.setBigUint64(at, value, true);
  return bigFlag;
}

/** Reads a counter written by writeCounter: a number, or a bigint beyond 2^53. */
export function readCounter(buf: Buffer, at: number, flags: number, bigFlag: number): number | bigint {
  return (flags & bigFlag) === 0 ? buf.readDoubleLE(at) : buf.readBigUInt64LE(at);
}

/**
 * CRC-32 tables for slicing by 8 (Kounavis and Berry's method, Intel): table t, at
 * 256·t, gives the CRC of a byte followed by t zero bytes, so eight bytes are folded in
 * with eight lookups instead of eight dependent steps. Every announce's record is sealed
 * with one: byte at a time it was a third of a microsecond of the announce path.
 */
const CRC_TABLES = (() => {
  const table = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let t = 1; t < 8; t++) {
    for (let n = 0; n < 256; n++) {
      const prev = table[(t - 1) * 256 + n]!;
      table[t * 256 + n] = table[prev & 0xff]! ^ (prev >>> 8);
    }
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as zlib's) of buf[from, to). */
export function crc32(buf: Uint8Array, from: number, to: number): number {
  const T = CRC_TABLES;
  let c = -1;
  let i = from;
  for (; i + 8 <= to; i += 8) {
    const a = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    c =
      T[1792 + (a & 0xff)]! ^
      T[1536 + ((a >>> 8) & 0xff)]! ^
      T[1280 + ((a >>> 16) & 0xff)]! ^
      T[1024 + (a >>> 24)]! ^
      T[768 + buf[i + 4]!]! ^
      T[512 + buf[i + 5]!]! ^
      T[256 + buf[i + 6]!]! ^
      T[buf[i + 7]!]!;
  }
  for (; i < to; i++) c = T[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Seals the record at `at`: its CRC over the rest of it. */
export function sealRecord(buf: Buffer, at: number): void {
  buf.writeUInt32LE(crc32(buf, at + 4, at + RECORD_SIZE), at);
}

/** True when the record at `at` is whole and unaltered. */
export function recordIntact(buf: Buffer, at: number): boolean {
  return buf[at + Offset.kind] === KIND_ANNOUNCE && buf.readUInt32LE(at) === crc32(buf, at + 4, at + RECORD_SIZE);
}

// ---------------------------------------------------------------- segment files

/** Segment file header: magic, version, record size, first record's sequence number. */
export const SEGMENT_MAGIC = 'HAYATEJ1';
export const SEGMENT_HEADER_SIZE = 32;
export const SEGMENT_VERSION = 1;

export function segmentHeader(firstSeq: number): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER_SIZE);
  h.write(SEGMENT_MAGIC, 0, 'latin1');
  h.writeUInt32LE(SEGMENT_VERSION, 8);
  h.writeUInt32LE(RECORD_SIZE, 12);
  h.writeDoubleLE(firstSeq, 16);
  h.writeUInt32LE(crc32(h, 0, 24), 24);
  return h;
}

/** The first sequence number a segment header names; throws a one-line Error when it is not a header. */
export function readSegmentHeader(h: Buffer, file: string): number {
  if (h.length < SEGMENT_HEADER_SIZE) throw new Error(`${file}: ${h.length} bytes, shorter than a segment header`);
  if (h.toString('latin1', 0, 8) !== SEGMENT_MAGIC) throw new Error(`${file}: not a hayate journal segment`);
  if (h.readUInt32LE(24) !== crc32(h, 0, 24)) throw new Error(`${file}: damaged segment header`);
  const version = h.readUInt32LE(8);
  if (version !== SEGMENT_VERSION || h.readUInt32LE(12) !== RECORD_SIZE) {
    throw new Error(
      `${file}: segment version ${version} with ${h.readUInt32LE(12)}-byte records; this build reads version ${SEGMENT_VERSION}`,
    );
  }
  return h.readDoubleLE(16);
}

/** `0000000000001234.hjl`: the first record's sequence number, zero-padded so names sort. */
export function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(16, '0')}.hjl`;
}

export const SEGMENT_NAME = /^(\d{16})\.hjl$/;
