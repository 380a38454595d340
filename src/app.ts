import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'mysql2/promise';
import { CacheWriter, readCacheFiles, TORRENT_CACHE_FILE, USER_CACHE_FILE } from './cache/index.js';
import { attachIpv6Endpoints, readIpv6Endpoints, type Ipv6EndpointRecord } from './cache/ipv6-endpoints.js';
import { ConfigError, listenAddress, type Config, type ListenTarget } from './config/config.js';
import { IPV6_MIGRATION, transferIps6Table } from './database/ipv6-table.js';
import { isConfigurationRefusal, openPool } from './database/pool.js';
import { redact } from './config/dsn.js';
import { Reloader, type ReloadOptions } from './database/reload.js';
import {
  AccountingQueues,
  AccountingThread,
  PurgeJob,
  type Accounting,
  type AccountingQueuesOptions,
  type StopReport,
} from './flush/index.js';
import { noAccounting, type AccountingSink } from './accounting/sink.js';
import {
  ensurePositionsTable,
  POSITIONS_TABLE,
  PositionsTableMissing,
  readPositions,
  type JournalAtStart,
  type JournalPositionSource,
} from './flush/positions.js';
import { queueNames, type QueueName } from './flush/tables.js';
import { collectGarbageNow } from './gc.js';
import { buildHttpServer } from './http/server.js';
import { freeUnixSocketPath, setSocketMode } from './http/unix-socket.js';
import type { Logger } from './log.js';
import { Journal, journalExtent, readCheckpoint, recoverFromJournal, writeCheckpoint, type Checkpoint } from './journal/index.js';
import { Metrics } from './metrics/metrics.js';
import { ClientAddressRules } from './protocol/address.js';
import { CsvRecorder } from './recorder/csv-recorder.js';
import { noRecorder } from './recorder/recorder.js';
import { Store } from './store/store.js';
import { createContext, type TrackerContext } from './tracker/context.js';
import { UpdateApi } from './update/api.js';

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
  /** Reload paging (tests hold a pass with pageHook). */
  reload?: Omit<ReloadOptions, 'dsn'>;
  /** Where config.database.dsn came from, named in errors: `database.dsn` (default) or `DB_DSN`. */
  dsnSetting?: string;
}

/** What GET /health answers (JSON) and with which status. */
export interface HealthReport {
  /**
   * 200: serving from loaded data; 503: not loaded yet (answers are retryable failures), waiting
   * for the database before replaying the crash journal (`starting`), or stopping.
   */
  status: 200 | 503;
  body: {
    status: 'ok' | 'loading' | 'starting' | 'stopping';
    /** Where the data came from: the cache files until the database answered once, then the database; null until loaded. */
    loaded_from: 'cache' | 'database' | null;
    database: {
      /** Did the last database reload pass succeed whole? null before the first pass ended. */
      reachable: boolean | null;
      /** Seconds since the last whole successful reload; null if none yet. */
      last_reload_age: number | null;
      /** Code of the last reload error (e.g. ECONNREFUSED, ER_ACCESS_DENIED_ERROR); null when the last pass succeeded. */
      last_error: string | null;
    };
    /** Accounting records waiting to be written to the database, over every queue. */
    queued: number;
    /** Seconds since start. */
    uptime: number;
  };
}

/** Before the first load the database is retried this often (seconds), whatever intervals.database_reload says. */
const FIRST_LOAD_RETRY_SECONDS = 5;

export interface ShutdownReport {
  flush: StopReport;
  /** The cache files were written, or had nothing to save (a stop before the start finished). */
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
  readonly accounting: Accounting;
  /** The crash journal (docs/crash-safety.md): undefined when journal.enabled is false or without cache files. */
  readonly journal: Journal | undefined;
  /** The journal's folder (`journal/` in the working directory). */
  private readonly journalDir: string;
  /**
   * Where journalled calls go on to, live and when replayed at start: the queues on this
   * thread, or nowhere when the accounting thread reads the records itself.
   */
  private readonly queuedFromJournal: AccountingSink;
  /** Where the accounting queues and flushes run (logged with 'listening'). */
  private readonly accountingOn: 'accounting thread' | 'main thread';
  readonly purge: PurgeJob;
  readonly recorder: CsvRecorder | undefined;
  readonly ctx: TrackerContext;
  readonly http: FastifyInstance;
  /** The site's update API (site_password); off when that is empty. */
  readonly updates: UpdateApi;
  private readonly cacheWriter: CacheWriter | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private serializeTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<ShutdownReport> | undefined;
  /** torrent-cache.bin was read without error (a checkpoint may describe it). */
  private cacheLoaded = false;
  /** The journal position the last written checkpoint reaches. */
  private checkpointPosition = 0;
  private listening = false;
  /**
   * The start is waiting for the database before replaying the crash journal, already
   * listening: announces and scrapes get "Tracker is starting up", update pushes a 503,
   * /health a 503 `starting`; nothing is read or changed until the replay.
   */
  private waitingForDatabase = false;
  private readonly startedAt = Date.now();
  /** The DSN's setting as errors name it (TrackerOptions.dsnSetting). */
  private readonly dsnSetting: string;

