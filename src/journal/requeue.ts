import type { AccountingSink } from '../accounting/sink.js';
import type { QueueName } from '../flush/tables.js';
import { Call, Flag, Offset } from './record.js';

/** Per queue, the journal position its committed flushes cover: a record at or before it is not queued again. */
export type QueuePositions = Readonly<Record<QueueName, number>>;

/**
 * Queues again the accounting calls of the journal record at `b[at…]` (sequence
 * number `seq`) for every queue whose position is before it, in the order the
 * announce made them; returns which queues got a call (bits of `Call`). The
 * record's peer state is not touched (recovery.ts sets peers). Used by the start
 * after a crash and by the accounting thread, which is fed by the journal's files.
 */
export function requeueRecord(sink: AccountingSink, b: Buffer, at: number, seq: number, p: QueuePositions): number {
  const calls = b[at + Offset.calls]!;
  const flags = b[at + Offset.flags]!;
  const userId = b.readUInt32LE(at + Offset.userId);
  const torrentId = b.readUInt32LE(at + Offset.torrentId);
  const now = b.readUInt32LE(at + Offset.now);
  const startTime = b.readDoubleLE(at + Offset.startTime);
  const rawUp = b.readDoubleLE(at + Offset.rawUp);
  const rawDown = b.readDoubleLE(at + Offset.rawDown);
  let queued = 0;
  if (calls & Call.revive && seq > p.revivals) {
    sink.revive(torrentId);
    queued |= Call.revive;
  }
  if (calls & Call.snatch && seq > p.snatches) {
    sink.snatch(userId, torrentId, now);
    queued |= Call.snatch;
  }
  if (calls & Call.torrent && seq > p.torrents) {
    sink.torrent(
      torrentId,
      b.readUInt16LE(at + Offset.torrentSnatches),
      b.readUInt32LE(at + Offset.seeders),
      b.readUInt32LE(at + Offset.leechers),
      b.readDoubleLE(at + Offset.lastAction),
    );
    queued |= Call.torrent;
  }
  if (calls & Call.history && seq > p.transfer_history) {
    sink.transferHistory(
      userId,
      torrentId,
      rawUp,
      rawDown,
      b.readUInt32LE(at + Offset.deltaTime),
      b.readUInt32LE(at + Offset.deltaSeedTime),
      b.readUInt16LE(at + Offset.historySnatches),
      (flags & Flag.historySeeding) !== 0,
      remainingOf(b.readDoubleLE(at + Offset.remaining)),
      now,
      startTime,
      (flags & Flag.historyActive) !== 0,
    );
    queued |= Call.history;
  }
  if (calls & Call.user && seq > p.users) {
    sink.user(userId, rawUp, rawDown, b.readDoubleLE(at + Offset.up), b.readDoubleLE(at + Offset.down));
    queued |= Call.user;
  }
  if (calls & Call.ip && seq > p.transfer_ips) {
    sink.transferIp(
      userId,
      torrentId,
      b.readUInt32LE(at + Offset.rowIp),
      b.readUInt32LE(at + Offset.clientId),
      rawUp,
      rawDown,
      b.readUInt16LE(at + Offset.port),
      now,
      startTime,
    );
    queued |= Call.ip;
  }
  if (calls & Call.ip6 && seq > p.transfer_ips6) {
    sink.transferIp6(
      userId,
      torrentId,
      b.toString('latin1', at + Offset.addr6, at + Offset.addr6 + 16),
      b.readUInt32LE(at + Offset.clientId),
      rawUp,
      rawDown,
      b.readUInt16LE(at + Offset.port),
      now,
      startTime,
    );
    queued |= Call.ip6;
  }
  return queued;
}

/**
 * transfer_history.remaining as journalled (a double): beyond 2^53 − 1 it was a bigint left
 * (a magnet's 2^63 − 1 or 2^64 − 1), handed back as a bigint so the queue saturates it to the
 * signed column's maximum instead of writing an out-of-range number.
 */
function remainingOf(journalled: number): number | bigint {
  if (Number.isSafeInteger(journalled)) return journalled;
  return Number.isFinite(journalled) ? BigInt(Math.min(Math.max(Math.trunc(journalled), 0), 2 ** 64)) : 0;
}
