import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Counters the announce path bumps. Plain numbers: incrementing a prom-client
 * counter with labels hashes the labels on every call, so the hot path writes
 * here and the registry reads these at scrape time.
 */
export class RequestStats {
  announces = 0;
  scrapes = 0;
  /** Requests answered with a bencoded failure (any route). */
  failures = 0;
  /** Requests that hit an unexpected error (answered with a failure, never a crash). */
  errors = 0;
  /** Requests per route, including /alive, /metrics and 404s. */
  other = 0;
  /** Connections accepted. */
  connections = 0;
  /** Connections the socket announce path handed to Node's HTTP server for good (a request it could not frame: a body, a split head, HTTP/1.0, …). */
  connectionsHandedOver = 0;
  /** Requests the socket announce path handed to Node's HTTP server one at a time (their connection came back after the answer). */
  requestsHandedOver = 0;

  total(): number {
    return this.announces + this.scrapes + this.other;
  }
}

export interface StoreSizes {
  users(): number;
  torrents(): number;
  clients(): number;
  hitAndRuns(): number;
  /** Both kinds at once: counting walks every torrent (yielding as it goes). */
  peers(): Promise<{ seeders: number; leechers: number }>;
  /** Peers with an IPv4 / an IPv6 endpoint that could be handed out (a walk over every peer). */
  endpoints?(): Promise<{ ipv4: number; ipv6: number }>;
  /** Successful announces by the family of the announcing address, since start. */
  announcesByFamily?(): { ipv4: number; ipv6: number };
}

/** What the reloads found out about the database (for /metrics as for /health). */
export interface DatabaseState {
  /** Did the last reload pass succeed whole; undefined before the first pass ended. */
  reachable(): boolean | undefined;
  /** When the last whole successful reload ended (Unix ms); undefined before one did. */
  lastSuccessAt(): number | undefined;
}

