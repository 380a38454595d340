import { performance } from 'node:perf_hooks';
import type { Pool } from 'mysql2/promise';
import type { Logger } from '../log.js';
import { keyOrder, type Batch, type RowQueue } from './queue.js';
import type { QueueName } from './tables.js';
import { positionStatement, readPosition, type JournalPositionSource } from './positions.js';
import { CommitOutcomeUnknown, isLockConflict, writeRound, type WriteOptions } from './transaction.js';
import { Exclusive, Wakeable } from './wait.js';

type QueueLabels = { queue: string };

/**
 * What the flushers record (src/metrics/metrics.ts has the metrics themselves; on the
 * accounting thread these are forwarded to them).
 */
export interface FlushMetrics {
  flushSeconds: { observe(labels: QueueLabels, seconds: number): void };
  flushedRows: { inc(labels: QueueLabels, rows: number): void };
  deadlocks: { inc(labels: QueueLabels): void };
  deadlockAborted: { inc(labels: QueueLabels): void };
  deadlockSeconds: { inc(labels: QueueLabels, seconds: number): void };
  sqlErrors: { inc(labels: QueueLabels): void };
  /** Publishes the queue depths (hayate_queue_depth); absent where another thread publishes them. */
  watchQueues?(depths: () => Record<string, number>): void;
}

export interface FlusherOptions {
  /** Sleep after a round that drained less than half the capacity (intervals.flush). */
  flushIntervalMs: number;
  /** Pause before retry n of a deadlocked chunk is n × this (database.deadlock_pause). */
  deadlockPauseMs: number;
  deadlockRetries: number;
  /** Records per statement. */
  chunkRows: number;
  /** After a failed round the flusher waits this long, doubling up to backoffMaxMs. */
  backoffMinMs: number;
  backoffMaxMs: number;
  logFlushes: boolean;
  /**
   * A round still running after this long is logged (once), as it waits on something the
   * database does not report as an error: a table lock (LOCK TABLES, ALTER TABLE) or a long
   * transaction holding a metadata lock. Milliseconds.
   */
  slowRoundMs: number;
  /**
   * While rounds keep failing, one "still failing" line this often; the failures between
   * are logged at debug. Milliseconds.
   */
  stillFailingEveryMs: number;
  write: WriteOptions;
  /**
   * With a journal, each round also commits the journal position it covers (in the
   * same transaction), waits for those records to be on disk before COMMIT, and a
   * COMMIT whose answer was lost is settled by reading that position back.
   */
  journal?: JournalPositionSource | undefined;
}

export interface RoundResult {
  /** Records taken from the queue this round. */
  taken: number;
  /** Records committed. */
  written: number;
  /** False when some records went back to the queue. */
  ok: boolean;
}

/** How a round's write ended; a failure carries what to log about it. */
type RoundOutcome = { kind: 'ok' } | { kind: 'unknown' } | { kind: 'failed'; err: unknown; msg: string; attempts?: number };

/** While rounds keep failing (an outage): since when, how many, and when a line last said so. */
interface Failing {
  since: number;
  rounds: number;
  loggedAt: number;
}

/** A round whose COMMIT answer was lost: its rows, and the journal position that says whether it happened. */
interface InDoubt {
  batch: Batch;
  order: Uint32Array;
  position: number;
}
type Phase = 'stopped' | 'round' | 'interval' | 'idle' | 'backoff';

/**
 * Writes one queue to the database in the background: take the whole batch,
 * write it in chunks of chunkRows (one statement each) inside one transaction
 * (with the journal position it covers, when journaled), put it back if that
 * failed, repeat. Never blocks the callers that fill the queue; never drops a record.
 */
export class Flusher {
  private readonly sleeper = new Wakeable();
  private readonly pause = new Wakeable();
  private readonly exclusive = new Exclusive();
  private phase: Phase = 'stopped';
  private halted = false;
  private loop: Promise<void> | undefined;
  private backoffMs: number;
  private inDoubt: InDoubt | undefined;
  private failing: Failing | undefined;
  /** The journal position the database holds for this queue, as far as this process knows (0: none). */
  committedPosition = 0;

  constructor(
    readonly queue: RowQueue,
    private readonly pool: Pool,
    private readonly metrics: FlushMetrics,
    private readonly logger: Logger,
    private readonly options: FlusherOptions,
  ) {
    this.backoffMs = options.backoffMinMs;
    // A full queue cuts the interval short; it does not cut a backoff short (the
    // database is failing then, and hammering it would not help).
    queue.onFull = () => {
      if (this.phase === 'interval' || this.phase === 'idle') this.sleeper.wake();
    };
    queue.onFirst = () => {
      if (this.phase === 'idle') this.sleeper.wake();
    };
  }

  get name(): QueueName {
    return this.queue.name;
  }

  start(): void {
    if (this.loop !== undefined) return;
    this.halted = false;
    this.loop = this.run();
  }

