/**
 * Start after a crash: replay the journal over the checkpoint (docs/crash-safety.md).
 *
 * - Peers: every record after the checkpoint sets its peer (absolute counters,
 *   place, address, times), so the next announce's delta starts where the last
 *   answered one ended.
 * - Accounting: a record after a queue's stored position is queued again for that
 *   queue (its flush never committed it); one at or before it is skipped.
 * - A torn or damaged record ends the replay: it is logged with its file and
 *   offset, the segment is cut there, and everything before it is recovered.
 */
import { ftruncateSync, openSync, closeSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DualStack, type AccountingSink } from '../accounting/sink.js';
import type { QueueName } from '../flush/tables.js';
import type { Logger } from '../log.js';
import { newPeer, peerKey, type PeerV6 } from '../store/peer.js';
import type { Store } from '../store/store.js';
import { saturatedNumber, type Counter } from '../store/swarm.js';
import { swarmToAdd, type Torrent } from '../store/types.js';
import { newPeerV6 } from '../tracker/dual-stack.js';
import { listSegments } from './journal.js';
import { requeueRecord, type QueuePositions } from './requeue.js';
import { Call, Flag, Offset, RECORD_SIZE, readCounter, readSegmentHeader, recordIntact, SEGMENT_HEADER_SIZE } from './record.js';

export interface RecoveryInput {
  /** The journal folder. */
  dir: string;
  store: Store;
  /** Where records are queued again: the accounting queues themselves (not the journal). */
  sink: AccountingSink;
  /** Peers in the store reflect every record up to this (0: no checkpoint; every record is replayed). */
  checkpoint: number;
  /** Per queue, the position its committed flushes cover (hayate_journal_positions; 0 when absent). */
  positions: ReadonlyMap<QueueName, number>;
  logger: Logger;
}

export interface RecoveryResult {
  /** The last intact record's sequence number (or the position the journal's files reach); 0 without any. */
  lastSeq: number;
  /** Records read after the replay's start. */
  replayed: number;
  /** Records that set a peer (after the checkpoint). */
  peersSet: number;
  /** Records queued again, per queue. */
  requeued: Record<QueueName, number>;
  /** Records whose torrent is no longer loaded (their peers are not restored; their accounting is). */
  unknownTorrents: number;
  /** The first damaged or torn record, if any. */
  damaged?: { file: string; offset: number; reason: string };
  /** The oldest record the replay needed is missing (segments removed or lost): from, first available. */
  gap?: { needed: number; firstAvailable: number };
  seconds: number;
}

