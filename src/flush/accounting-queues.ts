import type { Pool } from 'mysql2/promise';
import type { AccountingSink } from '../accounting/sink.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { Flusher, type FlushMetrics, type FlusherOptions, type RoundResult } from './flusher.js';
import type { JournalPositionSource } from './positions.js';
import { RowQueue } from './queue.js';
import {
  HistoryColumn,
  historyTable,
  IpColumn,
  ips6Table,
  ipsTable,
  queueNames,
  revivalsTable,
  snatchesTable,
  TorrentColumn,
  torrentsTable,
  UserColumn,
  usersTable,
  type QueueName,
} from './tables.js';
import { Wakeable } from './wait.js';
import { OpenRounds } from './transaction.js';

export interface AccountingQueuesOptions {
  /** Records per statement (default 1000). */
  chunkRows?: number;
  /**
   * Backoff after a failed round: starts here, doubles up to backoffMaxMs (defaults 1 s, 5 s).
   * A refused connection costs next to nothing, and every second of backoff after the
   * database is back is a second of accounting not written, so the ceiling stays low.
   */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** innodb_lock_wait_timeout (s) for flush statements; default: the server's. */
  lockWaitTimeout?: number;
  /** Client-side limit on one flush statement (default 120 s). */
  statementTimeoutMs?: number;
  /** A round running longer than this is logged once (default 10 s). */
  slowRoundMs?: number;
  /** While a queue's rounds keep failing, one "still failing" line this often (default 60 s). */
  stillFailingEveryMs?: number;
  /** The announce journal: each round then commits the position it covers (docs/crash-safety.md). */
  journal?: JournalPositionSource;
}

/**
 * The accounting as the rest of the tracker sees it: a sink for the announce path's
 * calls, and the queues' lifecycle. AccountingQueues (this thread) or AccountingThread
 * (the queues on a thread of their own, fed by the journal's files).
 */
export interface Accounting extends AccountingSink {
  /** Starts the background flushers. */
  start(): void;
  /** Records not yet in the database, per queue. */
  depths(): Record<QueueName, number>;
  /** Writes what is waiting in one queue (or all) now; failed records stay queued. */
  flushNow(queue?: QueueName): Promise<RoundResult>;
  /** Stops the flushers, then flushes until every queue is empty or `timeoutMs` has passed. */
  stop(timeoutMs: number): Promise<StopReport>;
  /** The journal position every queue's committed rows reach (see AccountingQueues.coveredPosition). */
  coveredPosition(): Promise<number | undefined>;
  /** What the database holds per queue, read at start. */
  setCommittedPositions(positions: ReadonlyMap<QueueName, number>): void;
}

export interface QueueLeft {
  keys: number;
  uploaded: number;
  downloaded: number;
}

export interface StopReport {
  /** True when every queue was emptied before the deadline. */
  complete: boolean;
  /** What is still unwritten, per queue (all zero when complete). */
  remaining: Record<QueueName, QueueLeft>;
}

/**
 * IDs are the one thing rendering cannot clamp (a clamped ID is another row), and
 * one the database refuses would fail its whole chunk on every retry. Real IDs come
 * from the database, so this only catches a bug upstream; such a record is refused
 * at the door, loudly, instead of holding everything else back.
 */
function validId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id <= 2147483647;
}

/** A uint32 key column (an IPv4 address, a client ID). */
function validUint32(value: number): boolean {
  return value >>> 0 === value;
}

/**
 * The AccountingSink the announce path writes to: one merging queue per table,
 * each written by its own background flusher (SPEC §6). Every call is
 * synchronous and only touches memory; a row for a key already waiting is
 * merged into the waiting row (no object is made: rows are typed-array columns).
 */
/** transfer_history.remaining's maximum (signed BIGINT). */
const REMAINING_MAX = 9223372036854775807n;

