import type { FastifyInstance } from 'fastify';
import type { Pool } from 'mysql2/promise';
import { MemoryAccounting, type AccountingSink } from './accounting/sink.js';
import { listenAddress, type Config } from './config/config.js';
import { openPool } from './database/pool.js';
import { Reloader } from './database/reload.js';
import { buildHttpServer } from './http/server.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics/metrics.js';
import { noRecorder, type AnnounceRecorder } from './recorder/recorder.js';
import { Store } from './store/store.js';
import { createContext, type TrackerContext } from './tracker/context.js';

/** A background job the tracker owns: started after the first load, stopped at shutdown. */
export interface Service {
  name: string;
  start(): void;
  /** Finishes the job's work (final flush, final write) within the deadline. */
  stop(deadlineMs: number): Promise<void>;
}

export interface TrackerOptions {
  config: Config;
  logger: Logger;
  /** Folder for the cache files and events/ (default: the working directory). */
  dir?: string;
  /** Unix milliseconds. */
  clock?: () => number;
  random?: () => number;
  pool?: Pool;
  accounting?: AccountingSink;
  recorder?: AnnounceRecorder;
  /** Extra jobs (flushers, serializer, recorder writer). */
  services?: (tracker: Tracker) => Service[];
}

/**
 * The composition root: one store, one set of queues, one HTTP server, all
 * passed to each other explicitly. Tests build one per database.
 */
export class Tracker {
  readonly config: Config;
  readonly logger: Logger;
  readonly dir: string;
  readonly store = new Store();
  readonly metrics: Metrics;
  readonly pool: Pool;
  readonly reloader: Reloader;
  readonly ctx: TrackerContext;
  readonly http: FastifyInstance;
  readonly clock: () => number;
  private readonly services: Service[];
  private reloadTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: TrackerOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.dir = options.dir ?? process.cwd();
    this.clock = options.clock ?? Date.now;
    this.metrics = new Metrics();
    this.pool = options.pool ?? openPool(this.config.database.dsn);
    this.reloader = new Reloader(this.pool, this.store, this.metrics, this.logger);
    this.ctx = createContext({
      store: this.store,
      config: this.config,
      accounting: options.accounting ?? new MemoryAccounting(),
      recorder: options.recorder ?? noRecorder,
      ...(options.random ? { random: options.random } : {}),
    });
    const store = this.store;
    this.metrics.watchStore({
      users: () => store.users.size,
      torrents: () => store.torrents.size,
      clients: () => store.approvedClients.length,
      hitAndRuns: () => store.hitAndRuns.size,
      seeders: () => countPeers(store, 'seeders'),
      leechers: () => countPeers(store, 'leechers'),
    });
    this.http = buildHttpServer({
      ctx: this.ctx,
      config: this.config,
      metrics: this.metrics,
      logger: this.logger,
      clock: this.clock,
    });
    this.services = options.services?.(this) ?? [];
  }

  /** Loads the data, starts listening and the background jobs. Resolves with the bound address. */
  async start(listen: { host: string; port: number } = listenAddress(this.config.http.addr)): Promise<string> {
    const loaded = await this.reloader.reload();
    if (!loaded) this.logger.warn('first database load incomplete; serving what could be loaded and retrying');
    this.logger.info(
      { users: this.store.users.size, torrents: this.store.torrents.size, clients: this.store.approvedClients.length },
      'data loaded',
    );
    const address = await this.http.listen({ host: listen.host, port: listen.port });
    this.scheduleReload();
    for (const service of this.services) service.start();
    this.logger.info({ address }, 'listening');
    return address;
  }

  private scheduleReload(): void {
    this.reloadTimer = setTimeout(() => {
      void this.reloader.reload().finally(() => {
        if (this.stopping === undefined) this.scheduleReload();
      });
    }, this.config.intervals.database_reload * 1000);
    this.reloadTimer.unref();
  }

  /**
   * Graceful stop: stop accepting, answer what is in flight, then stop every
   * job (final flushes and writes) within the deadline, then close the pool.
   */
  stop(deadlineMs = 60_000): Promise<void> {
    this.stopping ??= this.doStop(deadlineMs);
    return this.stopping;
  }

  private async doStop(deadlineMs: number): Promise<void> {
    clearTimeout(this.reloadTimer);
    await this.http.close();
    const deadline = Date.now() + deadlineMs;
    // Reverse order: jobs started last (e.g. the serializer) stop first; the flushers see every record.
    for (const service of [...this.services].reverse()) {
      try {
        await service.stop(Math.max(0, deadline - Date.now()));
      } catch (err) {
        this.logger.error({ service: service.name, err: (err as Error).message }, 'service failed to stop cleanly');
      }
    }
    await this.reloader.idle();
    await this.pool.end().catch(() => undefined);
    this.metrics.close();
  }
}

function countPeers(store: Store, kind: 'seeders' | 'leechers'): number {
  let n = 0;
  for (const torrent of store.torrents.values()) n += torrent[kind].size;
  return n;
}
