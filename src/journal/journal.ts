/**
 * The announce journal (docs/crash-safety.md): every announce's effect, appended
 * to a segment file with one write per event-loop turn, before that turn's
 * answers go out.
 *
 * It sits between the announce path and the accounting queues as an
 * AccountingSink: each call goes on to the queues and into the announce's record;
 * `announced` (the peer's state after it) seals the record. At the end of the
 * turn (setImmediate: after every socket read of the poll phase) the sealed
 * records are written with one write(2), then — with `fdatasync` on — synced,
 * and only then are the sockets holding that turn's answers uncorked. A SIGKILL
 * keeps what write(2) accepted; a power loss keeps what fdatasync covered.
 */
import { closeSync, fdatasync, mkdirSync, fdatasyncSync, fsyncSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { AccountingSink } from '../accounting/sink.js';
import type { JournalPositionSource } from '../flush/positions.js';
import type { Logger } from '../log.js';
import {
  Call,
  Flag,
  KIND_ANNOUNCE,
  Offset,
  RECORD_SIZE,
  SEGMENT_HEADER_SIZE,
  SEGMENT_NAME,
  sealRecord,
  segmentHeader,
  segmentName,
  writeCounter,
} from './record.js';

export interface JournalOptions {
  /** Folder of the segment files (created if missing). */
  dir: string;
  /** fdatasync each turn's write before its answers go out (power-loss safe; grouped while one is in flight). */
  fdatasync: boolean;
  /** A new segment file is started once the current one holds this many bytes. */
  segmentBytes: number;
  logger: Logger;
}

export interface JournalStats {
  records: number;
  bytesWritten: number;
  writes: number;
  syncs: number;
  writeErrors: number;
  /** Announces whose accounting calls did not fit one record (a bug upstream; counted, logged once). */
  unfit: number;
}

type AfterRelease = (socket: Socket) => void;

/** An announce's peer after it: 0 gone (stopped), 1 leecher, 2 seeder. */
export type PeerPlace = 0 | 1 | 2;

/**
 * Appends records, writes them once per turn, holds answers until then.
 * Implements AccountingSink (forwarding to `inner`), and the flushers'
 * JournalPositionSource.
 */
export class Journal implements AccountingSink, JournalPositionSource {
  readonly stats: JournalStats = { records: 0, bytesWritten: 0, writes: 0, syncs: 0, writeErrors: 0, unfit: 0 };
  private buf = Buffer.allocUnsafe(1 << 18);
  /**
   * The same bytes for the record's fields: DataView's accessors compile to plain loads and
   * stores, where Buffer's write*LE check their arguments in JavaScript on every call (about
   * half of what the journal cost an announce before).
   */
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  /** Bytes of sealed records in buf not yet written. */
  private pendingBytes = 0;
  /** The record being filled sits at buf[pendingBytes]; `calls` says which calls it has. */
  private open = false;
  private calls = 0;
  private lastSeq: number;
  private writtenSeq: number;
  private durableSeq: number;
  private fd = -1;
  private segmentFirst = 0;
  private segmentSize = 0;
  private writeScheduled = false;
  private syncing = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly heldSockets: Socket[] = [];
  private readonly heldAfter: AfterRelease[] = [];
  private readonly heldUpTo: number[] = [];
  private heldFrom = 0;
  private waiters: { position: number; resolve: () => void }[] = [];
  private unfitLogged = false;

  constructor(
    private readonly inner: AccountingSink,
    private readonly options: JournalOptions,
  ) {
    this.lastSeq = 0;
    this.writtenSeq = 0;
    this.durableSeq = 0;
  }

  /**
   * Opens a new segment whose first record will be `firstSeq` (after recovery: one past
   * every record and every stored position known). No record may be appended before.
   */
  start(firstSeq: number): void {
    if (this.fd >= 0) throw new Error('journal already started');
    mkdirSync(this.options.dir, { recursive: true, mode: 0o700 });
    this.lastSeq = firstSeq - 1;
    this.writtenSeq = this.lastSeq;
    this.durableSeq = this.lastSeq;
    this.openSegment(firstSeq);
  }

  // --- JournalPositionSource -----------------------------------------------------------

  appended(): number {
    return this.lastSeq;
  }

  durable(position: number): Promise<void> {
    if (position <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  /** Sequence number of the last record written (handed to the kernel). */
  get written(): number {
    return this.writtenSeq;
  }

  /** First sequence number of the segment being written. */
  get currentSegmentFirst(): number {
    return this.segmentFirst;
  }

  // --- AccountingSink: forward, and note the call in the announce's record ---------------

  user(userId: number, rawUp: number, rawDown: number, up: number, down: number): void {
    this.inner.user(userId, rawUp, rawDown, up, down);
    const at = this.begin(Call.user);
    const v = this.view;
    if (this.calls & (Call.history | Call.ip | Call.ip6)) {
      if (v.getFloat64(at + Offset.rawUp, true) !== rawUp || v.getFloat64(at + Offset.rawDown, true) !== rawDown) this.unfit('user');
    } else {
      v.setFloat64(at + Offset.rawUp, rawUp, true);
      v.setFloat64(at + Offset.rawDown, rawDown, true);
    }
    v.setUint32(at + Offset.userId, userId >>> 0, true);
    v.setFloat64(at + Offset.up, up, true);
    v.setFloat64(at + Offset.down, down, true);
  }

  torrent(torrentId: number, snatches: number, seeders: number, leechers: number, lastAction: number): void {
    this.inner.torrent(torrentId, snatches, seeders, leechers, lastAction);
    const at = this.begin(Call.torrent);
    const v = this.view;
    v.setUint32(at + Offset.torrentId, torrentId >>> 0, true);
    v.setUint16(at + Offset.torrentSnatches, snatches & 0xffff, true);
    v.setUint32(at + Offset.seeders, seeders >>> 0, true);
    v.setUint32(at + Offset.leechers, leechers >>> 0, true);
    v.setFloat64(at + Offset.lastAction, lastAction, true);
  }

  transferHistory(
    userId: number,
    torrentId: number,
    rawUp: number,
    rawDown: number,
    deltaTime: number,
    deltaSeedTime: number,
    snatches: number,
    seeding: boolean,
    left: number | bigint,
    lastAnnounce: number,
    startTime: number,
    active: boolean,
  ): void {
    this.inner.transferHistory(
      userId,
      torrentId,
      rawUp,
      rawDown,
      deltaTime,
      deltaSeedTime,
      snatches,
      seeding,
      left,
      lastAnnounce,
      startTime,
      active,
    );
    const at = this.begin(Call.history);
    const b = this.buf;
    const v = this.view;
    this.shared(at, 'transferHistory', userId, torrentId, rawUp, rawDown, lastAnnounce, startTime);
    v.setUint32(at + Offset.deltaTime, deltaTime >>> 0, true);
    v.setUint32(at + Offset.deltaSeedTime, deltaSeedTime >>> 0, true);
    v.setUint16(at + Offset.historySnatches, snatches & 0xffff, true);
    // A magnet's left (2^63 − 1, 2^64 − 1) is a bigint: its nearest double is kept (recovery
    // saturates it to the column's maximum, as the queue does).
    v.setFloat64(at + Offset.remaining, Number(left), true);
    b[at + Offset.flags] = b[at + Offset.flags]! | (seeding ? Flag.historySeeding : 0) | (active ? Flag.historyActive : 0);
  }

  transferIp(
    userId: number,
    torrentId: number,
    ip: number,
    clientId: number,
    rawUp: number,
    rawDown: number,
    port: number,
    lastAnnounce: number,
    startTime: number,
  ): void {
    this.inner.transferIp(userId, torrentId, ip, clientId, rawUp, rawDown, port, lastAnnounce, startTime);
    const at = this.begin(Call.ip);
    const v = this.view;
    this.shared(at, 'transferIp', userId, torrentId, rawUp, rawDown, lastAnnounce, startTime);
    v.setUint32(at + Offset.rowIp, ip >>> 0, true);
    // The row's client and port are the peer's (announced() checks they match).
    v.setUint32(at + Offset.clientId, clientId >>> 0, true);
    v.setUint16(at + Offset.port, port & 0xffff, true);
  }

  transferIp6(
    userId: number,
    torrentId: number,
    addr16: string,
    clientId: number,
    rawUp: number,
    rawDown: number,
    port: number,
    lastAnnounce: number,
    startTime: number,
  ): void {
    this.inner.transferIp6(userId, torrentId, addr16, clientId, rawUp, rawDown, port, lastAnnounce, startTime);
    const at = this.begin(Call.ip6);
    const b = this.buf;
    const v = this.view;
    this.shared(at, 'transferIp', userId, torrentId, rawUp, rawDown, lastAnnounce, startTime);
    b.write(addr16, at + Offset.addr6, 16, 'latin1');
    v.setUint32(at + Offset.clientId, clientId >>> 0, true);
    v.setUint16(at + Offset.port, port & 0xffff, true);
  }

  snatch(userId: number, torrentId: number, time: number): void {
    this.inner.snatch(userId, torrentId, time);
    const at = this.begin(Call.snatch);
    const v = this.view;
    v.setUint32(at + Offset.userId, userId >>> 0, true);
    v.setUint32(at + Offset.torrentId, torrentId >>> 0, true);
    v.setUint32(at + Offset.now, time >>> 0, true);
  }

  revive(torrentId: number): void {
    this.inner.revive(torrentId);
    const at = this.begin(Call.revive);
    this.view.setUint32(at + Offset.torrentId, torrentId >>> 0, true);
  }

  /**
   * The announce whose accounting calls came just before is done: the peer's state
   * after it (absolute counters; `place` 0 when it stopped). Seals the record.
   */
  announced(
    userId: number,
    torrentId: number,
    peerId: string,
    ip: number,
    port: number,
    clientId: number,
    startTime: number,
    lastAnnounce: number,
    uploaded: number | bigint,
    downloaded: number | bigint,
    left: number | bigint,
    place: PeerPlace,
    dualStack = 0,
  ): void {
    const at = this.open ? this.pendingBytes : this.begin(0);
    const b = this.buf;
    const v = this.view;
    if (
      (this.calls & (Call.ip | Call.ip6)) !== 0 &&
      (v.getUint32(at + Offset.clientId, true) !== clientId >>> 0 || v.getUint16(at + Offset.port, true) !== (port & 0xffff))
    ) {
      this.unfit('announced');
    }
    v.setUint32(at + Offset.userId, userId >>> 0, true);
    v.setUint32(at + Offset.torrentId, torrentId >>> 0, true);
    // Byte by byte (as latin1: the low byte of each char): Buffer.write's call costs more than 20 stores.
    for (let k = 0, n = Math.min(peerId.length, 20); k < n; k++) b[at + Offset.peerId + k] = peerId.charCodeAt(k);
    v.setUint32(at + Offset.ip, ip >>> 0, true);
    v.setUint16(at + Offset.port, port & 0xffff, true);
    v.setUint32(at + Offset.clientId, clientId >>> 0, true);
    v.setUint32(at + Offset.now, lastAnnounce >>> 0, true);
    v.setFloat64(at + Offset.startTime, startTime, true);
    const big =
      writeCounter(v, uploaded, at + Offset.uploaded, Flag.uploadedBig) |
      writeCounter(v, downloaded, at + Offset.downloaded, Flag.downloadedBig) |
      writeCounter(v, left, at + Offset.left, Flag.leftBig);
    b[at + Offset.flags] = b[at + Offset.flags]! | big | (place === 0 ? 0 : Flag.peerPresent) | (place === 2 ? Flag.peerSeeding : 0);
    b[at + Offset.dualStack] = dualStack;
    this.seal();
  }

  // --- answers wait for their records -------------------------------------------------

  /** Before writing answers to `socket`: they are held (corked) until release(). */
  hold(socket: Socket): void {
    socket.cork();
  }

  /**
   * The answers for `socket` are written (into the corked socket): they go out once
   * every record appended so far is written (and synced, with fdatasync); then
   * `after(socket)` runs. At once when nothing is outstanding.
   */
  release(socket: Socket, after: AfterRelease): void {
    if (this.open) this.sealIncomplete();
    if (this.lastSeq <= this.durableSeq || this.closed) {
      socket.uncork();
      after(socket);
      return;
    }
    this.heldSockets.push(socket);
    this.heldAfter.push(after);
    this.heldUpTo.push(this.lastSeq);
    this.scheduleWrite();
  }

  /**
   * Writes (and with fdatasync, syncs) every sealed record now, synchronously: for
   * answers written where they cannot be held (Node's HTTP server and fastify take the
   * announce paths the socket path hands over).
   */
  writeNow(): void {
    if (this.open) this.sealIncomplete();
    if (!this.writeOut()) return;
    if (this.options.fdatasync && this.durableSeq < this.writtenSeq && !this.syncing) {
      fdatasyncSync(this.fd);
      this.stats.syncs++;
      this.durableSeq = this.writtenSeq;
    } else if (!this.options.fdatasync) {
      this.durableSeq = this.writtenSeq;
    }
    this.releaseDurable();
  }

  // --- segments ------------------------------------------------------------------------

  /**
   * Deletes the segment files whose every record is at or before `position` (never
   * the one being written). Returns how many were removed.
   */
  removeThrough(position: number): number {
    const firsts = listSegments(this.options.dir).map((s) => s.first);
    let removed = 0;
    for (let i = 0; i + 1 < firsts.length; i++) {
      const last = firsts[i + 1]! - 1;
      if (last > position || firsts[i]! >= this.segmentFirst) break;
      try {
        unlinkSync(join(this.options.dir, segmentName(firsts[i]!)));
        removed++;
      } catch (err) {
        this.options.logger.warn({ err, segment: segmentName(firsts[i]!) }, 'journal: could not remove an old segment');
      }
    }
    return removed;
  }

  /** Writes and syncs what is pending, releases every held answer, closes the file. */
  close(): void {
    if (this.closed) return;
    this.writeNow();
    if (this.fd >= 0 && !this.syncing) {
      try {
        fdatasyncSync(this.fd);
      } catch {
        // reported by the writes themselves
      }
    }
    this.durableSeq = this.writtenSeq;
    this.releaseDurable();
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (!this.syncing && this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  // --- inside -------------------------------------------------------------------------

  /** The offset of the open record (opening one, zeroed, if needed) after noting `call`. */
  private begin(call: number): number {
    if (this.open && (this.calls & call) !== 0) {
      // A second call of one kind: the previous announce never reached announced() (it threw).
      this.sealIncomplete();
    }
    if (!this.open) {
      if (this.pendingBytes + RECORD_SIZE > this.buf.length) {
        const bigger = Buffer.allocUnsafe(this.buf.length * 2);
        this.buf.copy(bigger, 0, 0, this.pendingBytes);
        this.buf = bigger;
        this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
      }
      // Uint8Array's own fill: Buffer's checks its arguments in JavaScript first.
      Uint8Array.prototype.fill.call(this.buf, 0, this.pendingBytes, this.pendingBytes + RECORD_SIZE);
      this.buf[this.pendingBytes + Offset.kind] = KIND_ANNOUNCE;
      this.open = true;
      this.calls = 0;
    }
    this.calls |= call;
    return this.pendingBytes;
  }

  /** Fields the history and transfer_ips calls share: written by the first, checked by the second. */
  private shared(
    at: number,
    what: string,
    userId: number,
    torrentId: number,
    rawUp: number,
    rawDown: number,
    now: number,
    startTime: number,
  ): void {
    const v = this.view;
    const self = what === 'transferIp' ? Call.ip | Call.ip6 : Call.history;
    if ((this.calls & (Call.history | Call.ip | Call.ip6) & ~self) !== 0) {
      if (
        v.getUint32(at + Offset.userId, true) !== userId >>> 0 ||
        v.getUint32(at + Offset.torrentId, true) !== torrentId >>> 0 ||
        v.getFloat64(at + Offset.rawUp, true) !== rawUp ||
        v.getFloat64(at + Offset.rawDown, true) !== rawDown ||
        v.getUint32(at + Offset.now, true) !== now >>> 0 ||
        v.getFloat64(at + Offset.startTime, true) !== startTime
      ) {
        this.unfit(what);
      }
      return;
    }
    v.setUint32(at + Offset.userId, userId >>> 0, true);
    v.setUint32(at + Offset.torrentId, torrentId >>> 0, true);
    v.setFloat64(at + Offset.rawUp, rawUp, true);
    v.setFloat64(at + Offset.rawDown, rawDown, true);
    v.setUint32(at + Offset.now, now >>> 0, true);
    v.setFloat64(at + Offset.startTime, startTime, true);
  }

  private unfit(what: string): void {
    this.stats.unfit++;
    if (this.unfitLogged) return;
    this.unfitLogged = true;
    this.options.logger.error(
      { call: what },
      'journal: an announce made accounting calls one record cannot hold (a bug): its replay after a crash may differ',
    );
  }

  private sealIncomplete(): void {
    const at = this.pendingBytes;
    this.buf[at + Offset.flags] = this.buf[at + Offset.flags]! | Flag.incomplete;
    this.seal();
  }

  private seal(): void {
    const at = this.pendingBytes;
    this.buf[at + Offset.calls] = this.calls;
    sealRecord(this.buf, at);
    this.pendingBytes = at + RECORD_SIZE;
    this.open = false;
    this.calls = 0;
    this.lastSeq++;
    this.stats.records++;
    this.scheduleWrite();
  }

  private scheduleWrite(): void {
    if (this.writeScheduled || this.closed) return;
    this.writeScheduled = true;
    setImmediate(this.turnEnd);
  }

  private readonly turnEnd = (): void => {
    this.writeScheduled = false;
    if (this.closed) return;
    if (this.open) this.sealIncomplete();
    if (!this.writeOut()) return;
    if (this.options.fdatasync) this.startSync();
    else {
      this.durableSeq = this.writtenSeq;
      this.releaseDurable();
    }
    if (!this.syncing && this.segmentSize >= this.options.segmentBytes) this.rotate();
  };

  /** Hands the sealed records to the kernel. False (and a retry scheduled) when write(2) failed. */
  private writeOut(): boolean {
    if (this.pendingBytes === 0) return true;
    try {
      let done = 0;
      while (done < this.pendingBytes) done += writeSync(this.fd, this.buf, done, this.pendingBytes - done);
    } catch (err) {
      // The bytes stay pending and the answers held: nothing is answered that a crash could lose.
      this.stats.writeErrors++;
      this.options.logger.error({ err, dir: this.options.dir }, 'journal: write failed; answers held, retrying');
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.scheduleWrite(), 200);
      this.retryTimer.unref();
      return false;
    }
    this.stats.writes++;
    this.stats.bytesWritten += this.pendingBytes;
    this.segmentSize += this.pendingBytes;
    this.pendingBytes = 0;
    this.writtenSeq = this.lastSeq;
    return true;
  }

  /** Grouped fdatasync: one in flight at a time; what was written meanwhile is covered by the next. */
  private startSync(): void {
    if (this.syncing || this.durableSeq >= this.writtenSeq || this.fd < 0) return;
    this.syncing = true;
    const target = this.writtenSeq;
    const fd = this.fd;
    fdatasync(fd, (err) => {
      this.syncing = false;
      if (this.closed) {
        if (this.fd < 0) closeSync(fd);
        return;
      }
      if (err) {
        this.stats.writeErrors++;
        this.options.logger.error({ err }, 'journal: fdatasync failed; answers held, retrying');
        this.retryTimer = setTimeout(() => this.startSync(), 200);
        this.retryTimer.unref();
        return;
      }
      this.stats.syncs++;
      if (target > this.durableSeq) this.durableSeq = target;
      this.releaseDurable();
      if (this.writtenSeq > this.durableSeq) this.startSync();
      else if (this.segmentSize >= this.options.segmentBytes) this.rotate();
    });
  }

  private releaseDurable(): void {
    const durable = this.durableSeq;
    let i = this.heldFrom;
    const sockets = this.heldSockets;
    while (i < sockets.length && this.heldUpTo[i]! <= durable) {
      const socket = sockets[i]!;
      socket.uncork();
      this.heldAfter[i]!(socket);
      i++;
    }
    if (i === sockets.length) {
      sockets.length = 0;
      this.heldAfter.length = 0;
      this.heldUpTo.length = 0;
      this.heldFrom = 0;
    } else {
      this.heldFrom = i;
    }
    if (this.waiters.length > 0) {
      const still: typeof this.waiters = [];
      for (const w of this.waiters) {
        if (w.position <= durable) w.resolve();
        else still.push(w);
      }
      this.waiters = still;
    }
  }

  /** Closes the current segment (synced) and starts the next at the next sequence number. */
  private rotate(): void {
    if (this.pendingBytes !== 0 || this.open) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.openSegment(this.lastSeq + 1);
  }

  private openSegment(firstSeq: number): void {
    const path = join(this.options.dir, segmentName(firstSeq));
    try {
      this.fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      // A segment a crashed process created but wrote no record into (or one cut to its header).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || statSync(path).size > SEGMENT_HEADER_SIZE) throw err;
      unlinkSync(path);
      this.fd = openSync(path, 'wx', 0o600);
    }
    const header = segmentHeader(firstSeq);
    writeSync(this.fd, header, 0, header.length);
    fdatasyncSync(this.fd);
    syncDir(this.options.dir);
    this.segmentFirst = firstSeq;
    this.segmentSize = SEGMENT_HEADER_SIZE;
  }
}

/** The segment files in `dir`, oldest first. */
export function listSegments(dir: string): { first: number; name: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: { first: number; name: string }[] = [];
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name);
    if (m) out.push({ first: Number(m[1]), name });
  }
  return out.sort((a, b) => a.first - b.first);
}

/**
 * What the segment files in `dir` hold, from their sizes (no record read): `records`, how
 * many records they have room for past their headers (intact or not), and `lastSeq`, the
 * sequence number the last of them would have (0 with none). A torn last record counts, so
 * both err high. Both 0 when the folder is missing or holds only empty segments.
 */
export function journalExtent(dir: string): { records: number; lastSeq: number } {
  let records = 0;
  let lastSeq = 0;
  for (const { first, name } of listSegments(dir)) {
    let size: number;
    try {
      size = statSync(join(dir, name)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const held = Math.floor(Math.max(0, size - SEGMENT_HEADER_SIZE) / RECORD_SIZE);
    records += held;
    if (held > 0) lastSeq = Math.max(lastSeq, first + held - 1);
  }
  return { records, lastSeq };
}

/** fsync of a directory, so a file created or renamed in it survives a power loss. */
export function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on a directory; nothing more can be done there
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
