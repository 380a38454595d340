import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { ipv6Text } from '../protocol/ipv6.js';
import { ipToString } from '../store/peer.js';
import type { AnnounceRecorder } from './recorder.js';

export const CSV_HEADER = ['TorrentID', 'UserID', 'Addr', 'Event', 'Uploaded', 'Downloaded', 'Left'];

/** Past this many unwritten rows (writes failing for a long time) new rows are dropped. */
export const DEFAULT_MAX_BUFFERED_ROWS = 1_000_000;
const DEFAULT_FLUSH_INTERVAL_MS = 1000;
/**
 * Rows formatted and appended per write. csv-stringify costs ~2.5-5 µs a row on the event loop,
 * so 1,000 rows hold it for a few milliseconds at most; the file I/O between writes lets announces in.
 */
const ROWS_PER_WRITE = 1_000;

export interface CsvRecorderOptions {
  /** The events folder; created when missing. */
  dir: string;
  logger: Logger;
  metrics?: Metrics;
  flushIntervalMs?: number;
  maxBufferedRows?: number;
}

interface Row {
  /** Unix hour of the announce: the row belongs to that hour's file whenever it is written. */
  hour: number;
  torrentId: number;
  userId: number;
  ip: number;
  port: number;
  event: string;
  /** Exact as announced: a bigint above 2^53 − 1 (csv-stringify writes its digits). */
  uploaded: number | bigint;
  downloaded: number | bigint;
  left: number | bigint;
  /** An announce from IPv6: its 16 address bytes (latin1); Addr is then `[address]:port`. */
  addr6: string | undefined;
}

/** `events_YYYY-MM-DDTHH.csv` for a unix hour, in UTC. */
export function eventFileName(hour: number): string {
  return `events_${new Date(hour * 3_600_000).toISOString().slice(0, 13)}.csv`;
}

/**
 * Writes announces with traffic to hourly CSV files (SPEC §9). `record()` only
 * pushes onto an in-memory buffer; a timer drains it to disk. A failed write
 * keeps the rows and retries them on the next tick. The buffer is bounded
 * (`maxBufferedRows`, default 1,000,000): once full — only when writes have been
 * failing for a long while — new rows are dropped, counted in
 * `hayate_recorder_dropped_total` and logged, because the recording is
 * analytics, not accounting, and unbounded memory would take the tracker down.
 */
export class CsvRecorder implements AnnounceRecorder {
  private readonly dir: string;
  private readonly log: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly maxBufferedRows: number;
  private readonly timer: NodeJS.Timeout;

  /** Rows recorded since the writer last took its batch. */
  private pending: Row[] = [];
  /** The batch the writer is working through; rows before `written` are on disk. */
  private batch: Row[] = [];
  private written = 0;

  private draining: Promise<boolean> | undefined;
  private dirReady = false;
  private closed = false;
  /** Failure episode state, so a long outage logs once, not every tick. */
  private failing = false;
  private failedWrites = 0;
  private droppedSinceOk = 0;

  constructor(options: CsvRecorderOptions) {
    this.dir = options.dir;
    this.log = options.logger;
    this.metrics = options.metrics;
    this.maxBufferedRows = options.maxBufferedRows ?? DEFAULT_MAX_BUFFERED_ROWS;
    const interval = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.timer = setInterval(() => {
      if (!this.draining && this.buffered() > 0) void this.drain();
    }, interval);
    // Recording never keeps the process alive; close() is what flushes at shutdown.
    this.timer.unref();
  }

  record(
    now: number,
    torrentId: number,
    userId: number,
    ip: number,
    port: number,
    event: string,
    uploaded: number | bigint,
    downloaded: number | bigint,
    left: number | bigint,
    addr6?: string,
  ): void {
    if (uploaded <= 0 && downloaded <= 0) return;
    if (this.closed || this.buffered() >= this.maxBufferedRows) {
      this.drop();
      return;
    }
    this.pending.push({
      hour: Math.floor(now / 3600),
      torrentId,
      userId,
      ip,
      port,
      event,
      uploaded,
      downloaded,
      left,
      addr6,
    });
  }

  /** Rows recorded but not yet on disk. */
  buffered(): number {
    return this.batch.length - this.written + this.pending.length;
  }

  /**
   * Writes everything recorded so far. Resolves true when the buffer is empty,
   * false when a write failed (the rows stay buffered for the next attempt).
   * Never rejects.
   */
  async flush(): Promise<boolean> {
    while (this.draining) await this.draining;
    return this.drain();
  }