export class AccountingQueues implements Accounting {
  private readonly users: RowQueue;
  private readonly torrents: RowQueue;
  private readonly histories: RowQueue;
  private readonly ips: RowQueue;
  private readonly ips6: RowQueue;
  /** transfer_ips6 key columns of the record being queued (the announce path is synchronous). */
  private readonly ip6Key = new Uint32Array(7);
  private readonly snatches: RowQueue;
  private readonly revivals: RowQueue;
  private readonly flushers: Map<QueueName, Flusher>;
  private readonly backoff = new Wakeable();
  /** The connections rounds write on: a stop at its deadline closes them. */
  private readonly rounds = new OpenRounds();
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;

  constructor(
    pool: Pool,
    config: Config,
    private readonly metrics: FlushMetrics,
    private readonly logger: Logger,
    options: AccountingQueuesOptions = {},
  ) {
    const { channels } = config;
    this.users = new RowQueue(usersTable, channels.users);
    this.torrents = new RowQueue(torrentsTable, channels.torrents);
    this.histories = new RowQueue(historyTable, channels.transfer_history);
    this.ips = new RowQueue(ipsTable, channels.transfer_ips);
    this.ips6 = new RowQueue(ips6Table, channels.transfer_ips);
    this.snatches = new RowQueue(snatchesTable, channels.snatches);
    this.revivals = new RowQueue(revivalsTable, channels.torrents);
    this.backoffMinMs = options.backoffMinMs ?? 1_000;
    this.backoffMaxMs = options.backoffMaxMs ?? 5_000;
    const flusherOptions: FlusherOptions = {
      flushIntervalMs: config.intervals.flush * 1000,
      deadlockPauseMs: config.database.deadlock_pause * 1000,
      deadlockRetries: config.database.deadlock_retries,
      chunkRows: options.chunkRows ?? 1000,
      backoffMinMs: this.backoffMinMs,
      backoffMaxMs: this.backoffMaxMs,
      logFlushes: config.log_flushes,
      slowRoundMs: options.slowRoundMs ?? 10_000,
      stillFailingEveryMs: options.stillFailingEveryMs ?? 60_000,
      write: { lockWaitTimeout: options.lockWaitTimeout, statementTimeoutMs: options.statementTimeoutMs ?? 120_000, rounds: this.rounds },
      journal: options.journal,
    };
    this.flushers = new Map(
      [this.users, this.torrents, this.histories, this.ips, this.ips6, this.snatches, this.revivals].map((queue) => [
        queue.name,
        new Flusher(queue, pool, metrics, logger, flusherOptions),
      ]),
    );
  }

  // --- AccountingSink (hot path) ---------------------------------------------
  // slot() returns a row the queue has just allocated, so `at + column` is inside values (the `!`s).

  user(userId: number, rawUp: number, rawDown: number, up: number, down: number): void {
    if (rawUp === 0 && rawDown === 0 && up === 0 && down === 0) return;
    if (!validId(userId)) {
      this.refuse('users', { userId, rawUp, rawDown, up, down });
      return;
    }
    const q = this.users;
    const at = q.slot(userId) * q.valueWidth;
    const v = q.values;
    v[at + UserColumn.up]! += up;
    v[at + UserColumn.down]! += down;
    v[at + UserColumn.rawUp]! += rawUp;
    v[at + UserColumn.rawDown]! += rawDown;
  }