  constructor(options: TrackerOptions) {
    const { config, logger } = options;
    this.config = config;
    this.dsnSetting = options.dsnSetting ?? 'database.dsn';
    this.logger = logger;
    this.dir = options.dir ?? process.cwd();
    this.journalDir = join(this.dir, 'journal');
    this.clock = options.clock ?? Date.now;
    this.pool = options.pool ?? openPool(config.database.dsn);
    this.reloader = new Reloader(this.pool, this.store, this.metrics, logger, { ...options.reload, dsn: config.database.dsn });
    // The checkpoints are the cache files: no cache files, no journal.
    const journaled = config.journal.enabled && options.cache !== false;
    const positions: JournalPositionSource | undefined = journaled
      ? { appended: () => this.journal?.appended() ?? 0, durable: (p) => this.journal?.durable(p) ?? Promise.resolve() }
      : undefined;
    // With the journal, the queues live on a thread of their own that reads the journal's files.
    const threaded = positions !== undefined && config.journal.accounting_thread;
    this.accounting = threaded
      ? new AccountingThread(
          this.pool,
          config,
          this.metrics,
          logger,
          { ...positions, dir: this.journalDir, fdatasync: config.journal.fdatasync },
          options.accounting,
        )
      : new AccountingQueues(this.pool, config, this.metrics, logger, { ...options.accounting, journal: positions });
    // The accounting thread reads the journal's records itself, from the same positions.
    this.queuedFromJournal = threaded ? noAccounting : this.accounting;
    this.accountingOn = threaded ? 'accounting thread' : 'main thread';
    this.journal = journaled
      ? new Journal(this.queuedFromJournal, {
          dir: this.journalDir,
          fdatasync: config.journal.fdatasync,
          segmentBytes: config.journal.segment_bytes,
          logger,
        })
      : undefined;
    this.metrics.watchQueues(() => this.accounting.depths());
    this.purge = new PurgeJob(this.store, this.accounting, this.pool, config, this.metrics, logger, () => Math.floor(this.clock() / 1000));
    this.recorder = config.record_announces ? new CsvRecorder({ dir: join(this.dir, 'events'), logger, metrics: this.metrics }) : undefined;
    this.cacheWriter = options.cache === false ? undefined : new CacheWriter(this.dir, { logger, ipv6: config.announce.ipv6 });
    this.ctx = createContext({
      store: this.store,
      config,
      accounting: this.journal ?? this.accounting,
      recorder: this.recorder ?? noRecorder,
      addresses: new ClientAddressRules(
        config.http.proxy_header,
        config.http.trusted_proxies,
        (header, from) =>
          logger.warn(
            { header, from },
            'proxy header ignored: the connection is not from http.trusted_proxies (logged once; add the proxy there, or set http.proxy_header)',
          ),
        () =>
          logger.warn(
            'an announce over the Unix socket carried no X-Real-Ip or X-Forwarded-For, so its client has no address (logged once; nginx: proxy_set_header X-Real-IP $remote_addr)',
          ),
      ),
      ...(options.random ? { random: options.random } : {}),
    });
    const store = this.store;
    this.metrics.watchDatabase({
      reachable: () => this.reloader.lastOk,
      lastSuccessAt: () => this.reloader.lastSuccessAt,
    });
    this.metrics.watchStore({
      users: () => store.users.size,
      torrents: () => store.torrents.size,
      clients: () => store.approvedClients.length,
      hitAndRuns: () => store.hitAndRuns.size,
      peers: () => store.peerCountsYielding(),
      // With IPv6 off every peer has an IPv4 endpoint only: no walk over every peer for it.
      ...(config.announce.ipv6
        ? { endpoints: () => store.endpointCountsYielding(Math.floor(this.clock() / 1000) - config.intervals.peer_inactivity) }
        : {}),
      announcesByFamily: () => this.ctx.announcesByFamily,
    });
    this.updates = new UpdateApi({
      store: this.store,
      config,
      pool: this.pool,
      reload: () => this.reloader.reloadFresh(),
      metrics: this.metrics,
      logger,
      clock: this.clock,
      ready: () => !this.waitingForDatabase,
    });
    this.http = buildHttpServer({
      ctx: this.ctx,
      config,
      metrics: this.metrics,
      logger,
      clock: this.clock,
      updates: this.updates,
      health: () => this.health(),
      gate: this.journal,
      ready: () => !this.waitingForDatabase,
    });
  }

