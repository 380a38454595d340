import { performance } from 'node:perf_hooks';
import type { Pool } from 'mysql2/promise';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { keyOrder, type Batch, type RowQueue } from './queue.js';
import { CommitOutcomeUnknown, isLockConflict, writeInTransaction, type WriteOptions } from './transaction.js';
import { Exclusive, Wakeable } from './wait.js';

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
  write: WriteOptions;
}

export interface RoundResult {
  /** Records taken from the queue this round. */
  taken: number;
  /** Records committed. */
  written: number;
  /** False when some records went back to the queue. */
  ok: boolean;
}

type ChunkOutcome = 'ok' | 'failed' | 'unknown';
type Phase = 'stopped' | 'round' | 'interval' | 'idle' | 'backoff';

/**
 * Writes one queue to the database in the background: take the whole batch,
 * write it in chunks (one transaction each), put back whatever failed, repeat.
 * Never blocks the callers that fill the queue; never drops a record.
 */
export class Flusher {
  private readonly sleeper = new Wakeable();
  private readonly pause = new Wakeable();
  private readonly exclusive = new Exclusive();
  private phase: Phase = 'stopped';
  private halted = false;
  private loop: Promise<void> | undefined;
  private backoffMs: number;

  constructor(
    readonly queue: RowQueue,
    private readonly pool: Pool,
    private readonly metrics: Metrics,
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

  get name(): string {
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
      if (this.halted) break;
      if (this.queue.size === 0) {
        // Nothing to do: wait (without a timer) for the first record.
        this.phase = 'idle';
        await this.sleeper.wait();
      }
    }
    this.phase = 'stopped';
  }

  private async round(): Promise<RoundResult> {
    const batch = this.queue.take();
    const taken = batch.count;
    if (taken === 0) return { taken: 0, written: 0, ok: true };
    const order = keyOrder(batch, this.queue.keyWidth);
    const started = performance.now();
    const labels = { queue: this.name };
    let written = 0;
    for (let i = 0; i < taken; i += this.options.chunkRows) {
      const to = Math.min(taken, i + this.options.chunkRows);
      const outcome = await this.writeChunk(batch, order, i, to);
      if (outcome !== 'ok') {
        // 'unknown': the COMMIT's answer was lost. Putting the chunk back may write it
        // twice; dropping it may lose it. hayate never drops, so it goes back too.
        this.queue.putBack(batch, order, i);
        this.queue.recycle(batch);
        this.metrics.flushSeconds.observe(labels, (performance.now() - started) / 1000);
        this.logger.error(
          { queue: this.name, written, requeued: taken - i, waiting: this.queue.size },
          outcome === 'unknown'
            ? 'flush: commit outcome unknown; records put back (this chunk may be applied twice)'
            : 'flush failed; records put back in the queue',
        );
        return { taken, written, ok: false };
      }
      written += to - i;
      this.queue.written(to - i);
      this.metrics.flushedRows.inc(labels, to - i);
    }
    this.queue.recycle(batch);
    const ms = performance.now() - started;
    this.metrics.flushSeconds.observe(labels, ms / 1000);
    const line = { queue: this.name, rows: written, ms: Math.round(ms * 10) / 10 };
    if (this.options.logFlushes) this.logger.info(line, 'flushed');
    else this.logger.debug(line, 'flushed');
    return { taken, written, ok: true };
  }

  private async writeChunk(batch: Batch, order: Uint32Array, from: number, to: number): Promise<ChunkOutcome> {
    const sql = this.queue.table.statement(batch, order, from, to);
    const records = to - from;
    const labels = { queue: this.name };
    for (let attempt = 1; ; attempt++) {
      try {
        await writeInTransaction(this.pool, sql, this.options.write);
        return 'ok';
      } catch (err) {
        if (err instanceof CommitOutcomeUnknown) {
          this.metrics.sqlErrors.inc(labels);
          this.logger.error({ err: err.cause, queue: this.name, records }, 'flush: connection lost during COMMIT');
          return 'unknown';
        }
        if (isLockConflict(err)) {
          this.metrics.deadlocks.inc(labels);
          // Shutting down: hand the chunk back at once; flushAll() retries it on its own schedule.
          if (attempt > this.options.deadlockRetries || this.halted) {
            this.metrics.deadlockAborted.inc(labels);
            this.logger.error(
              { err, queue: this.name, records, attempts: attempt },
              'flush: deadlock retries ran out; records stay queued',
            );
            return 'failed';
          }
          const pauseMs = this.options.deadlockPauseMs * attempt;
          this.metrics.deadlockSeconds.inc(labels, pauseMs / 1000);
          this.logger.warn({ queue: this.name, errno: (err as { errno?: number }).errno, attempt, pauseMs }, 'flush: deadlock, retrying');
          await this.pause.sleep(pauseMs);
          continue;
        }
        this.metrics.sqlErrors.inc(labels);
        this.logger.error({ err, queue: this.name, records }, 'flush: SQL error; records stay queued');
        return 'failed';
      }
    }
  }
}
