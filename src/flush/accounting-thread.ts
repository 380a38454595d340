import { Worker } from 'node:worker_threads';
import type { Pool } from 'mysql2/promise';
import type { AccountingSink } from '../accounting/sink.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { endWorker, workerScript } from '../threads.js';
import type { Accounting, AccountingQueuesOptions, StopReport } from './accounting-queues.js';
import type { RoundResult } from './flusher.js';
import { readPositions, type JournalPositionSource } from './positions.js';
import { queueNames, type QueueName } from './tables.js';

/** What the accounting thread (accounting-worker.ts) starts with. */
export interface AccountingThreadData {
  config: Config;
  dsn: string;
  options: Omit<AccountingQueuesOptions, 'journal'>;
  /** The journal folder it reads. */
  dir: string;
  /** Per queue, the journal position the database holds: records after the smallest are read. */
  positions: Record<QueueName, number>;
  /** journal.fdatasync: rounds then wait for the main thread to say their records are synced. */
  fdatasync: boolean;
  /** How often the journal's files are read (ms). */
  tailMs: number;
  /** The main logger's level (pino's levelVal): lower ones are not sent. */
  logLevel: number;
}

type SinkMethod = Exclude<keyof AccountingSink, 'announced'>;
/** An AccountingSink call made on the main thread, to be made after record `afterSeq`. */
export type ForwardedCall = [afterSeq: number, method: SinkMethod, args: unknown[]];
export type MetricEvent = [
  name: 'flushSeconds' | 'flushedRows' | 'deadlocks' | 'deadlockAborted' | 'deadlockSeconds' | 'sqlErrors',
  queue: string,
  value: number,
];

export type ToAccountingThread =
  | { type: 'calls'; calls: ForwardedCall[] }
  | { type: 'durable'; id: number }
  | { type: 'flush'; id: number; queue: QueueName | undefined; afterSeq: number }
  | { type: 'covered'; id: number }
  | { type: 'stop'; id: number; timeoutMs: number; afterSeq: number }
  | { type: 'close' };

export type FromAccountingThread =
  | {
      type: 'log';
      level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
      fields: Record<string, unknown> | string;
      msg: string | undefined;
    }
  | { type: 'state'; events: MetricEvent[]; depths: Record<QueueName, number> }
  | { type: 'durable'; id: number; position: number }
  | { type: 'answer'; id: number; value: unknown };

/** The journal as this side needs it: its folder, whether it syncs, where records are numbered and when they are synced. */
export interface JournalFeed extends JournalPositionSource {
  dir: string;
  fdatasync: boolean;
}

const NO_DEPTHS = (): Record<QueueName, number> => Object.fromEntries(queueNames.map((q) => [q, 0])) as Record<QueueName, number>;

/**
 * The accounting queues on a thread of their own (docs/crash-safety.md, "The accounting
 * thread"). The announce path's calls are not sent anywhere: the journal records every
 * announce anyway, and the thread reads the journal's files as they are written, so the
 * thread answering announces does no merging, no SQL and no mysql2 work, and sends no
 * message per announce. Each round commits the journal position it covers, as on one thread.
 *
 * Calls made here (the purge's new torrent counts) are forwarded, each applied after
 * every record appended before it. flushNow() and stop() cover what was appended
 * before them. depths() is the thread's last report (every 250 ms and with every answer).
 *
 * A thread that dies (a bug) loses only its memory: its queues are rebuilt by a new
 * thread from the journal, from the positions the database holds. Needs the journal.
 */