  /** Stops the background loop after its current round (cutting any sleep short). */
  async halt(): Promise<void> {
    this.halted = true;
    this.sleeper.wake();
    this.pause.wake();
    await this.loop;
    this.loop = undefined;
  }

  /** Runs one round now (after any round in progress): everything queued before the call is attempted. */
  flushNow(): Promise<RoundResult> {
    return this.exclusive.run(() => this.round());
  }

  private async run(): Promise<void> {
    while (!this.halted) {
      this.phase = 'round';
      const result = await this.flushNow();
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- halt() may have run while the flush awaited
      if (this.halted) break;
      if (!result.ok) {
        this.phase = 'backoff';
        await this.sleeper.sleep(this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, this.options.backoffMaxMs);
        continue;
      }
      this.backoffMs = this.options.backoffMinMs;
      if (result.taken < this.queue.capacity / 2) {
        this.phase = 'interval';
        await this.sleeper.sleep(this.options.flushIntervalMs);
      }
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- halt() may have run while the flush slept
      if (this.halted) break;
      if (this.queue.size === 0) {
        // Nothing to do: wait (without a timer) for the first record.
        this.phase = 'idle';
        await this.sleeper.wait();
      }
    }
    this.phase = 'stopped';
  }

  /**
   * Journaled queues: when nothing is waiting (nor out in a round), records the
   * journal position reached as covered, so an idle queue (revivals, most of the
   * time) does not hold old journal segments. Runs between rounds. Returns the
   * position now held by the database for this queue, or undefined on failure.
   */
  markIdle(): Promise<number | undefined> {
    return this.exclusive.run(async () => {
      const journal = this.options.journal;
      if (journal === undefined) return undefined;
      const position = journal.appended();
      if (this.queue.pending !== 0 || this.inDoubt !== undefined || position <= this.committedPosition) return this.committedPosition;
      try {
        await writeRound(this.pool, { count: 0, statement: () => '', last: positionStatement(this.name, position) }, this.options.write);
        this.committedPosition = Math.max(this.committedPosition, position);
        return this.committedPosition;
      } catch (err) {
        this.logger.warn({ err, queue: this.name }, "flush: recording an idle queue's journal position failed");
        return undefined;
      }
    });
  }

  private async round(): Promise<RoundResult> {
    if (this.inDoubt !== undefined && !(await this.settleInDoubt())) return { taken: 0, written: 0, ok: false };
    // Read with take(), in the same synchronous step: every record up to `position` is in the batch or already written.
    const position = this.options.journal?.appended();
    const batch = this.queue.take();
    const taken = batch.count;
    if (taken === 0) {
      this.recovered(0); // a round in doubt settled, and nothing else waited
      return { taken: 0, written: 0, ok: true };
    }
    const order = keyOrder(batch, this.queue.keyWidth);
    const started = performance.now();
    const labels = { queue: this.name };
    const slow = setTimeout(() => {
      this.logger.warn(
        { queue: this.name, records: taken, seconds: Math.round((performance.now() - started) / 100) / 10 },
        'flush: a round is still running (a table lock? LOCK TABLES, ALTER TABLE or a long transaction on the table); its records are written when it ends',
      );
    }, this.options.slowRoundMs);
    slow.unref();
    let outcome: RoundOutcome;
    try {
      outcome = await this.writeBatch(batch, order, position);
    } finally {
      clearTimeout(slow);
    }
    this.metrics.flushSeconds.observe(labels, (performance.now() - started) / 1000);
    if (outcome.kind === 'unknown' && position !== undefined) {
      // The database knows: the position row moved to `position` exactly when the round committed.
      this.inDoubt = { batch, order, position };
      this.logger.error(
        { queue: this.name, records: taken, position },
        'flush: commit outcome unknown; settled by reading the stored journal position',
      );
      return { taken, written: 0, ok: false };
    }
    if (outcome.kind !== 'ok') {
      // 'unknown' without a journal: putting the round back may write it twice; dropping it
      // may lose it. hayate never drops, so it goes back too.
      this.queue.putBack(batch, order, 0);
      this.queue.recycle(batch);
      if (outcome.kind === 'failed') this.failed(outcome, taken);
      else {
        this.logger.error(
          { queue: this.name, requeued: taken, waiting: this.queue.size },
          'flush: commit outcome unknown; records put back (this round may be applied twice)',
        );
      }
      return { taken, written: 0, ok: false };
    }
    this.committed(batch, position);
    const ms = performance.now() - started;
    const line = { queue: this.name, rows: taken, ms: Math.round(ms * 10) / 10 };
    this.recovered(taken);
    if (this.options.logFlushes) this.logger.info(line, 'flushed');
    else this.logger.debug(line, 'flushed');
    return { taken, written: taken, ok: true };
  }

