import type { Pool } from 'mysql2/promise';
import type { AccountingSink } from '../accounting/sink.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { Flusher, type FlusherOptions, type RoundResult } from './flusher.js';
import { MergeQueue } from './queue.js';
import {
  historyTable,
  ipsTable,
  queueNames,
  revivalsTable,
  snatchesTable,
  torrentsTable,
  usersTable,
  type HistoryRecord,
  type IpRecord,
  type QueueName,
  type RevivalRecord,
  type SnatchRecord,
  type TorrentRecord,
  type UserRecord,
} from './tables.js';
import { Wakeable } from './wait.js';

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

const TWO_31 = 2 ** 31;
const PAIR_UID_LIMIT = 2 ** 22;

/**
 * The queue key of a (user, torrent) pair: a number, which the queue's Map hashes
 * without building (and hashing) a string on every announce. Both IDs are valid
 * (below 2^31), so uid × 2^31 + fid is exact while it stays below 2^53, i.e. for
 * uid < 2^22 (4.19 million users); larger user IDs get an exact string key
 * instead (a string never equals a number, so the two kinds cannot collide).
 */
function pairKey(userId: number, torrentId: number): number | string {
  return userId < PAIR_UID_LIMIT ? userId * TWO_31 + torrentId : `${userId}:${torrentId}`;
}

/**
 * The queue key of a (user, torrent, ip, client) tuple. When ip and client are
 * uint32 (as the tracker passes them) the key is the four numbers as eight 16-bit
 * code units behind a NUL: a bijection, built without any decimal conversion and
 * hashed over 9 units instead of ~30 characters. Anything else gets the decimal
 * form, which never contains a NUL, so the two forms cannot collide.
 */
function ipKey(userId: number, torrentId: number, ip: number, clientId: number): string {
  if (ip >>> 0 === ip && clientId >>> 0 === clientId) {
    return String.fromCharCode(0, userId & 0xffff, userId >>> 16, torrentId & 0xffff, torrentId >>> 16, ip & 0xffff, ip >>> 16, clientId & 0xffff, clientId >>> 16);
  }
  return `${userId}:${torrentId}:${ip}:${clientId}`;
}

/**
 * The AccountingSink the announce path writes to: one merging queue per table,
 * each written by its own background flusher (SPEC §6). Every call is
 * synchronous and only touches memory; a record for a key already waiting is
 * merged into the waiting record (no new object).
 */
export class AccountingQueues implements AccountingSink {
  private readonly users: MergeQueue<UserRecord>;
  private readonly torrents: MergeQueue<TorrentRecord>;
  private readonly histories: MergeQueue<HistoryRecord>;
  private readonly ips: MergeQueue<IpRecord>;
  private readonly snatches: MergeQueue<SnatchRecord>;
  private readonly revivals: MergeQueue<RevivalRecord>;
  private readonly flushers: Map<QueueName, Flusher<any>>;
  private readonly backoff = new Wakeable();
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;