  /** Loads the data, starts listening and the background jobs. Resolves with the bound address. */
  async start(listen: ListenTarget = listenAddress(this.config.http.addr)): Promise<string> {
    // Before the load (which can take a while): a live process on the socket path fails the start now.
    if ('path' in listen) await freeUnixSocketPath(listen.path);
    if (this.config.announce.ipv6) await this.checkIpv6Table();
    if (this.cacheWriter !== undefined) await this.loadCache();
    const loaded = await this.reloader.reload();
    this.abortIfStopped();
    if (!loaded) {
      const err = this.reloader.lastError;
      if (isConfigurationRefusal(err)) {
        throw this.databaseRefused(err);
      }
      this.logger.warn(
        { err, loadedFrom: this.store.loadedFrom ?? null },
        this.store.loadedFrom === undefined
          ? `first database load failed: answering "try again" until it succeeds (retrying every ${FIRST_LOAD_RETRY_SECONDS} s)`
          : "first database load incomplete: serving the cache files' data, retrying on schedule",
      );
    }
    // Waiting for the database before the replay: listen meanwhile, answering "starting up"
    // (clients and load balancers get an answer, not a refused connection).
    let listenedEarly: string | undefined;
    const whileWaiting = async (): Promise<void> => {
      if (listenedEarly !== undefined) return;
      this.waitingForDatabase = true;
      listenedEarly = await this.listenOn(listen);
      this.logger.warn(
        { address: listenedEarly },
        'listening while waiting for the database: announces and scrapes are answered "Tracker is starting up" until the journal is replayed',
      );
    };
    if (this.journal !== undefined) await this.recoverJournal(this.journal, loaded, whileWaiting);
    this.abortIfStopped();
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
    const address = listenedEarly ?? (await this.listenOn(listen));
    this.abortIfStopped();
    this.waitingForDatabase = false;
    this.listening = true;
    this.scheduleReload();
    this.accounting.start();
    this.purge.start();
    this.scheduleSerialize();
    this.logger.info({ address, accounting: this.accountingOn }, 'listening');
    return address;
  }

  /** The one-line start-up refusal for a database error no retry changes (naming the DSN's setting, password hidden). */
  private databaseRefused(err: unknown, remedy?: string): ConfigError {
    const where = `${this.dsnSetting} ${redact(this.config.database.dsn)}`;
    return new ConfigError(`the database refused: ${String((err as Error | undefined)?.message)} (${where})${remedy ? `: ${remedy}` : ''}`);
  }

  /**
   * A stop() during start() (in-process: the CLI exits instead) ends the start at its next
   * step: nothing replayed, started or written after the stop.
   */
  private abortIfStopped(): void {
    if (this.stopping !== undefined) throw new Error('stopped during start-up');
  }

  /** Starts the HTTP server on `listen` (a Unix socket gets http.socket_mode); resolves with the bound address. */
  private async listenOn(listen: ListenTarget): Promise<string> {
    const address = await this.http.listen('path' in listen ? { path: listen.path } : { host: listen.host, port: listen.port });
    if (this.stopping !== undefined) {
      // A stop while the listen was under way: fastify's close() (the stop's first step) does
      // not stop a listen in progress, so the server is closed here (a Unix socket's file with it).
      await new Promise<void>((resolve) => this.http.server.close(() => resolve()));
      this.abortIfStopped();
    }
    if ('path' in listen) setSocketMode(listen.path, this.config.http.socket_mode);
    return address;
  }

