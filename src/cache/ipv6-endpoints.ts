/**
 * IPv6 endpoints across a restart (SPEC §13, docs/ipv6.md). torrent-cache.bin stays
 * chihaya's format, which has room for one IPv4 address per peer; the IPv6 endpoint of
 * each peer that has one goes to `peers6-cache.bin` beside it, written and read the same
 * careful way (`.tmp` + fsync + rename; bounds-checked; a damaged file is an error naming
 * it, and the tracker starts without it).
 *
 * peers6-cache.bin: uvarint version (1), uvarint count, then per endpoint (78 bytes):
 *   info_hash[20], peer key[24] (user ID u32 LE + peer_id, as in torrent-cache.bin),
 *   IPv6 address[16] + port u16 (big-endian, as in peers6), seen6 i64 LE, seen4 i64 LE
 *   (unix seconds the IPv6 and IPv4 endpoints were last refreshed; 0: never).
 * A peer with only an IPv6 endpoint is in torrent-cache.bin with the address 0.0.0.0.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Peer } from '../store/peer.js';
import { saturatedNumber } from '../store/swarm.js';
import type { Torrent } from '../store/types.js';
import { ByteReader, CacheFormatError } from './binary.js';
import { Pacer, writeFileAtomically } from './files.js';

export const IPV6_ENDPOINTS_FILE = 'peers6-cache.bin';
export const IPV6_ENDPOINTS_VERSION = 1;
const RECORD_SIZE = 20 + 24 + 16 + 2 + 8 + 8;

export interface Ipv6EndpointRecord {
  /** 20 bytes, latin1. */
  infoHash: string;
  /** 24 bytes, latin1: the peer's swarm key. */
  key: string;
  /** 16 bytes, latin1. */
  addr: string;
  port: number;
  seen6: number;
  seen4: number;
}

/** The record of a peer's IPv6 endpoint, taken when the cache writer reaches its torrent; undefined for a peer without one. */
export function ipv6EndpointOf(infoHash: string, peer: Peer): Ipv6EndpointRecord | undefined {
  const v6 = peer.v6;
  if (v6 === undefined) return undefined;
  return { infoHash, key: peer.key, addr: v6.addr, port: v6.port, seen6: v6.seen6, seen4: v6.seen4 };
}

/** Writes `dir/peers6-cache.bin` (via `.tmp`, synced, then renamed), yielding every `yieldEvery` records. Returns its size. */
export async function writeIpv6Endpoints(dir: string, records: readonly Ipv6EndpointRecord[], yieldEvery?: number): Promise<number> {
  const pacer = new Pacer(yieldEvery);
  return writeFileAtomically(join(dir, IPV6_ENDPOINTS_FILE), async (w) => {
    if (w.full(20)) await w.flush(20);
    w.uvarint(IPV6_ENDPOINTS_VERSION);
    w.uvarint(records.length);
    for (const r of records) {
      if (w.full(RECORD_SIZE)) await w.flush(RECORD_SIZE);
      w.latin1(r.infoHash.length === 20 ? r.infoHash : r.infoHash.padEnd(20, '\0').slice(0, 20));
      w.latin1(r.key.length === 24 ? r.key : r.key.padEnd(24, '\0').slice(0, 24));
      w.latin1(r.addr.length === 16 ? r.addr : r.addr.padEnd(16, '\0').slice(0, 16));
      w.buf.writeUInt16BE(r.port & 0xffff, w.pos);
      w.pos += 2;
      w.i64(r.seen6);
      w.i64(r.seen4);
      if (pacer.due()) await pacer.pause();
    }
  });
}

/**
 * Reads `dir/peers6-cache.bin`: the records, or none when the file is missing. A damaged
 * file (truncated, unknown version, a count that does not match its size) throws a
 * CacheFormatError naming the file and the offset.
 */
export async function readIpv6Endpoints(dir: string): Promise<Ipv6EndpointRecord[]> {
  let buf: Buffer;
  try {
    buf = await readFile(join(dir, IPV6_ENDPOINTS_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CacheFormatError(`cannot read: ${(err as Error).message}`, 0, IPV6_ENDPOINTS_FILE);
  }
  const r = new ByteReader(buf);
  try {
    if (buf.length === 0) throw new CacheFormatError('empty file', 0);
    const version = r.uvarint('version');
    if (version !== IPV6_ENDPOINTS_VERSION) {
      throw new CacheFormatError(`unknown version ${version} (this build reads version ${IPV6_ENDPOINTS_VERSION})`, 0);
    }
    const count = r.uvarint('record count');
    if (count * RECORD_SIZE !== r.remaining) {
      throw new CacheFormatError(`${count} records of ${RECORD_SIZE} bytes do not match the ${r.remaining} bytes left`, r.pos);
    }
    const records = new Array<Ipv6EndpointRecord>(count);
    for (let i = 0; i < count; i++) {
      const infoHash = r.latin1(20, 'info_hash');
      const key = r.latin1(24, 'peer key');
      const addr = r.latin1(16, 'IPv6 address');
      const at = r.pos;
      r.latin1(2, 'port');
      const port = buf.readUInt16BE(at); // big-endian, as in peers6
      const seen6 = r.i64('seen6', false) as number;
      const seen4 = r.i64('seen4', false) as number;
      records[i] = { infoHash, key, addr, port, seen6, seen4 };
    }
    return records;
  } catch (err) {
    if (err instanceof CacheFormatError) throw err.inFile(IPV6_ENDPOINTS_FILE);
    if (err instanceof RangeError) throw new CacheFormatError(`corrupt: ${err.message}`, r.pos, IPV6_ENDPOINTS_FILE);
    throw err;
  }
}

/**
 * Gives the peers read from torrent-cache.bin their IPv6 endpoints back, then drops the
 * peers left with no endpoint at all (IPv6-only peers whose record is gone, or every
 * IPv6-only peer when `announce.ipv6` is off: no 0.0.0.0 is ever handed out). A record
 * whose peer is not in the file is skipped. `v6.last` starts as the held totals for each
 * family the peer has an endpoint of (docs/ipv6.md).
 */
export function attachIpv6Endpoints(
  torrents: Map<string, Torrent>,
  records: readonly Ipv6EndpointRecord[],
): { attached: number; unmatched: number; dropped: number } {
  let attached = 0;
  let unmatched = 0;
  for (const r of records) {
    const torrent = torrents.get(r.infoHash);
    let swarm = torrent?.leechers;
    let peer = swarm?.get(r.key);
    if (peer === undefined && torrent !== undefined) {
      swarm = torrent.seeders;
      peer = swarm.get(r.key);
    }
    if (peer === undefined || swarm === undefined) {
      unmatched++;
      continue;
    }
    const up = saturatedNumber(swarm.uploaded(peer));
    const down = saturatedNumber(swarm.downloaded(peer));
    const has4 = peer.ip !== 0;
    const last = [-0.5, -1, up, down]; // a double first: unboxed double elements
    last[0] = has4 ? up : -1;
    last[1] = has4 ? down : -1;
    peer.v6 = { addr: r.addr, port: r.port, seen6: r.seen6, seen4: r.seen4, last };
    attached++;
  }
  let dropped = 0;
  for (const torrent of torrents.values()) {
    for (const swarm of [torrent.seeders, torrent.leechers]) {
      const gone = swarm.peers.filter((p) => p.ip === 0 && p.v6 === undefined);
      for (const p of gone) swarm.delete(p.key);
      dropped += gone.length;
    }
  }
  return { attached, unmatched, dropped };
}