  torrent(torrentId: number, snatches: number, seeders: number, leechers: number, lastAction: number): void {
    if (!validId(torrentId)) {
      this.refuse('torrents', { torrentId, snatches });
      return;
    }
    const q = this.torrents;
    const at = q.slot(torrentId) * q.valueWidth;
    const v = q.values;
    v[at + TorrentColumn.snatches]! += snatches;
    v[at + TorrentColumn.seeders] = seeders;
    v[at + TorrentColumn.leechers] = leechers;
    if (q.created || lastAction > v[at + TorrentColumn.lastAction]!) v[at + TorrentColumn.lastAction] = lastAction;
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
    if (!validId(userId) || !validId(torrentId)) {
      this.refuse('transfer_history', { userId, torrentId, rawUp, rawDown });
      return;
    }
    const q = this.histories;
    const at = q.slot(userId, torrentId) * q.valueWidth;
    const v = q.values;
    v[at + HistoryColumn.up]! += rawUp;
    v[at + HistoryColumn.down]! += rawDown;
    v[at + HistoryColumn.activeTime]! += deltaTime;
    v[at + HistoryColumn.seedTime]! += deltaSeedTime;
    v[at + HistoryColumn.snatches]! += snatches;
    v[at + HistoryColumn.seeding] = seeding ? 1 : 0;
    if (typeof left === 'number') {
      v[at + HistoryColumn.remaining] = left;
      v[at + HistoryColumn.remainingHigh] = 0;
    } else {
      // remaining is a signed BIGINT: a left of 2^63 or more (2^64 − 1 from some magnet
      // clients) is written as its maximum, 2^63 − 1, still "not complete".
      const exact = left > REMAINING_MAX ? REMAINING_MAX : left;
      v[at + HistoryColumn.remaining] = Number(exact & 0xffffffffn);
      v[at + HistoryColumn.remainingHigh] = Number(exact >> 32n);
    }
    v[at + HistoryColumn.lastAnnounce] = lastAnnounce;
    if (q.created) v[at + HistoryColumn.startTime] = startTime; // the first one stands
    v[at + HistoryColumn.active] = active ? 1 : 0;
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
    if (!validId(userId) || !validId(torrentId) || !validUint32(ip) || !validUint32(clientId)) {
      this.refuse('transfer_ips', { userId, torrentId, ip, clientId, rawUp, rawDown });
      return;
    }
    const q = this.ips;
    const at = q.slot(userId, torrentId, ip, clientId) * q.valueWidth;
    const v = q.values;
    v[at + IpColumn.up]! += rawUp;
    v[at + IpColumn.down]! += rawDown;
    v[at + IpColumn.port] = port;
    v[at + IpColumn.lastAnnounce] = lastAnnounce;
    if (q.created) v[at + IpColumn.startTime] = startTime;
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
    if (!validId(userId) || !validId(torrentId) || addr16.length !== 16 || !validUint32(clientId)) {
      this.refuse('transfer_ips6', { userId, torrentId, ip: addr16.length, clientId, rawUp, rawDown });
      return;
    }
    const key = this.ip6Key;
    key[0] = userId;
    key[1] = torrentId;
    for (let w = 0; w < 4; w++) {
      const i = w * 4;
      key[2 + w] =
        (addr16.charCodeAt(i) << 24) | (addr16.charCodeAt(i + 1) << 16) | (addr16.charCodeAt(i + 2) << 8) | addr16.charCodeAt(i + 3);
    }
    key[6] = clientId;
    const q = this.ips6;
    const at = q.slotWide(key) * q.valueWidth;
    const v = q.values;
    v[at + IpColumn.up]! += rawUp;
    v[at + IpColumn.down]! += rawDown;
    v[at + IpColumn.port] = port;
    v[at + IpColumn.lastAnnounce] = lastAnnounce;
    if (q.created) v[at + IpColumn.startTime] = startTime;
  }

  snatch(userId: number, torrentId: number, time: number): void {
    if (!validId(userId) || !validId(torrentId)) {
      this.refuse('snatches', { userId, torrentId, time });
      return;
    }
    const q = this.snatches;
    const slot = q.slot(userId, torrentId);
    if (q.created) q.values[slot] = time; // the first snatch's time stands
  }

  revive(torrentId: number): void {
    if (!validId(torrentId)) {
      this.refuse('revivals', { torrentId });
      return;
    }
    this.revivals.slot(torrentId);
  }

  /** Records refused because of an impossible ID (a bug upstream), per queue. */
  readonly refused: Record<QueueName, number> = {
    users: 0,
    torrents: 0,
    transfer_history: 0,
    transfer_ips: 0,
    transfer_ips6: 0,
    snatches: 0,
    revivals: 0,
  };

  private refuse(queue: QueueName, record: Record<string, unknown>): void {
    this.refused[queue]++;
    this.logger.error({ queue, record }, 'accounting record with an impossible ID refused (no row could hold it)');
  }

  // --- lifecycle ---------------------------------------------------------------

  /** Starts the background flushers and publishes the queue depths as a metric. */
  start(): void {
    this.metrics.watchQueues?.(() => this.depths());
    for (const flusher of this.flushers.values()) flusher.start();
  }