export class AccountingThread implements Accounting {
  private worker: Worker | undefined;
  private positions: ReadonlyMap<QueueName, number> = new Map();
  private lastDepths = NO_DEPTHS();
  private nextId = 1;
  private readonly answers = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private pendingCalls: ForwardedCall[] = [];
  private callsScheduled = false;
  private stopping = false;
  private started = false;
  /** The position every queue's rows reached when the thread stopped (undefined: not all flushed). */
  private coveredAtStop: number | undefined;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly journal: JournalFeed,
    private readonly options: Omit<AccountingQueuesOptions, 'journal'> = {},
    private readonly tailMs = 20,
  ) {}

  // --- AccountingSink: calls not journalled (the purge's torrent counts) ------------------

  user(...args: Parameters<AccountingSink['user']>): void {
    this.forward('user', args);
  }
  torrent(...args: Parameters<AccountingSink['torrent']>): void {
    this.forward('torrent', args);
  }
  transferHistory(...args: Parameters<AccountingSink['transferHistory']>): void {
    this.forward('transferHistory', args);
  }
  transferIp(...args: Parameters<AccountingSink['transferIp']>): void {
    this.forward('transferIp', args);
  }
  transferIp6(...args: Parameters<AccountingSink['transferIp6']>): void {
    this.forward('transferIp6', args);
  }
  snatch(...args: Parameters<AccountingSink['snatch']>): void {
    this.forward('snatch', args);
  }
  revive(...args: Parameters<AccountingSink['revive']>): void {
    this.forward('revive', args);
  }

  private forward(method: SinkMethod, args: unknown[]): void {
    this.pendingCalls.push([this.journal.appended(), method, args]);
    if (this.callsScheduled) return;
    this.callsScheduled = true;
    queueMicrotask(() => this.sendCalls());
  }

  private sendCalls(): void {
    this.callsScheduled = false;
    // Without a thread (between a lost one and its replacement) they wait for the next.
    if (this.pendingCalls.length === 0 || this.worker === undefined) return;
    const calls = this.pendingCalls;
    this.pendingCalls = [];
    this.worker.postMessage({ type: 'calls', calls } satisfies ToAccountingThread);
  }

  // --- Accounting ----------------------------------------------------------------------------

  /** The positions the database holds (read at start, before the journal's replay): the thread reads on from them. */
  setCommittedPositions(positions: ReadonlyMap<QueueName, number>): void {
    this.positions = positions;
  }

  /** Starts the thread (once; a lost one is replaced by itself). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.spawn();
  }

  private spawn(): void {
    const script = workerScript(import.meta.url, 'accounting-worker.js', 'the accounting thread');
    const data: AccountingThreadData = {
      config: this.config,
      dsn: this.config.database.dsn,
      options: this.options,
      dir: this.journal.dir,
      positions: Object.fromEntries(queueNames.map((q) => [q, this.positions.get(q) ?? 0])) as Record<QueueName, number>,
      fdatasync: this.journal.fdatasync,
      tailMs: this.tailMs,
      logLevel: this.logger.levelVal,
    };
    const worker = new Worker(script, { workerData: data });
    // Held only while a question is out: the tracker's server keeps the process up otherwise.
    worker.unref();
    worker.on('message', (message: FromAccountingThread) => this.onMessage(message));
    worker.on('error', (err) => this.lost(worker, err.message));
    worker.on('exit', (code) => this.lost(worker, `exited with code ${code}`));
    this.worker = worker;
    this.sendCalls();
  }

  depths(): Record<QueueName, number> {
    return { ...this.lastDepths };
  }

  /** Flushes on the thread; a thread lost meanwhile (or none yet) reports the round as failed. */
  async flushNow(queue?: QueueName): Promise<RoundResult> {
    this.sendCalls();
    try {
      return (await this.ask({ type: 'flush', id: 0, queue, afterSeq: this.journal.appended() })) as RoundResult;
    } catch (err) {
      this.logger.error({ err, queue }, 'flush on the accounting thread failed; records stay in the journal');
      return { taken: 0, written: 0, ok: false };
    }
  }

  /** Asked of the thread; after stop(), what it said as it ended (the final checkpoint's). */
  async coveredPosition(): Promise<number | undefined> {
    if (this.stopping && this.worker === undefined) return this.coveredAtStop;
    try {
      return (await this.ask({ type: 'covered', id: 0 })) as number | undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Flushes everything appended so far (until `timeoutMs`), then ends the thread. A thread
   * lost just before is replaced first (from the stored positions), so nothing the journal
   * holds is left out; if even that fails, the report says every queue is incomplete.
   */
  async stop(timeoutMs: number): Promise<StopReport> {
    const deadline = Date.now() + timeoutMs;
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const unfinished = (why: string): StopReport => {
      this.logger.error({ why }, 'shutdown: the accounting thread could not finish; what it held stays in the journal for the next start');
      const remaining = Object.fromEntries(queueNames.map((q) => [q, { keys: this.lastDepths[q], uploaded: 0, downloaded: 0 }]));
      return { complete: false, remaining: remaining as StopReport['remaining'] };
    };
    if (this.worker === undefined) {
      if (this.started && !(await this.refreshPositions())) return unfinished('the stored journal positions cannot be read');
      this.started = true;
      this.spawn();
    }
    this.sendCalls();
    let report: StopReport;
    try {
      const answer = (await this.ask({
        type: 'stop',
        id: 0,
        timeoutMs: Math.max(1_000, deadline - Date.now()),
        afterSeq: this.journal.appended(),
      })) as { report: StopReport; covered: number | undefined };
      report = answer.report;
      this.coveredAtStop = answer.covered;
    } catch (err) {
      return unfinished((err as Error).message);
    }
    const worker = this.worker;
    if (worker !== undefined) {
      this.worker = undefined;
      await endWorker(worker, { type: 'close' } satisfies ToAccountingThread, 5_000);
    }
    return report;
  }

  private ask(message: Extract<ToAccountingThread, { id: number }>): Promise<unknown> {
    const worker = this.worker;
    if (worker === undefined) return Promise.reject(new Error('the accounting thread is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.answers.set(id, { resolve, reject });
      if (this.answers.size === 1) worker.ref();
      worker.postMessage({ ...message, id });
    });
  }

  private onMessage(message: FromAccountingThread): void {
    switch (message.type) {
      case 'log':
        if (typeof message.fields === 'string') this.logger[message.level](message.fields);
        else this.logger[message.level](message.fields, message.msg);
        break;
      case 'state':
        this.lastDepths = message.depths;
        for (const [name, queue, value] of message.events) {
          if (name === 'flushSeconds') this.metrics.flushSeconds.observe({ queue }, value);
          else this.metrics[name].inc({ queue }, value);
        }
        break;
      case 'durable':
        void this.journal
          .durable(message.position)
          .then(() => this.worker?.postMessage({ type: 'durable', id: message.id } satisfies ToAccountingThread));
        break;
      case 'answer': {
        const answer = this.answers.get(message.id);
        this.answers.delete(message.id);
        if (this.answers.size === 0) this.worker?.unref();
        answer?.resolve(message.value);
        break;
      }
    }
  }

  /**
   * The thread is gone. After stop() that is the end; otherwise (a bug) what it held is
   * rebuilt by a new thread from the journal, from the positions the database now holds.
   */
  private lost(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const pending = [...this.answers.values()];
    this.answers.clear();
    for (const answer of pending) answer.reject(new Error(`the accounting thread ${why}`));
    if (this.stopping) return;
    this.logger.error({ why }, 'accounting thread lost; a new one rebuilds its queues from the journal in 1 s');
    this.restartTimer = setTimeout(() => void this.restart(), 1_000);
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    if (!(await this.refreshPositions())) {
      this.restartTimer = setTimeout(() => void this.restart(), 1_000);
      return;
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have begun while the positions were read
    if (!this.stopping && this.worker === undefined) this.spawn();
  }

  /**
   * A new thread must start from what the database holds now: the lost thread's rounds
   * committed since the start moved the positions on, and reading from the old ones would
   * queue those records again.
   */
  private async refreshPositions(): Promise<boolean> {
    try {
      this.positions = await readPositions(this.pool);
      return true;
    } catch (err) {
      this.logger.error({ err }, 'accounting thread: cannot read the stored journal positions yet; retrying in 1 s');
      return false;
    }
  }
}
