import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'mysql2/promise';
import { CacheWriter, readCacheFiles } from './cache/index.js';
import { listenAddress, type Config } from './config/config.js';
import { openPool } from './database/pool.js';
import { Reloader } from './database/reload.js';
import { AccountingQueues, PurgeJob, type AccountingQueuesOptions, type StopReport } from './flush/index.js';
import { ensurePositionsTable, PositionsTableMissing, readPositions, type JournalPositionSource } from './flush/positions.js';
import type { QueueName } from './flush/tables.js';
import { collectGarbageNow } from './gc.js';
import { buildHttpServer } from './http/server.js';
import type { Logger } from './log.js';
import { Journal, readCheckpoint, recoverFromJournal, writeCheckpoint } from './journal/index.js';
import { Metrics } from './metrics/metrics.js';
import { ClientAddressRules } from './protocol/address.js';
import { CsvRecorder } from './recorder/csv-recorder.js';
import { noRecorder } from './recorder/recorder.js';
import { Store } from './store/store.js';
import { createContext, type TrackerContext } from './tracker/context.js';

export interface TrackerOptions {
  config: Config;
  logger: Logger;
  /** Folder for the cache files and events/ (default: the working directory). */
  dir?: string;
  /** Unix milliseconds; injectable for tests. */
  clock?: () => number;
  random?: () => number;
  /** Defaults to a pool on config.database.dsn. */
  pool?: Pool;
  accounting?: AccountingQueuesOptions;
  /** Read and write the cache files (default true). */
  cache?: boolean;
}

export interface ShutdownReport {
  flush: StopReport;
  cacheWritten: boolean;
}

/**
 * The composition root: one store, one set of queues, one HTTP server, each
 * handed what it needs. Nothing here is global, so tests run several at once.
 *
 * Start: cache files → first database load → listen → background jobs
 * (reload, flushers, purge, serializer, recorder). Stop: the reverse, so that
 * every accounted byte reaches the queues before they are flushed.
 */
export class Tracker {
  readonly config: Config;
  readonly logger: Logger;
  readonly dir: string;
  readonly clock: () => number;
  readonly store = new Store();
  readonly metrics = new Metrics();
  readonly pool: Pool;
  readonly reloader: Reloader;
  readonly accounting: AccountingQueues;
  /** The crash journal (docs/crash-safety.md): undefined when journal.enabled is false or without cache files. */
  readonly journal: Journal | undefined;
  readonly purge: PurgeJob;
  readonly recorder: CsvRecorder | undefined;
  readonly ctx: TrackerContext;
  readonly http: FastifyInstance;
  private readonly cacheWriter: CacheWriter | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private serializeTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<ShutdownReport> | undefined;
  /** torrent-cache.bin was read without error (a checkpoint may describe it). */
  private cacheLoaded = false;
  /** The journal position the last written checkpoint reaches. */
  private checkpointPosition = 0;