  /** Stops the timer and writes every buffered row. Rows recorded after this are dropped (counted). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    let ok = await this.flush();
    // Rows recorded while that flush ran are written too, before record() starts refusing.
    while (ok && this.buffered() > 0) ok = await this.flush();
    this.closed = true;
    if (!ok) {
      const lost = this.buffered();
      this.log.error({ dir: this.dir, rows: lost }, 'announce recorder closed with rows it could not write; they are lost');
      this.metrics?.recorderDropped.inc(lost);
    }
  }

  private drain(): Promise<boolean> {
    this.draining = this.writeAll().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  private async writeAll(): Promise<boolean> {
    for (;;) {
      if (this.written >= this.batch.length) {
        if (this.pending.length === 0) {
          // Let the written rows go now rather than at the next swap.
          this.batch = [];
          this.written = 0;
          return true;
        }
        // Swap rather than splice: the writer owns `batch`, record() keeps pushing to `pending`.
        this.batch = this.pending;
        this.pending = [];
        this.written = 0;
      }
      const end = sameHourEnd(this.batch, this.written, ROWS_PER_WRITE);
      try {
        await this.append(this.batch, this.written, end);
      } catch (err) {
        this.onWriteFailed(err);
        return false;
      }
      this.metrics?.recorderRows.inc(end - this.written);
      this.written = end;
      this.onWriteSucceeded();
    }
  }

  /** Appends rows[start, end) (all of one hour) to that hour's file, with the header when the file is new. */
  private async append(rows: Row[], start: number, end: number): Promise<void> {
    const hour = rows[start]!.hour;
    const records: (string | number | bigint)[][] = [];
    for (let i = start; i < end; i++) {
      const r = rows[i]!;
      // IPv6 as `[address]:port` (RFC 3986 host syntax): the port stays the text after the last ':'.
      const addr = r.addr6 === undefined ? `${ipToString(r.ip)}:${r.port}` : `[${ipv6Text(r.addr6)}]:${r.port}`;
      records.push([r.torrentId, r.userId, addr, r.event, r.uploaded, r.downloaded, r.left]);
    }
    if (!this.dirReady) {
      await mkdir(this.dir, { recursive: true });
      this.dirReady = true;
    }
    const path = join(this.dir, eventFileName(hour));
    let file;
    try {
      file = await open(path, 'a');
    } catch (err) {
      // The folder may have been removed under us: recreate it on the next attempt.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.dirReady = false;
      throw err;
    }
    try {
      // An empty file (new, or created by a run that died before writing) gets the header;
      // a restart within the hour finds rows and just appends.
      const { size } = await file.stat();
      const rowsText = stringify(records);
      const text = size === 0 ? stringify([CSV_HEADER]) + rowsText : rowsText;
      try {
        await file.appendFile(text);
      } catch (err) {
        // A write that failed midway (disk full) would leave half a line; cut back so the retry
        // appends cleanly. Best effort: if this fails too, the retry follows a partial line.
        await file.truncate(size).catch(() => {});
        throw err;
      }
    } finally {
      await file.close();
    }
  }

  private onWriteFailed(err: unknown): void {
    this.failedWrites++;
    this.metrics?.recorderErrors.inc();
    if (!this.failing) {
      this.failing = true;
      this.log.error({ err, dir: this.dir, buffered: this.buffered() }, 'announce recorder cannot write; rows kept in memory and retried');
    }
  }

  private onWriteSucceeded(): void {
    if (!this.failing && this.droppedSinceOk === 0) return;
    this.log.warn({ dir: this.dir, failedWrites: this.failedWrites, droppedRows: this.droppedSinceOk }, 'announce recorder writing again');
    this.failing = false;
    this.failedWrites = 0;
    this.droppedSinceOk = 0;
  }

  private drop(): void {
    this.metrics?.recorderDropped.inc();
    if (this.droppedSinceOk++ === 0) {
      this.log.error(
        { dir: this.dir, maxBufferedRows: this.maxBufferedRows, closed: this.closed },
        this.closed
          ? 'announce recorded after the recorder closed; row dropped'
          : 'announce recorder buffer full; dropping new rows until writes succeed',
      );
    }
  }
}

/** End (exclusive) of the run starting at `start` whose rows share one hour, at most `max` rows. */
function sameHourEnd(rows: Row[], start: number, max: number): number {
  const hour = rows[start]!.hour;
  const limit = Math.min(rows.length, start + max);
  let end = start + 1;
  while (end < limit && rows[end]!.hour === hour) end++;
  return end;
}