  /** Distinct keys waiting, per queue. */
  depths(): Record<QueueName, number> {
    const out = {} as Record<QueueName, number>;
    for (const [name, flusher] of this.flushers) out[name] = flusher.queue.pending;
    return out;
  }

  /**
   * Writes what is waiting in one queue (or in all, in table order) now, after
   * any round in progress. Failed records stay queued; the result says so.
   */
  async flushNow(queue?: QueueName): Promise<RoundResult> {
    const names = queue === undefined ? queueNames : [queue];
    const total: RoundResult = { taken: 0, written: 0, ok: true };
    for (const name of names) {
      const result = await this.flushers.get(name)!.flushNow();
      total.taken += result.taken;
      total.written += result.written;
      total.ok &&= result.ok;
    }
    return total;
  }

  /**
   * Flushes every queue again and again until all are empty, or until
   * `timeoutMs` from now has passed with the database still failing (each
   * failure is logged). A round still waiting on the database at that time
   * (a frozen server, a table lock) is abandoned: its connection is closed, the
   * server rolls it back, and its records count as left. Logs, and returns,
   * what is left per queue.
   */
  flushAll(timeoutMs: number): Promise<StopReport> {
    const deadline = Date.now() + timeoutMs;
    return this.abandoningAt(deadline, () => this.flushUntil(deadline));
  }

  private async flushUntil(deadline: number): Promise<StopReport> {
    let backoffMs = this.backoffMinMs;
    for (;;) {
      const result = await this.flushNow();
      if (this.totalDepth() === 0) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (!result.ok) {
        this.logger.error({ waiting: this.depths(), retryInMs: Math.min(backoffMs, left) }, 'flush at shutdown failed; retrying');
        await this.backoff.sleep(Math.min(backoffMs, left));
        backoffMs = Math.min(backoffMs * 2, this.backoffMaxMs);
        if (Date.now() >= deadline) break;
      }
    }
    const remaining = {} as Record<QueueName, QueueLeft>;
    for (const [name, flusher] of this.flushers) remaining[name] = flusher.queue.summary();
    const complete = this.totalDepth() === 0;
    if (complete) this.logger.info('every accounting queue is flushed');
    else this.logger.error({ remaining }, 'accounting left UNFLUSHED: the database could not be reached before the deadline');
    return { complete, remaining };
  }

  /**
   * Stops the background flushers (each after its current round), then flushes what is
   * left as flushAll does, all within `timeoutMs`: a round still waiting on the database
   * then is abandoned (see flushAll).
   */
  stop(timeoutMs: number): Promise<StopReport> {
    const deadline = Date.now() + timeoutMs;
    return this.abandoningAt(deadline, async () => {
      await Promise.all([...this.flushers.values()].map((flusher) => flusher.halt()));
      return this.flushUntil(deadline);
    });
  }

  /** Runs `work`; at `deadline` (Unix ms) closes the connections rounds are still writing on. */
  private async abandoningAt<T>(deadline: number, work: () => Promise<T>): Promise<T> {
    this.rounds.reopen();
    const timer = setTimeout(() => this.rounds.closeAll(), Math.max(0, deadline - Date.now()));
    try {
      return await work();
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The journal position every queue's rows in the database reach (the smallest of
   * the queues'), after recording idle queues as covered. Journal segments wholly
   * before it hold nothing any queue still needs. Undefined when a database write failed.
   */
  async coveredPosition(): Promise<number | undefined> {
    let covered = Number.POSITIVE_INFINITY;
    for (const flusher of this.flushers.values()) {
      const position = await flusher.markIdle();
      if (position === undefined) return undefined;
      covered = Math.min(covered, position);
    }
    return covered;
  }

  /** Sets what the database holds per queue (read at start), so idle queues are not marked again needlessly. */
  setCommittedPositions(positions: ReadonlyMap<QueueName, number>): void {
    for (const [name, flusher] of this.flushers) flusher.committedPosition = positions.get(name) ?? 0;
  }

  /** Records not yet in the database, in every queue (waiting, out in a round, or in doubt). */
  private totalDepth(): number {
    let n = 0;
    for (const flusher of this.flushers.values()) n += flusher.queue.pending;
    return n;
  }
}