  constructor(options: TrackerOptions) {
    const { config, logger } = options;
    this.config = config;
    this.logger = logger;
    this.dir = options.dir ?? process.cwd();
    this.clock = options.clock ?? Date.now;
    this.pool = options.pool ?? openPool(config.database.dsn);
    this.reloader = new Reloader(this.pool, this.store, this.metrics, logger);
    // The checkpoints are the cache files: no cache files, no journal.
    const journaled = config.journal.enabled && options.cache !== false;
    const positions: JournalPositionSource | undefined = journaled
      ? { appended: () => this.journal?.appended() ?? 0, durable: (p) => this.journal?.durable(p) ?? Promise.resolve() }
      : undefined;
    this.accounting = new AccountingQueues(this.pool, config, this.metrics, logger, { ...options.accounting, journal: positions });
    this.journal = journaled
      ? new Journal(this.accounting, {
          dir: join(this.dir, 'journal'),
          fdatasync: config.journal.fdatasync,
          segmentBytes: config.journal.segment_bytes,
          logger,
        })
      : undefined;
    this.metrics.watchQueues(() => this.accounting.depths());
    this.purge = new PurgeJob(this.store, this.accounting, this.pool, config, this.metrics, logger, () =>
      Math.floor(this.clock() / 1000),
    );
    this.recorder = config.record_announces
      ? new CsvRecorder({ dir: join(this.dir, 'events'), logger, metrics: this.metrics })
      : undefined;
    this.cacheWriter = options.cache === false ? undefined : new CacheWriter(this.dir, { logger });
    this.ctx = createContext({
      store: this.store,
      config,
      accounting: this.journal ?? this.accounting,
      recorder: this.recorder ?? noRecorder,
      addresses: new ClientAddressRules(config.http.proxy_header, config.http.trusted_proxies, (header, from) =>
        logger.warn(
          { header, from },
          'proxy header ignored: the connection is not from http.trusted_proxies (logged once; add the proxy there, or set http.proxy_header)',
        ),
      ),
      ...(options.random ? { random: options.random } : {}),
    });
    const store = this.store;
    this.metrics.watchStore({
      users: () => store.users.size,
      torrents: () => store.torrents.size,
      clients: () => store.approvedClients.length,
      hitAndRuns: () => store.hitAndRuns.size,
      peers: () => store.peerCountsYielding(),
    });
    this.http = buildHttpServer({ ctx: this.ctx, config, metrics: this.metrics, logger, clock: this.clock, gate: this.journal });
  }

  /** Loads the data, starts listening and the background jobs. Resolves with the bound address. */
  async start(listen: { host: string; port: number } = listenAddress(this.config.http.addr)): Promise<string> {
    if (this.cacheWriter !== undefined) await this.loadCache();
    const loaded = await this.reloader.reload();
    if (!loaded) this.logger.warn('first database load incomplete: serving what could be loaded, retrying on schedule');
    if (this.journal !== undefined) await this.recoverJournal(this.journal);
    const gcStarted = performance.now();
    collectGarbageNow();
    this.logger.info(
      {
        users: this.store.users.size,
        torrents: this.store.torrents.size,
        clients: this.store.approvedClients.length,
        gcMs: Math.round(performance.now() - gcStarted),
      },
      'data loaded',
    );
    const address = await this.http.listen({ host: listen.host, port: listen.port });
    this.scheduleReload();
    this.accounting.start();
    this.purge.start();
    this.scheduleSerialize();
    this.logger.info({ address }, 'listening');
    return address;
  }

  /**
   * Replays the journal over the checkpoint (the cache file just loaded): peers get the
   * counters of their last answered announce, and what no committed flush covers is
   * queued again (docs/crash-safety.md). Waits for the database, which alone says what
   * was flushed; refuses to start when hayate_journal_positions is missing and cannot be made.
   */
  private async recoverJournal(journal: Journal): Promise<void> {
    const positions = await this.readJournalPositions();
    const checkpoint = this.cacheLoaded ? await readCheckpoint(this.dir, this.logger) : undefined;
    const result = recoverFromJournal({
      dir: join(this.dir, 'journal'),
      store: this.store,
      sink: this.accounting,
      checkpoint: checkpoint?.position ?? 0,
      positions,
      logger: this.logger,
    });
    this.accounting.setCommittedPositions(positions);
    const firstSeq = Math.max(result.lastSeq, checkpoint?.position ?? 0, ...positions.values()) + 1;
    journal.start(firstSeq);
    this.checkpointPosition = checkpoint?.position ?? 0;
    this.logger.info(
      {
        checkpoint: checkpoint?.position ?? null,
        positions: Object.fromEntries(positions),
        replayed: result.replayed,
        peersSet: result.peersSet,
        requeued: result.requeued,
        unknownTorrents: result.unknownTorrents,
        nextRecord: firstSeq,
        ms: Math.round(result.seconds * 1000),
      },
      'journal replayed',
    );
  }

