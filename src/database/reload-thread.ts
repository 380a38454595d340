import { Worker } from 'node:worker_threads';
import { endWorker, workerScript } from '../threads.js';

/** What the reload thread is started with. */
export interface ReloadThreadData {
  /** The tracker's database DSN (the thread opens one connection of its own). */
  dsn: string;
  /** Rows per keyset page. */
  pageSize: number;
  /** A page the database has not answered in this long fails the pass (ms). */
  pageTimeoutMs: number;
}

/** Main → thread: read one table. */
export interface PassRequest {
  type: 'pass';
  table: 'users' | 'torrents';
  /** Keys whose rows are sent even when unchanged (pushed since the last pass began). */
  force: string[];
  /** Send every row (the main thread's map is not the one the last pass fed). */
  full: boolean;
  /** Send a page message for every page read, even one with no row to send (pageHook). */
  everyPage: boolean;
  /** The push epoch now: the first page's readAt. */
  epoch: number;
}

export type ToReloadThread = PassRequest | { type: 'next'; epoch: number } | { type: 'abort' } | { type: 'close' };

/** A database error as it crosses threads: what the reloader's logs, /health and its retry logic read. */
export interface ThreadError {
  message: string;
  code: string | undefined;
  errno: number | undefined;
  sqlState: string | undefined;
  fatal: boolean;
}

export type FromReloadThread =
  | { type: 'page'; readAt: number; full: boolean; records: ArrayBuffer; count: number }
  | { type: 'end'; rows: number; full: boolean; removed: ArrayBuffer; removedCount: number }
  | { type: 'error'; error: ThreadError };

/** The end of a pass over one table. */
export interface PassEnd {
  /** Rows the database returned. */
  rows: number;
  /** Every row was sent (the first pass of a thread, or one asked for): the caller sweeps what it did not see. */
  full: boolean;
  /** Records of the rows gone since the last pass (and of keys a row no longer has); empty when full. */
  removed: Buffer;
  removedCount: number;
}

export interface PassOptions {
  force: string[];
  full: boolean;
  everyPage: boolean;
  /** The push epoch (read when each page is acknowledged). */
  epoch: () => number;
}

/**
 * Applies a page of records (`count` of them, read at push epoch `readAt`; `full`: the pass
 * sends every row); the next page is sent after it resolves (read meanwhile, with the epoch known
 * before this page was applied as its `readAt`).
 */
export type PageHandler = (records: Buffer, count: number, readAt: number, full: boolean) => Promise<void>;

interface Pending {
  onPage: PageHandler;
  epoch: () => number;
  resolve: (end: PassEnd) => void;
  reject: (err: Error) => void;
}

/**
 * The main thread's side of the reload thread (reload-worker.ts): starts it when a pass
 * is first asked for, runs one pass at a time, and starts a new one after it failed or
 * exited (whose first pass then sends every row, as does a pass after one that failed).
 * Between passes the thread does not keep the process alive (unref); close() ends it.
 */
export class ReloadThread {
  private worker: Worker | undefined;
  private pending: Pending | undefined;

  constructor(private readonly data: ReloadThreadData) {}

  /**
   * Reads `table` on the thread, calling `onPage` for each page of new or changed rows;
   * resolves with the pass's end. Rejects with the database's error (code, errno,
   * sqlState and fatal copied), the handler's, or the thread's own failure.
   */
  pass(table: PassRequest['table'], options: PassOptions, onPage: PageHandler): Promise<PassEnd> {
    if (this.pending !== undefined) return Promise.reject(new Error('a reload pass is already running'));
    let worker: Worker;
    try {
      worker = this.start();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // Held while a pass runs (a start awaiting its first load has nothing else keeping the process up).
    worker.ref();
    return new Promise<PassEnd>((resolve, reject) => {
      this.pending = { onPage, epoch: options.epoch, resolve, reject };
      const request: PassRequest = {
        type: 'pass',
        table,
        force: options.force,
        full: options.full,
        everyPage: options.everyPage,
        epoch: options.epoch(),
      };
      worker.postMessage(request);
    });
  }

  /** Ends the thread (its connection closed first; terminated if it takes over 2 s). */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    this.worker = undefined;
    await endWorker(worker, { type: 'close' } satisfies ToReloadThread, 2_000);
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const script = workerScript(import.meta.url, 'reload-worker.js', 'the reload thread');
    const worker = new Worker(script, { workerData: this.data satisfies ReloadThreadData });
    worker.unref();
    worker.on('message', (message: FromReloadThread) => this.onMessage(message));
    worker.on('error', (err) => this.lost(worker, `the reload thread failed: ${err.message}`));
    worker.on('exit', (code) => this.lost(worker, `the reload thread exited (code ${code})`));
    this.worker = worker;
    return worker;
  }

  /** The thread is gone: the pass it ran fails, and the next pass starts another thread. */
  private lost(worker: Worker, why: string): void {
    if (this.worker === worker) this.worker = undefined;
    void worker.terminate();
    this.settle(new Error(why));
  }

  private onMessage(message: FromReloadThread): void {
    const pending = this.pending;
    if (pending === undefined) return;
    switch (message.type) {
      case 'page':
        pending.onPage(Buffer.from(message.records), message.count, message.readAt, message.full).then(
          () => {
            if (this.pending === pending) this.worker?.postMessage({ type: 'next', epoch: pending.epoch() } satisfies ToReloadThread);
          },
          (err: unknown) => {
            if (this.pending !== pending) return;
            this.worker?.postMessage({ type: 'abort' } satisfies ToReloadThread);
            this.settle(err instanceof Error ? err : new Error(String(err)));
          },
        );
        break;
      case 'end':
        this.settle(undefined, {
          rows: message.rows,
          full: message.full,
          removed: Buffer.from(message.removed),
          removedCount: message.removedCount,
        });
        break;
      case 'error':
        this.settle(Object.assign(new Error(message.error.message), message.error));
        break;
    }
  }

  private settle(err: Error | undefined, end?: PassEnd): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    this.worker?.unref();
    if (err !== undefined) pending.reject(err);
    else pending.resolve(end!);
  }
}