const LOOP_RESOLUTION_MS = 10;
const secondsBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One tracker's metrics, in a registry of its own (no global registry). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new RequestStats();
  readonly startedAt = Date.now();
  private readonly loopDelay: IntervalHistogram;
  private sizes: StoreSizes | undefined;
  private database: DatabaseState | undefined;
  private queueDepths: () => Record<string, number> = () => ({});

  readonly reloadSeconds: Histogram<'source'>;
  readonly reloadFailures: Counter<'source'>;
  readonly flushSeconds: Histogram<'queue'>;
  readonly flushedRows: Counter<'queue'>;
  readonly deadlocks: Counter<'queue'>;
  readonly deadlockAborted: Counter<'queue'>;
  readonly deadlockSeconds: Counter<'queue'>;
  readonly sqlErrors: Counter<'queue'>;
  readonly serializationSeconds: Histogram;
  readonly serializationFailures: Counter;
  readonly purgeSeconds: Histogram;
  readonly purgedPeers: Counter;
  readonly recorderRows: Counter;
  readonly recorderErrors: Counter;
  readonly recorderDropped: Counter;
  readonly updateRequests: Counter<'action' | 'outcome'>;
  readonly updateSeconds: Histogram<'action'>;
  readonly updateAuthFailures: Counter<'reason'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loopDelay.enable();

    // prom-client calls collect() with `this` bound to the metric.
    const self = this;
    new Gauge({
      name: 'hayate_uptime_seconds',
      help: 'Seconds since the tracker started',
      registers,
      collect() {
        this.set((Date.now() - self.startedAt) / 1000);
      },
    });

    const sizeGauge = (name: string, help: string, read: (s: StoreSizes) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          if (self.sizes) this.set(read(self.sizes));
        },
      });
    };
    sizeGauge('hayate_users', 'Enabled users loaded in memory', (s) => s.users());
    sizeGauge('hayate_torrents', 'Torrents loaded in memory', (s) => s.torrents());
    sizeGauge('hayate_approved_clients', 'Approved client prefixes loaded', (s) => s.clients());
    sizeGauge('hayate_hit_and_runs', 'Hit-and-run (user, torrent) pairs loaded', (s) => s.hitAndRuns());
    new Gauge({
      name: 'hayate_peers',
      help: 'Peers tracked in memory, by kind',
      labelNames: ['kind'],
      registers,
      async collect() {
        if (!self.sizes) return;
        const { seeders, leechers } = await self.sizes.peers();
        this.set({ kind: 'seeder' }, seeders);
        this.set({ kind: 'leecher' }, leechers);
      },
    });

    // /health's database fields as metrics, so Prometheus can alert on them without a JSON exporter.
    new Gauge({
      name: 'hayate_database_reachable',
      help: 'Whether the last database reload pass succeeded whole (1) or not (0, also before the first pass ended)',
      registers,
      collect() {
        this.set(self.database?.reachable() === true ? 1 : 0);
      },
    });
    new Gauge({
      name: 'hayate_last_reload_success_timestamp_seconds',
      help: 'Unix time (seconds) the last whole successful database reload ended; 0 before one did',
      registers,
      collect() {
        this.set((self.database?.lastSuccessAt() ?? 0) / 1000);
      },
    });

    new Gauge({
      name: 'hayate_peer_endpoints',
      help: 'Peers with an endpoint of each address family that could be handed out (a dual-stack peer counts in both)',
      labelNames: ['family'],
      registers,
      async collect() {
        if (!self.sizes?.endpoints) return;
        const { ipv4, ipv6 } = await self.sizes.endpoints();
        this.set({ family: 'ipv4' }, ipv4);
        this.set({ family: 'ipv6' }, ipv6);
      },
    });
    new Counter({
      name: 'hayate_announces_by_family_total',
      help: 'Successful announces by the address family they came from (IPv6 only with announce.ipv6 on)',
      labelNames: ['family'],
      registers,
      collect() {
        if (!self.sizes?.announcesByFamily) return;
        const { ipv4, ipv6 } = self.sizes.announcesByFamily();
        this.reset();
        this.inc({ family: 'ipv4' }, ipv4);
        this.inc({ family: 'ipv6' }, ipv6);
      },
    });

    const stats = this.requests;
    new Counter({
      name: 'hayate_requests_total',
      help: 'HTTP requests handled, by route',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        this.inc({ route: 'announce' }, stats.announces);
        this.inc({ route: 'scrape' }, stats.scrapes);
        this.inc({ route: 'other' }, stats.other);
      },
    });
    new Counter({
      name: 'hayate_failed_requests_total',
      help: 'Requests answered with a bencoded failure reason',
      registers,
      collect() {
        this.reset();
        this.inc(stats.failures);
      },
    });
    new Counter({
      name: 'hayate_connections_total',
      help: 'TCP connections accepted; each starts on the socket announce path',
      registers,
      collect() {
        this.reset();
        this.inc(stats.connections);
      },
    });
    new Counter({
      name: 'hayate_connections_handed_to_node_total',
      help: "Connections the socket announce path handed to Node's HTTP server for good (a request it could not frame: a body, a head split across reads, HTTP/1.0, ...)",
      registers,
      collect() {
        this.reset();
        this.inc(stats.connectionsHandedOver);
      },
    });
    new Counter({
      name: 'hayate_requests_handed_to_node_total',
      help: "Requests the socket announce path handed to Node's HTTP server one at a time (/alive, /metrics, other routes); their connection comes back after the answer",
      registers,
      collect() {
        this.reset();
        this.inc(stats.requestsHandedOver);
      },
    });
    new Counter({
      name: 'hayate_request_errors_total',
      help: 'Requests that hit an unexpected internal error (answered, logged)',
      registers,
      collect() {
        this.reset();
        this.inc(stats.errors);
      },
    });
    let lastTotal = 0;
    let lastAt = Date.now();
    let perMinute = 0;
    new Gauge({
      name: 'hayate_throughput_requests_per_minute',
      help: 'Requests per minute since the previous scrape of this metric',
      registers,
      collect() {
        const now = Date.now();
        const total = stats.total();
        if (now - lastAt >= 1000) {
          perMinute = ((total - lastTotal) * 60_000) / (now - lastAt);
          lastTotal = total;
          lastAt = now;
        }
        this.set(perMinute);
      },
    });

    new Gauge({
      name: 'hayate_queue_depth',
      help: 'Records waiting in each accounting queue (distinct keys)',
      labelNames: ['queue'],
      registers,
      collect() {
        for (const [queue, depth] of Object.entries(self.queueDepths())) this.set({ queue }, depth);
      },
    });

    const loop = this.loopDelay;
    new Gauge({
      name: 'hayate_event_loop_lag_seconds',
      help: 'Event-loop delay since the previous scrape, by quantile',
      labelNames: ['quantile'],
      registers,
      collect() {
        // The histogram measures timer-to-timer time; the lag is what exceeds the timer period.
        const lag = (ns: number): number => Math.max(0, ns / 1e9 - LOOP_RESOLUTION_MS / 1000);
        this.set({ quantile: '0.5' }, lag(loop.percentile(50)));
        this.set({ quantile: '0.99' }, lag(loop.percentile(99)));
        this.set({ quantile: '1' }, lag(loop.max));
        loop.reset();
      },
    });

    this.reloadSeconds = new Histogram({
      name: 'hayate_reload_seconds',
      help: 'Time to reload one source from the database',
      labelNames: ['source'],
      buckets: secondsBuckets,
      registers,
    });
    this.reloadFailures = new Counter({
      name: 'hayate_reload_failures_total',
      help: 'Reloads that failed (the previous data was kept)',
      labelNames: ['source'],
      registers,
    });
    this.flushSeconds = new Histogram({
      name: 'hayate_flush_seconds',
      help: 'Time to write one batch of a queue to the database',
      labelNames: ['queue'],
      buckets: secondsBuckets,
      registers,
    });
    this.flushedRows = new Counter({
      name: 'hayate_flushed_rows_total',
      help: 'Rows written to the database, by queue',
      labelNames: ['queue'],
      registers,
    });
    this.deadlocks = new Counter({
      name: 'hayate_deadlocks_total',
      help: 'Deadlocks and lock-wait timeouts met while flushing',
      labelNames: ['queue'],
      registers,
    });
    this.deadlockAborted = new Counter({
      name: 'hayate_deadlock_aborted_total',
      help: 'Flushes whose deadlock retries ran out (the work stays queued)',
      labelNames: ['queue'],
      registers,
    });
    this.deadlockSeconds = new Counter({
      name: 'hayate_deadlock_seconds_total',
      help: 'Seconds spent pausing between deadlock retries',
      labelNames: ['queue'],
      registers,
    });
    this.sqlErrors = new Counter({
      name: 'hayate_sql_errors_total',
      help: 'SQL errors other than deadlocks (the work stays queued)',
      labelNames: ['queue'],
      registers,
    });
    this.serializationSeconds = new Histogram({
      name: 'hayate_serialization_seconds',
      help: 'Time to write the cache files',
      buckets: secondsBuckets,
      registers,
    });
    this.serializationFailures = new Counter({
      name: 'hayate_serialization_failures_total',
      help: 'Cache writes that failed',
      registers,
    });
    this.purgeSeconds = new Histogram({
      name: 'hayate_purge_seconds',
      help: 'Time to purge inactive peers',
      buckets: secondsBuckets,
      registers,
    });
    this.purgedPeers = new Counter({
      name: 'hayate_purged_peers_total',
      help: 'Inactive peers dropped from memory',
      registers,
    });
    this.recorderRows = new Counter({
      name: 'hayate_recorded_announces_total',
      help: 'Announce rows written to the events CSV files',
      registers,
    });
    this.recorderErrors = new Counter({
      name: 'hayate_recorder_errors_total',
      help: 'Failed writes of announce rows (rows kept and retried)',
      registers,
    });
    this.recorderDropped = new Counter({
      name: 'hayate_recorder_dropped_total',
      help: 'Announce rows dropped because the recorder buffer was full (writes failing)',
      registers,
    });
    this.updateRequests = new Counter({
      name: 'hayate_update_requests_total',
      help: 'Update API requests from the site, by action and outcome (ok, noop, bad_request, conflict, unavailable)',
      labelNames: ['action', 'outcome'],
      registers,
    });
    this.updateSeconds = new Histogram({
      name: 'hayate_update_seconds',
      help: 'Time to apply one update API request, by action',
      labelNames: ['action'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.updateAuthFailures = new Counter({
      name: 'hayate_update_auth_failures_total',
      help: 'Update API requests refused before their action: wrong password, or an address not in site_addresses',
      labelNames: ['reason'],
      registers,
    });
  }

  watchStore(sizes: StoreSizes): void {
    this.sizes = sizes;
  }

  watchDatabase(database: DatabaseState): void {
    this.database = database;
  }

  watchQueues(depths: () => Record<string, number>): void {
    this.queueDepths = depths;
    // Start each queue's counters at 0, so a series exists before its first event
    // (Prometheus' increase() and Grafana panels need it; "no data" is not "none").
    for (const queue of Object.keys(depths())) {
      for (const counter of [this.flushedRows, this.deadlocks, this.deadlockAborted, this.deadlockSeconds, this.sqlErrors]) {
        counter.inc({ queue }, 0);
      }
    }
  }

  /** Starts the per-source reload failure counters at 0 (see watchQueues). */
  watchReloadSources(sources: readonly string[]): void {
    for (const source of sources) this.reloadFailures.inc({ source }, 0);
  }

  /** Starts the update API's counters at 0 (see watchQueues). */
  watchUpdateActions(actions: readonly string[]): void {
    for (const action of actions) {
      this.updateRequests.inc({ action, outcome: 'ok' }, 0);
      this.updateSeconds.zero({ action });
    }
    for (const reason of ['password', 'address']) this.updateAuthFailures.inc({ reason }, 0);
  }

  close(): void {
    this.loopDelay.disable();
  }
}