  /** The stored journal positions; retries while the database cannot be reached. */
  private async readJournalPositions(): Promise<Map<QueueName, number>> {
    for (let attempt = 1; ; attempt++) {
      try {
        await ensurePositionsTable(this.pool);
        return await readPositions(this.pool);
      } catch (err) {
        if (err instanceof PositionsTableMissing) throw err;
        const waitMs = Math.min(500 * attempt, 5_000);
        this.logger.error({ err: (err as Error).message, attempt, retryInMs: waitMs }, 'journal: cannot read the flushed positions from the database yet; waiting (nothing is answered before the journal is replayed)');
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  /** Restores swarms (and users, so a restart can answer before the database does) from the cache files. */
  private async loadCache(): Promise<void> {
    const cached = await readCacheFiles(this.dir, { logger: this.logger });
    for (const error of cached.errors) this.logger.error({ error }, 'cache file unusable: starting without it');
    this.cacheLoaded = !cached.errors.some((e) => e.includes('torrent-cache'));
    this.store.torrents = cached.torrents;
    this.store.users = cached.users;
    let peers = 0;
    for (const t of cached.torrents.values()) peers += t.seeders.size + t.leechers.size;
    this.logger.info({ torrents: cached.torrents.size, peers, users: cached.users.size }, 'cache loaded');
  }

  private scheduleReload(): void {
    this.reloadTimer = setTimeout(() => {
      void this.reloader.reload().finally(() => {
        if (this.stopping === undefined) this.scheduleReload();
      });
    }, this.config.intervals.database_reload * 1000);
    this.reloadTimer.unref();
  }

  private scheduleSerialize(): void {
    if (this.cacheWriter === undefined) return;
    this.serializeTimer = setTimeout(() => {
      void this.writeCache().finally(() => {
        if (this.stopping === undefined) this.scheduleSerialize();
      });
    }, this.config.intervals.database_serialize * 1000);
    this.serializeTimer.unref();
  }

  /**
   * Writes the cache files now; failures are logged and counted, never thrown. With
   * the journal, the files are a checkpoint: the journal position reached when the
   * writer started goes beside them, and segments every queue and the checkpoint are
   * past are removed. `clean`: every queue was flushed (a clean stop).
   */
  async writeCache(clean = false): Promise<boolean> {
    if (this.cacheWriter === undefined) return false;
    const end = this.metrics.serializationSeconds.startTimer();
    try {
      let position = 0;
      await this.cacheWriter.write(this.store, () => {
        position = this.journal?.appended() ?? 0;
      });
      end();
      if (this.journal !== undefined) await this.checkpointed(this.journal, position, clean);
      return true;
    } catch (err) {
      this.metrics.serializationFailures.inc();
      this.logger.error({ err: (err as Error).message, dir: this.dir }, 'writing the cache files failed');
      return false;
    }
  }

  private async checkpointed(journal: Journal, position: number, clean: boolean): Promise<void> {
    await writeCheckpoint(this.dir, position, clean);
    this.checkpointPosition = position;
    const covered = await this.accounting.coveredPosition();
    if (covered === undefined) return;
    const removed = journal.removeThrough(Math.min(covered, this.checkpointPosition));
    if (removed > 0) this.logger.debug({ removed, checkpoint: position, covered }, 'journal: old segments removed');
  }

  /**
   * Graceful stop (SPEC §6): stop accepting and answer what is in flight, then
   * flush every queue (retrying within the deadline), write the cache files and
   * the last announce rows, close the pool.
   */
  stop(deadlineMs = 60_000): Promise<ShutdownReport> {
    this.stopping ??= this.doStop(deadlineMs);
    return this.stopping;
  }

  private async doStop(deadlineMs: number): Promise<ShutdownReport> {
    const deadline = Date.now() + deadlineMs;
    clearTimeout(this.reloadTimer);
    clearTimeout(this.serializeTimer);
    await this.http.close();
    await this.purge.stop();
    const flush = await this.accounting.stop(Math.max(1_000, deadline - Date.now()));
    if (!flush.complete) {
      this.logger.error({ remaining: flush.remaining }, 'shutdown: accounting NOT fully written to the database');
    }
    const cacheWritten = await this.writeCache(flush.complete);
    this.journal?.close();
    await this.recorder?.close();
    await this.reloader.idle();
    await this.pool.end().catch(() => undefined);
    this.metrics.close();
    return { flush, cacheWritten };
  }
}