  /**
   * Logs a failed round (its records are back in the queue). An outage fails a round
   * every backoff (up to 5 s) in every queue: the first failure of a run is logged
   * whole, the next ones at debug, with one "still failing" line (the latest error, how
   * long, how many rounds) every stillFailingEveryMs, and one warning when a round
   * succeeds again.
   */
  private failed(outcome: { err: unknown; msg: string; attempts?: number }, records: number): void {
    const now = performance.now();
    const failing = this.failing;
    if (failing === undefined) {
      this.failing = { since: now, rounds: 1, loggedAt: now };
      const attempts = outcome.attempts === undefined ? {} : { attempts: outcome.attempts };
      this.logger.error({ err: outcome.err, queue: this.name, records, waiting: this.queue.size, ...attempts }, outcome.msg);
      return;
    }
    failing.rounds++;
    const fields = {
      err: outcome.err,
      queue: this.name,
      failedRounds: failing.rounds,
      seconds: Math.round((now - failing.since) / 1000),
      waiting: this.queue.size,
    };
    if (now - failing.loggedAt < this.options.stillFailingEveryMs) {
      this.logger.debug(fields, outcome.msg);
      return;
    }
    failing.loggedAt = now;
    this.logger.error(fields, 'flush: still failing; records stay queued');
  }

  /** After failed rounds, says once that writing works again (`rows`: this round's). */
  private recovered(rows: number): void {
    const failing = this.failing;
    if (failing === undefined) return;
    this.failing = undefined;
    this.logger.warn(
      { queue: this.name, rows, failedRounds: failing.rounds, seconds: Math.round((performance.now() - failing.since) / 1000) },
      'flush: writing again; the records kept while it failed are in the database',
    );
  }

  private committed(batch: Batch, position: number | undefined): void {
    this.queue.written(batch.count);
    this.queue.recycle(batch);
    this.metrics.flushedRows.inc({ queue: this.name }, batch.count);
    if (position !== undefined) this.committedPosition = Math.max(this.committedPosition, position);
  }

  /** Reads the stored position to learn whether the in-doubt round committed. False when the database cannot say yet. */
  private async settleInDoubt(): Promise<boolean> {
    const doubt = this.inDoubt!;
    let stored: number;
    try {
      stored = await readPosition(this.pool, this.name);
    } catch (err) {
      this.failed({ err, msg: 'flush: cannot read the stored journal position yet; round still in doubt' }, doubt.batch.count);
      return false;
    }
    this.inDoubt = undefined;
    if (stored >= doubt.position) {
      this.committed(doubt.batch, doubt.position);
      this.logger.warn(
        { queue: this.name, records: doubt.batch.count, position: doubt.position },
        'flush: the round whose COMMIT answer was lost had committed',
      );
    } else {
      this.queue.putBack(doubt.batch, doubt.order, 0);
      this.queue.recycle(doubt.batch);
      this.logger.warn(
        { queue: this.name, records: doubt.batch.count, stored, position: doubt.position },
        'flush: the round whose COMMIT answer was lost had not committed; records put back',
      );
    }
    return true;
  }

  private async writeBatch(batch: Batch, order: Uint32Array, position: number | undefined): Promise<RoundOutcome> {
    const taken = batch.count;
    const chunkRows = this.options.chunkRows;
    const journal = this.options.journal;
    const table = this.queue.table;
    const statements = {
      count: Math.ceil(taken / chunkRows),
      statement: (i: number) => table.statement(batch, order, i * chunkRows, Math.min(taken, (i + 1) * chunkRows)),
      last: position === undefined ? undefined : positionStatement(this.name, position),
      beforeCommit: journal === undefined || position === undefined ? undefined : () => journal.durable(position),
    };
    const records = taken;
    const labels = { queue: this.name };
    for (let attempt = 1; ; attempt++) {
      try {
        await writeRound(this.pool, statements, this.options.write);
        return { kind: 'ok' };
      } catch (err) {
        if (err instanceof CommitOutcomeUnknown) {
          this.metrics.sqlErrors.inc(labels);
          this.logger.error({ err: err.cause, queue: this.name, records }, 'flush: connection lost during COMMIT');
          return { kind: 'unknown' };
        }
        if (isLockConflict(err)) {
          this.metrics.deadlocks.inc(labels);
          // Shutting down: hand the round back at once; flushAll() retries it on its own schedule.
          if (attempt > this.options.deadlockRetries || this.halted) {
            this.metrics.deadlockAborted.inc(labels);
            return { kind: 'failed', err, msg: 'flush: deadlock retries ran out; records stay queued', attempts: attempt };
          }
          const pauseMs = this.options.deadlockPauseMs * attempt;
          this.metrics.deadlockSeconds.inc(labels, pauseMs / 1000);
          this.logger.warn({ queue: this.name, errno: (err as { errno?: number }).errno, attempt, pauseMs }, 'flush: deadlock, retrying');
          await this.pause.sleep(pauseMs);
          continue;
        }
        this.metrics.sqlErrors.inc(labels);
        return { kind: 'failed', err, msg: 'flush failed; records stay queued' };
      }
    }
  }
}