  /**
   * Replays the journal over the checkpoint (the cache file just loaded): peers get the
   * counters of their last answered announce, and what no committed flush covers is
   * queued again (docs/crash-safety.md). Waits for the database, which alone says what
   * was flushed; refuses to start when hayate_journal_positions is missing and cannot be made.
   */
  private async recoverJournal(journal: Journal, loaded: boolean, whileWaiting: () => Promise<void>): Promise<void> {
    const checkpoint = this.cacheLoaded ? await readCheckpoint(this.dir, this.logger) : undefined;
    const positions = await this.readJournalPositions(checkpoint, whileWaiting);
    this.abortIfStopped();
    // The recovery waited for the database: if the first load missed it, load now, before the
    // replay needs the torrents (and rather than answer "try again").
    if (this.store.loadedFrom !== 'database' && !loaded) await this.reloader.reload();
    this.abortIfStopped();
    const result = recoverFromJournal({
      dir: this.journalDir,
      store: this.store,
      sink: this.queuedFromJournal,
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

  /**
   * The stored journal positions; retries while the database cannot be reached. `checkpoint`
   * (the cache files' sidecar) says whether the last stop was clean, which settles a missing
   * table (ensurePositionsTable).
   */
  private async readJournalPositions(
    checkpoint: Checkpoint | undefined,
    whileWaiting: () => Promise<void>,
  ): Promise<Map<QueueName, number>> {
    // Read once, outside the retries: a folder that cannot be read is not the database's trouble.
    const dir = this.journalDir;
    const atStart: JournalAtStart = {
      dir,
      ...journalExtent(dir),
      cleanThrough: checkpoint?.clean === true ? checkpoint.position : undefined,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const table = await ensurePositionsTable(this.pool, atStart);
        if (table === 'created at the clean stop') {
          this.logger.warn(
            { table: POSITIONS_TABLE, position: atStart.cleanThrough, records: atStart.records },
            "journal: the positions table was missing; made with every queue at the clean stop's position (the journal is not credited again)",
          );
        }
        return await readPositions(this.pool);
      } catch (err) {
        if (err instanceof PositionsTableMissing) throw err;
        if (this.stopping !== undefined) throw new Error('stopped during start-up', { cause: err });
        // No privilege on the table (a user granted table by table, as chihaya's often is): no
        // retry changes that, so the start ends with one line instead of waiting for ever.
        if (isConfigurationRefusal(err)) {
          throw this.databaseRefused(err, `the tracker's user needs SELECT, INSERT, UPDATE on ${POSITIONS_TABLE} (docs/database.md)`);
        }
        const waitMs = Math.min(500 * attempt, 5_000);
        this.logger.error(
          { err, attempt, retryInMs: waitMs },
          'journal: cannot read the flushed positions from the database yet; waiting (announces are answered "Tracker is starting up" until the journal is replayed)',
        );
        await whileWaiting();
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  /** Restores swarms (and users, so a restart can answer before the database does) from the cache files. */
  private async loadCache(): Promise<void> {
    const cached = await readCacheFiles(this.dir, { logger: this.logger });
    for (const message of cached.errors) this.logger.error({ err: { type: 'Error', message } }, 'cache file unusable: starting without it');
    this.cacheLoaded = !cached.errors.some((e) => e.includes('torrent-cache'));
    // IPv6 endpoints (peers6-cache.bin); with IPv6 off, IPv6-only peers (0.0.0.0 in the file) are dropped.
    let endpoints6: Ipv6EndpointRecord[] = [];
    if (this.config.announce.ipv6) {
      try {
        endpoints6 = await readIpv6Endpoints(this.dir);
      } catch (err) {
        this.logger.error({ err }, 'cache file unusable: starting without it');
      }
    }
    const ipv6 = attachIpv6Endpoints(cached.torrents, endpoints6);
    if (endpoints6.length > 0 || ipv6.dropped > 0) this.logger.info(ipv6, 'IPv6 endpoints restored');
    this.store.torrents = cached.torrents;
    this.store.users = cached.users;
    if (cached.users.size > 0) this.store.loadedFrom = 'cache';
    let peers = 0;
    for (const t of cached.torrents.values()) peers += t.seeders.size + t.leechers.size;
    if (cached.missing.includes(TORRENT_CACHE_FILE) && cached.missing.includes(USER_CACHE_FILE)) {
      // A first start, or chihaya's files not copied over: say so rather than "cache loaded" with zeros.
      this.logger.info({ dir: this.dir, files: cached.missing }, 'no cache files; starting without peers until clients announce');
      return;
    }
    const missing = cached.missing.length > 0 ? { missing: cached.missing } : {};
    this.logger.info({ torrents: cached.torrents.size, peers, users: cached.users.size, ...missing }, 'cache loaded');
  }

  /** With `announce.ipv6` on, refuses to start (ConfigError) while the table IPv6 history goes to is missing. */
  private async checkIpv6Table(): Promise<void> {
    const table = await transferIps6Table(this.pool);
    if (table === 'missing') {
      throw new ConfigError(
        `announce.ipv6 is on, but the table transfer_ips6 does not exist: apply ${IPV6_MIGRATION} to the database (docs/ipv6.md), or turn announce.ipv6 off`,
      );
    }
    if (table === 'unknown')
      this.logger.warn({ migration: IPV6_MIGRATION }, 'could not check that transfer_ips6 exists (database unreachable)');
  }

  private scheduleReload(): void {
    clearTimeout(this.reloadTimer);
    const seconds =
      this.store.loadedFrom === undefined
        ? Math.min(FIRST_LOAD_RETRY_SECONDS, this.config.intervals.database_reload)
        : this.config.intervals.database_reload;
    this.reloadTimer = setTimeout(() => {
      void this.reloader.reload().finally(() => {
        if (this.stopping === undefined) this.scheduleReload();
      });
    }, seconds * 1000);
    this.reloadTimer.unref();
  }

  /**
   * Reloads the database now (SIGHUP, SIGUSR1), then restarts the reload timer
   * (so a changed intervals.database_reload takes effect). Resolves true when the
   * pass succeeded whole; failures are logged by the reloader.
   */
  async reloadNow(): Promise<boolean> {
    if (this.stopping !== undefined) return false;
    clearTimeout(this.reloadTimer);
    try {
      return await this.reloader.reload();
    } finally {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have begun while the reload awaited
      if (this.stopping === undefined && this.listening) this.scheduleReload();
    }
  }

  /** GET /health: whether the data is loaded, the database reachable, how old the data is. */
  health(): HealthReport {
    const now = Date.now();
    const r = this.reloader;
    const loadedFrom = this.store.loadedFrom ?? null;
    const state = this.stopping !== undefined ? 'stopping' : this.waitingForDatabase ? 'starting' : loadedFrom === null ? 'loading' : 'ok';
    const depths = this.accounting.depths();
    let queued = 0;
    for (const depth of Object.values(depths)) queued += depth;
    const code = (r.lastError as { code?: unknown } | undefined)?.code;
    return {
      status: state === 'ok' ? 200 : 503,
      body: {
        status: state,
        loaded_from: loadedFrom,
        database: {
          reachable: r.lastOk ?? null,
          last_reload_age: r.lastSuccessAt === undefined ? null : Math.round((now - r.lastSuccessAt) / 1000),
          last_error: r.lastOk === false ? (typeof code === 'string' ? code : 'error') : null,
        },
        queued,
        uptime: Math.round((now - this.startedAt) / 1000),
      },
    };
  }

  /** Restarts the cache-write timer (after SIGHUP, so a changed intervals.database_serialize takes effect). */
  rescheduleSerialize(): void {
    if (this.stopping === undefined && this.listening) this.scheduleSerialize();
  }

  private scheduleSerialize(): void {
    if (this.cacheWriter === undefined) return;
    clearTimeout(this.serializeTimer);
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
      this.logger.error({ err, dir: this.dir }, 'writing the cache files failed');
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
    const report = this.listening ? await this.saveAtStop(deadline) : nothingToSave();
    this.journal?.close();
    await this.recorder?.close();
    await this.reloader.close();
    await this.pool.end().catch(() => undefined);
    this.metrics.close();
    return report;
  }

  /** Flushes every queue (until `deadline`, Unix ms), then writes the cache files. */
  private async saveAtStop(deadline: number): Promise<ShutdownReport> {
    const flush = await this.accounting.stop(Math.max(1_000, deadline - Date.now()));
    if (!flush.complete) {
      this.logger.error({ remaining: flush.remaining }, 'shutdown: accounting NOT fully written to the database');
    }
    const cacheWritten = await this.writeCache(flush.complete);
    return { flush, cacheWritten };
  }
}

/**
 * The stop of a start that never finished (start() ends at its next step, abortIfStopped):
 * nothing was accounted, so nothing is flushed (the accounting thread, never started, is not
 * started now: without the stored positions it would read the journal from its beginning), and
 * the cache files stay as read, with their checkpoint (the journal is not replayed yet).
 */
function nothingToSave(): ShutdownReport {
  const remaining = Object.fromEntries(queueNames.map((q) => [q, { keys: 0, uploaded: 0, downloaded: 0 }]));
  return { flush: { complete: true, remaining: remaining as StopReport['remaining'] }, cacheWritten: true };
}