  constructor(
    pool: Pool,
    config: Config,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    options: AccountingQueuesOptions = {},
  ) {
    const { channels } = config;
    this.users = new MergeQueue(usersTable, channels.users);
    this.torrents = new MergeQueue(torrentsTable, channels.torrents);
    this.histories = new MergeQueue(historyTable, channels.transfer_history);
    this.ips = new MergeQueue(ipsTable, channels.transfer_ips);
    this.snatches = new MergeQueue(snatchesTable, channels.snatches);
    this.revivals = new MergeQueue(revivalsTable, channels.torrents);
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
      write: { lockWaitTimeout: options.lockWaitTimeout, statementTimeoutMs: options.statementTimeoutMs ?? 120_000 },
    };
    this.flushers = new Map(
      [this.users, this.torrents, this.histories, this.ips, this.snatches, this.revivals].map((queue) => [
        queue.name,
        new Flusher<any>(queue, pool, metrics, logger, flusherOptions),
      ]),
    );
  }

  // --- AccountingSink (hot path) ---------------------------------------------

  user(userId: number, rawUp: number, rawDown: number, up: number, down: number): void {
    if (rawUp === 0 && rawDown === 0 && up === 0 && down === 0) return;
    if (!validId(userId)) return this.refuse('users', { userId, rawUp, rawDown, up, down });
    const waiting = this.users.get(userId);
    if (waiting !== undefined) {
      waiting.rawUp += rawUp;
      waiting.rawDown += rawDown;
      waiting.up += up;
      waiting.down += down;
      return;
    }
    this.users.add({ key: userId, id: userId, up, down, rawUp, rawDown });
  }

  torrent(torrentId: number, snatches: number, seeders: number, leechers: number, lastAction: number): void {
    if (!validId(torrentId)) return this.refuse('torrents', { torrentId, snatches });
    const waiting = this.torrents.get(torrentId);
    if (waiting !== undefined) {
      waiting.snatches += snatches;
      waiting.seeders = seeders;
      waiting.leechers = leechers;
      if (lastAction > waiting.lastAction) waiting.lastAction = lastAction;
      return;
    }
    this.torrents.add({ key: torrentId, id: torrentId, snatches, seeders, leechers, lastAction });
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
    left: number,
    lastAnnounce: number,
    startTime: number,
    active: boolean,
  ): void {
    if (!validId(userId) || !validId(torrentId)) return this.refuse('transfer_history', { userId, torrentId, rawUp, rawDown });
    const key = pairKey(userId, torrentId);
    const waiting = this.histories.get(key);
    if (waiting !== undefined) {
      waiting.up += rawUp;
      waiting.down += rawDown;
      waiting.activeTime += deltaTime;
      waiting.seedTime += deltaSeedTime;
      waiting.snatches += snatches;
      waiting.seeding = seeding;
      waiting.remaining = left;
      waiting.lastAnnounce = lastAnnounce;
      waiting.active = active;
      return;
    }
    this.histories.add({
      key,
      uid: userId,
      fid: torrentId,
      up: rawUp,
      down: rawDown,
      activeTime: deltaTime,
      seedTime: deltaSeedTime,
      snatches,
      seeding,
      remaining: left,
      lastAnnounce,
      startTime,
      active,
    });
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
    if (!validId(userId) || !validId(torrentId)) return this.refuse('transfer_ips', { userId, torrentId, rawUp, rawDown });
    const key = ipKey(userId, torrentId, ip, clientId);
    const waiting = this.ips.get(key);
    if (waiting !== undefined) {
      waiting.up += rawUp;
      waiting.down += rawDown;
      waiting.port = port;
      waiting.lastAnnounce = lastAnnounce;
      return;
    }
    this.ips.add({ key, uid: userId, fid: torrentId, ip, clientId, up: rawUp, down: rawDown, port, lastAnnounce, startTime });
  }

  snatch(userId: number, torrentId: number, time: number): void {
    if (!validId(userId) || !validId(torrentId)) return this.refuse('snatches', { userId, torrentId, time });
    const key = pairKey(userId, torrentId);
    if (this.snatches.get(key) !== undefined) return; // the first snatch's time stands
    this.snatches.add({ key, uid: userId, fid: torrentId, time });
  }

  revive(torrentId: number): void {
    if (!validId(torrentId)) return this.refuse('revivals', { torrentId });
    if (this.revivals.get(torrentId) !== undefined) return;
    this.revivals.add({ key: torrentId, id: torrentId });
  }

  /** Records refused because of an impossible ID (a bug upstream), per queue. */
  readonly refused: Record<QueueName, number> = { users: 0, torrents: 0, transfer_history: 0, transfer_ips: 0, snatches: 0, revivals: 0 };

  private refuse(queue: QueueName, record: Record<string, unknown>): void {
    this.refused[queue]++;
    this.logger.error({ queue, record }, 'accounting record with an impossible ID refused (no row could hold it)');
  }

  // --- lifecycle ---------------------------------------------------------------

  /** Starts the background flushers and publishes the queue depths as a metric. */
  start(): void {
    this.metrics.watchQueues(() => this.depths());
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
   * failure is logged; a round already under way when the time is up finishes).
   * Logs, and returns, what is left per queue.
   */
  async flushAll(timeoutMs: number): Promise<StopReport> {
    const deadline = Date.now() + timeoutMs;
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
      }
    }
    const remaining = {} as Record<QueueName, QueueLeft>;
    for (const [name, flusher] of this.flushers) remaining[name] = flusher.queue.summary();
    const complete = this.totalDepth() === 0;
    if (complete) this.logger.info('every accounting queue is flushed');
    else this.logger.error({ remaining }, 'accounting left UNFLUSHED: the database could not be reached before the deadline');
    return { complete, remaining };
  }

  /** Stops the background flushers, then flushAll(timeoutMs). */
  async stop(timeoutMs: number): Promise<StopReport> {
    await Promise.all([...this.flushers.values()].map((flusher) => flusher.halt()));
    return this.flushAll(timeoutMs);
  }

  private totalDepth(): number {
    let n = 0;
    for (const flusher of this.flushers.values()) n += flusher.queue.size;
    return n;
  }
}