/** Replays the journal in `dir` into the store and the queues. Synchronous (start-up, before listening). */
export function recoverFromJournal(input: RecoveryInput): RecoveryResult {
  const started = performance.now();
  const { dir, store, sink, checkpoint, positions, logger } = input;
  const p = (q: QueueName): number => positions.get(q) ?? 0;
  const pUsers = p('users');
  const pTorrents = p('torrents');
  const pHistory = p('transfer_history');
  const pIps = p('transfer_ips');
  const pSnatches = p('snatches');
  const pRevivals = p('revivals');
  const pIps6 = p('transfer_ips6');
  const from = Math.min(checkpoint, pUsers, pTorrents, pHistory, pIps, pSnatches, pRevivals, pIps6) + 1;
  const queuePositions: QueuePositions = {
    users: pUsers,
    torrents: pTorrents,
    transfer_history: pHistory,
    transfer_ips: pIps,
    transfer_ips6: pIps6,
    snatches: pSnatches,
    revivals: pRevivals,
  };
  const result: RecoveryResult = {
    lastSeq: 0,
    replayed: 0,
    peersSet: 0,
    requeued: { users: 0, torrents: 0, transfer_history: 0, transfer_ips: 0, snatches: 0, revivals: 0, transfer_ips6: 0 },
    unknownTorrents: 0,
    seconds: 0,
  };
  let byId: Map<number, Torrent> | undefined;
  const torrentOf = (id: number): Torrent | undefined => {
    if (byId === undefined) {
      byId = new Map();
      for (const t of store.torrents.values()) byId.set(t.id, t);
    }
    return byId.get(id);
  };

  const segments = listSegments(dir);
  for (let s = 0; s < segments.length; s++) {
    const { first, name } = segments[s]!;
    const next = segments[s + 1]?.first;
    result.lastSeq = Math.max(result.lastSeq, first - 1);
    if (next !== undefined && next <= from) continue; // wholly before what the replay needs
    const path = join(dir, name);
    const buf = readFileSync(path);
    let damaged: string | undefined;
    let offset = SEGMENT_HEADER_SIZE;
    try {
      const named = readSegmentHeader(buf, name);
      if (named !== first) throw new Error(`${name}: header names first record ${named}`);
    } catch (err) {
      damaged = (err as Error).message;
      offset = 0;
    }
    if (s === 0 && first > from && (checkpoint > 0 || first > 1)) result.gap = { needed: from, firstAvailable: first };
    let seq = first;
    for (; damaged === undefined && offset < buf.length; offset += RECORD_SIZE, seq++) {
      if (offset + RECORD_SIZE > buf.length) {
        damaged = `torn record: ${buf.length - offset} of ${RECORD_SIZE} bytes`;
        break;
      }
      if (!recordIntact(buf, offset)) {
        damaged = 'record fails its checksum';
        break;
      }
      result.lastSeq = seq;
      if (seq < from) continue;
      result.replayed++;
      replayRecord(buf, offset, seq);
    }
    if (damaged !== undefined) {
      result.damaged = { file: name, offset, reason: damaged };
      logger.error(
        { file: join(dir, name), offset, reason: damaged, recoveredThrough: result.lastSeq },
        'journal: damaged or torn record; everything before it is recovered, the segment is cut there',
      );
      cutAt(path, offset, logger);
      // Later segments would follow a hole: set aside, never replayed.
      for (const later of segments.slice(s + 1)) {
        renameSync(join(dir, later.name), join(dir, `${later.name}.damaged`));
        logger.error({ file: later.name }, 'journal: segment after a damaged one set aside (.damaged)');
      }
      break;
    }
  }
  const flushedThrough = Math.min(pUsers, pTorrents, pHistory, pIps, pSnatches, pRevivals, pIps6);
  if (result.gap !== undefined && flushedThrough >= result.gap.firstAvailable - 1) {
    // The usual case after an unusable (or older) cache file: the checkpoint the pruning followed
    // is not the one read, and the peers the pruned records held are gone with it; their accounting
    // is in the database (every queue's position is past them), so nothing is lost or credited twice.
    logger.warn(
      { ...result.gap, flushedThrough },
      'journal: records before the first segment were pruned after a later checkpoint than the cache files read (unusable or older); their accounting is in the database (nothing lost), only the peers they held are not restored (they return as clients announce)',
    );
  } else if (result.gap !== undefined) {
    logger.error(
      result.gap,
      'journal: records the replay needs are missing (journal folder removed or damaged?): what they held is not restored',
    );
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;

  function replayRecord(b: Buffer, at: number, seq: number): void {
    const calls = b[at + Offset.calls]!;
    const flags = b[at + Offset.flags]!;
    const userId = b.readUInt32LE(at + Offset.userId);
    const torrentId = b.readUInt32LE(at + Offset.torrentId);
    const now = b.readUInt32LE(at + Offset.now);
    const startTime = b.readDoubleLE(at + Offset.startTime);
    const torrent = torrentOf(torrentId);
    if (torrent === undefined) result.unknownTorrents++;

    const queued = requeueRecord(sink, b, at, seq, queuePositions);
    if (queued & Call.revive) result.requeued.revivals++;
    if (queued & Call.snatch) result.requeued.snatches++;
    if (queued & Call.torrent) {
      result.requeued.torrents++;
      // The loaded Snatched count lacks what no flush wrote.
      if (torrent !== undefined) torrent.snatched += b.readUInt16LE(at + Offset.torrentSnatches);
    }
    if (queued & Call.history) result.requeued.transfer_history++;
    if (queued & Call.user) result.requeued.users++;
    if (queued & Call.ip) result.requeued.transfer_ips++;
    if (queued & Call.ip6) result.requeued.transfer_ips6++;
    if (calls & Call.revive && torrent !== undefined && torrent.status === 1) torrent.status = 0;

    if (seq <= checkpoint || torrent === undefined || (flags & Flag.incomplete) !== 0) return;
    result.peersSet++;
    if (calls & Call.torrent) {
      const lastAction = b.readDoubleLE(at + Offset.lastAction);
      if (lastAction > torrent.lastAction) torrent.lastAction = lastAction;
    }
    const key = peerKey(userId, b.toString('latin1', at + Offset.peerId, at + Offset.peerId + 20));
    let from = torrent.leechers;
    let peer = from.get(key);
    if (peer === undefined) {
      from = torrent.seeders;
      peer = from.get(key);
    }
    if ((flags & Flag.peerPresent) === 0) {
      if (peer !== undefined) from.delete(key);
      return;
    }
    const seeding = (flags & Flag.peerSeeding) !== 0;
    const uploaded = readCounter(b, at + Offset.uploaded, flags, Flag.uploadedBig);
    const downloaded = readCounter(b, at + Offset.downloaded, flags, Flag.downloadedBig);
    const left = readCounter(b, at + Offset.left, flags, Flag.leftBig);
    const dualStack = b[at + Offset.dualStack]!;
    // A dual-stack peer's per-family reports as the record left them; without the byte (a peer
    // with no IPv6 endpoint, or a record written before it was kept) what the checkpoint had.
    const v6 =
      (dualStack & DualStack.present) === 0 ? peer?.v6 : replayDualStack(peer?.v6, dualStack, b, at, calls, now, uploaded, downloaded);
    if (peer !== undefined) from.delete(key);
    // A new object each time keeps the one shape newPeer gives every peer (small-integer fields).
    const fresh = newPeer(
      key,
      userId,
      b.readUInt32LE(at + Offset.ip),
      b.readUInt16LE(at + Offset.port),
      startTime,
      now,
      b.readUInt32LE(at + Offset.clientId),
    );
    fresh.v6 = v6;
    swarmToAdd(torrent, seeding).add(fresh, uploaded, downloaded, left);
  }
}

/** An IPv6 endpoint not known from the journal: port 0, so it is never handed out until the peer's next IPv6 announce. */
const UNKNOWN_ADDRESS = '\0'.repeat(16);

/**
 * A dual-stack peer's IPv6 side after a record with DualStack bits (tracker/dual-stack.ts
 * keeps each family's last report): the announcing family's is the credited total, unless
 * its report was stale — then it is not known and is set to -1 ("none since a reset"), which
 * takes a later report below the total for a late one, never for a reset, so nothing can be
 * credited twice; a reset forgets the other family's. An IPv6 announce's endpoint is its
 * transfer_ips6 address (a TrackerHide user's is not journaled: unknown until it announces again).
 */
function replayDualStack(
  v6: PeerV6 | undefined,
  dualStack: number,
  b: Buffer,
  at: number,
  calls: number,
  now: number,
  uploaded: Counter,
  downloaded: Counter,
): PeerV6 {
  const family6 = (dualStack & DualStack.family6) !== 0;
  const out = v6 ?? newPeerV6(UNKNOWN_ADDRESS, 0, now, 0, 0, 0, 0);
  const own = family6 ? 2 : 0;
  const other = 2 - own;
  const last = out.last;
  last[own] = (dualStack & DualStack.upStale) !== 0 ? -1 : saturatedNumber(uploaded);
  last[own + 1] = (dualStack & DualStack.downStale) !== 0 ? -1 : saturatedNumber(downloaded);
  if ((dualStack & DualStack.upReset) !== 0) last[other] = -1;
  if ((dualStack & DualStack.downReset) !== 0) last[other + 1] = -1;
  if (!family6) {
    out.seen4 = now;
  } else {
    out.seen6 = now;
    if ((calls & Call.ip6) !== 0) {
      out.addr = b.toString('latin1', at + Offset.addr6, at + Offset.addr6 + 16);
      out.port = b.readUInt16LE(at + Offset.port);
    }
  }
  return out;
}

/** Cuts a segment at its first bad byte so the next start does not meet it again. */
function cutAt(path: string, offset: number, logger: Logger): void {
  try {
    if (offset < SEGMENT_HEADER_SIZE) {
      unlinkSync(path);
      return;
    }
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, offset);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    logger.error({ err, path }, 'journal: could not cut the damaged segment');
  }
}
