import type { Pool } from 'mysql2/promise';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Store } from '../store/store.js';
import { groupKey, hnrKey, newTorrent, type ApprovedClient, type GroupFreeleech } from '../store/types.js';
import { TimeSlice, yieldToLoop } from '../event-loop.js';
import { OrderedCursor } from './ordered-cursor.js';
import { noAnswerInTime, readRows, RELOAD_PAGE_TIMEOUT_MS } from './pool.js';
import { RecordReader } from './records.js';
import { torrentsTable, usersTable, type ReloadTable, type TorrentRow, type UserRow } from './reload-tables.js';
import { ReloadThread } from './reload-thread.js';

export type ReloadSource = 'users' | 'hit_and_runs' | 'torrents' | 'group_freeleech' | 'clients' | 'global_freeleech';
export const reloadSources: readonly ReloadSource[] = [
  'clients',
  'global_freeleech',
  'group_freeleech',
  'users',
  'hit_and_runs',
  'torrents',
];

export interface ReloadOptions {
  /** The database DSN the reload thread connects with (the tracker's own). */
  dsn: string;
  /** Rows per keyset page. */
  pageSize?: number;
  /**
   * Called after each page of users or torrents (and the approved clients) is read
   * and before it is applied; the pass waits for it. Tests hold a pass here to race
   * it with a push.
   */
  pageHook?: (source: 'users' | 'torrents' | 'clients') => Promise<void> | void;
  /** A read the database has not answered in this long fails the pass, in ms (default RELOAD_PAGE_TIMEOUT_MS: 30 s). */
  pageTimeoutMs?: number;
}

/** Errors MariaDB gives at connection time: every source of the pass would get them too. */
const CONNECT_REFUSALS = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
]);

/** Work between two yields, in ms: long enough to make progress under load, short enough not to be felt. */
const SLICE_MS = 4;

/**
 * Reloads users, torrents and settings from the database (SPEC §3).
 *
 * Users and torrents are read by the reload thread (reload-thread.ts,
 * reload-worker.ts): it parses the rows and compares them with its last pass, and
 * the main thread gets only the rows that are new or changed and the keys that are
 * gone; the first pass (and one after a pass or the thread failed) sends every row.
 * Rows are applied in slices of a few ms, so announces keep being answered meanwhile.
 *
 * Users and torrents are updated in the live maps: an existing entry is updated
 * in place (a torrent keeps its swarm), a new one is added as its row arrives,
 * and entries that are gone are removed once the whole pass succeeded.
 * Rebuilding million-entry maps every 45 s instead cost 100+ ms garbage
 * collection pauses. A failed pass removes nothing (the previous data stays).
 * The small sets (clients, freeleech, hit-and-runs) are built anew and swapped
 * in with one assignment.
 */
export class Reloader {
  private readonly pageSize: number;
  private readonly pageHook: ReloadOptions['pageHook'];
  private readonly pageTimeoutMs: number;
  /** Reads users and torrents off the main thread. */
  private readonly thread: ReloadThread;
  /** The map each table's last whole pass fed (a map replaced since, e.g. by the cache files, needs every row). */
  private readonly fed = new Map<'users' | 'torrents', Map<string, unknown>>();
  private running: Promise<boolean> | undefined;
  /** Unix ms of the last pass that succeeded whole (health, /health's reload age). */
  lastSuccessAt: number | undefined;
  /** Did the last finished pass succeed whole? undefined before the first one ends. */
  lastOk: boolean | undefined;
  /** The first error of the last failed pass (mysql2 errors carry code and errno). */
  lastError: Error | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly store: Store,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    options: ReloadOptions,
  ) {
    this.pageSize = options.pageSize ?? 1_000;
    this.pageHook = options.pageHook;
    this.pageTimeoutMs = options.pageTimeoutMs ?? RELOAD_PAGE_TIMEOUT_MS;
    this.thread = new ReloadThread({ dsn: options.dsn, pageSize: this.pageSize, pageTimeoutMs: this.pageTimeoutMs });
    metrics.watchReloadSources(reloadSources);
  }

  /** Reloads every source; resolves true when all succeeded. Concurrent calls share one run. */
  reload(): Promise<boolean> {
    this.running ??= this.reloadAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * A reload that starts after this call: a pass already running may have read
   * the tables before the caller's write, so it is waited for and another one run
   * (callers arriving meanwhile share that one).
   */
  reloadFresh(): Promise<boolean> {
    const running = this.running;
    if (running === undefined) return this.reload();
    return running.catch(() => false).then(() => this.reload());
  }

  /** Resolves once no reload is running (for shutdown). */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Waits for a running pass, then ends the reload thread (shutdown). */
  async close(): Promise<void> {
    await this.idle();
    await this.thread.close();
  }

  private async reloadAll(): Promise<boolean> {
    // lastError and lastOk keep the last pass's outcome while this one runs (/health reads them).
    const steps: [ReloadSource, () => Promise<number>][] = [
      ['clients', () => this.loadClients()],
      ['global_freeleech', () => this.loadGlobalFreeleech()],
      ['group_freeleech', () => this.loadGroupFreeleech()],
      ['users', () => this.loadUsers()],
      ['hit_and_runs', () => this.loadHitAndRuns()],
      ['torrents', () => this.loadTorrents()],
    ];
    let ok = true;
    for (const [source, load] of steps) {
      const err = await this.timed(source, load);
      if (err === undefined) continue;
      // /health says so now, not when the pass ends; the first error of the pass is the one it names.
      if (ok) this.lastError = err as Error;
      ok = false;
      this.lastOk = false;
      // No connection (refused, lost, denied) or no answer in time: the other sources would only
      // wait and fail the same way.
      const e = err as { fatal?: boolean; code?: string; sqlState?: string };
      if (e.fatal === true || e.sqlState === '28000' || noAnswerInTime(err) || CONNECT_REFUSALS.has(e.code ?? '')) break;
    }
    this.lastOk = ok;
    if (ok) {
      this.lastSuccessAt = Date.now();
      this.lastError = undefined;
      this.store.loadedFrom = 'database';
    }
    return ok;
  }

  /** Runs one source's load, timed and logged; resolves with its error, or undefined when it succeeded. */
  private async timed(source: ReloadSource, load: () => Promise<number>): Promise<unknown> {
    const end = this.metrics.reloadSeconds.startTimer({ source });
    try {
      const rows = await load();
      const seconds = end();
      this.logger.debug({ source, rows, ms: Math.round(seconds * 1000) }, 'reloaded');
      return undefined;
    } catch (err) {
      this.metrics.reloadFailures.inc({ source });
      // Before the first whole database load there is no database data to keep (what the cache
      // files gave, if anything, is still served; the start retries, or ends on a refusal).
      const message = this.lastSuccessAt === undefined ? 'reload failed; no database load yet' : 'reload failed; keeping the previous data';
      this.logger.error({ source, err }, message);
      return err ?? new Error('reload failed');
    }
  }

  /**
   * Runs `query` page by page (keyset on the last row) on the main thread's pool, calling
   * `each` per row (the hit-and-runs: two numbers a row).
   */
  private async paged(sql: string, first: number[], next: (row: unknown[]) => number[], each: (row: unknown[]) => void): Promise<number> {
    let params = first;
    let total = 0;
    for (;;) {
      // A prepared statement (binary protocol): mysql2's text-protocol rows outlive two
      // scavenges and get promoted, which made every scavenge during a reload take 10-40 ms;
      // binary rows die young.
      const rows = await readRows(this.pool, sql, [...params, this.pageSize], this.pageTimeoutMs);
      const slice = new TimeSlice(SLICE_MS, 256);
      for (let i = 0; i < rows.length; i++) {
        each(rows[i] as unknown[]);
        if (slice.due()) await slice.yield();
      }
      total += rows.length;
      if (rows.length < this.pageSize) return total;
      params = next(rows[rows.length - 1] as unknown[]);
      await yieldToLoop();
    }
  }

  private async loadUsers(): Promise<number> {
    const users = this.store.users;
    const pushes = this.store.pushes;
    const row: UserRow = { id: 0, passkey: '', upMultiplier: 1, downMultiplier: 1, disableDownload: false, trackerHide: false };
    return this.tablePass(usersTable, users, pushes.touchedUsers, pushes.removedUsers, row, (mark, readAt, cursor) => {
      const { id, passkey } = row;
      let user = cursor === undefined ? users.get(passkey) : cursor.find(passkey, id);
      // Read before the site pushed a change to this passkey: the push is newer.
      if (user === undefined ? (pushes.removedUsers.get(passkey) ?? 0) > readAt : (user.reloadMark ?? 0) > readAt) return;
      if (user === undefined || user.id !== id) {
        user = { id, passkey, upMultiplier: 1, downMultiplier: 1, disableDownload: false, trackerHide: false, reloadMark: 0 };
        users.set(passkey, user);
        cursor?.forget(passkey);
      }
      user.upMultiplier = row.upMultiplier;
      user.downMultiplier = row.downMultiplier;
      user.disableDownload = row.disableDownload;
      user.trackerHide = row.trackerHide;
      user.reloadMark = mark;
    });
  }

  private async loadHitAndRuns(): Promise<number> {
    const pairs = new Set<string>();
    const count = await this.paged(
      `SELECT th.uid, th.fid FROM transfer_history th JOIN users_main um ON um.ID = th.uid
        WHERE th.hnr = 1 AND um.Enabled = '1' AND (th.uid > ? OR (th.uid = ? AND th.fid > ?))
        ORDER BY th.uid, th.fid LIMIT ?`,
      [-1, -1, -1],
      (row) => [Number(row[0]), Number(row[0]), Number(row[1])],
      (row) => pairs.add(hnrKey(Number(row[0]), Number(row[1]))),
    );
    this.store.hitAndRuns = pairs;
    return count;
  }

  private async loadTorrents(): Promise<number> {
    const torrents = this.store.torrents;
    const pushes = this.store.pushes;
    const row: TorrentRow = {
      id: 0,
      infoHash: '',
      groupId: 0,
      type: '',
      snatched: 0,
      status: 0,
      upMultiplier: 1,
      downMultiplier: 1,
      lastAction: 0,
    };
    return this.tablePass(torrentsTable, torrents, pushes.touchedTorrents, pushes.removedTorrents, row, (mark, readAt, cursor) => {
      const { id, infoHash, lastAction } = row;
      let torrent = cursor === undefined ? torrents.get(infoHash) : cursor.find(infoHash, id);
      // Read before the site pushed a change to this torrent: the push is newer.
      if (torrent === undefined ? (pushes.removedTorrents.get(infoHash) ?? 0) > readAt : (torrent.reloadMark ?? 0) > readAt) {
        return;
      }
      if (torrent === undefined || torrent.id !== id) {
        torrent = newTorrent({ id, infoHash, lastAction });
        torrents.set(infoHash, torrent);
        cursor?.forget(infoHash);
      }
      torrent.groupId = row.groupId;
      // Assign strings only when they change: storing each row's fresh string into a
      // long-lived torrent creates an old-to-young pointer per row, and a million of
      // those made every scavenge during a reload take 10-40 ms.
      if (torrent.type !== row.type) torrent.type = row.type;
      // The database lags behind snatches still queued; never show a count going backwards.
      torrent.snatched = Math.max(row.snatched, torrent.snatched);
      torrent.status = row.status;
      torrent.upMultiplier = row.upMultiplier;
      torrent.downMultiplier = row.downMultiplier;
      if (lastAction > torrent.lastAction) torrent.lastAction = lastAction;
      torrent.reloadMark = mark;
    });
  }

  /**
   * One pass over users or torrents through the reload thread. The thread sends the rows
   * that are new or changed since its last pass (every row on its first pass, after a
   * failed one, or when `map` is not the map that pass fed), each page decoded into `row`
   * and applied by `apply(mark, readAt, cursor)`; then what is gone is removed. Keys
   * pushed since the last pass began (`touched`, and the tombstones in `removed`) are sent
   * whether changed or not, and one the pass did not find is removed: a push the database
   * does not back lasts until the next pass, as with a whole read. A failed pass removes
   * nothing and hands those keys to the next pass.
   */
  private async tablePass<Row, V extends { readonly id: number; reloadMark?: number }>(
    table: ReloadTable<Row>,
    map: Map<string, V>,
    touched: Set<string>,
    removed: Map<string, number>,
    row: Row,
    apply: (mark: number, readAt: number, cursor: OrderedCursor<V> | undefined) => void,
  ): Promise<number> {
    const pushes = this.store.pushes;
    const mark = pushes.next();
    const force = [...touched, ...removed.keys()];
    touched.clear();
    removed.clear(); // older than every page this pass reads: they block nothing any more
    const full = this.fed.get(table.name) !== map;
    let cursor: OrderedCursor<V> | undefined;
    let sent = 0;
    const hook = this.pageHook;
    try {
      const end = await this.thread.pass(
        table.name,
        { force, full, everyPage: hook !== undefined, epoch: () => pushes.epoch },
        async (records, count, readAt, every) => {
          if (hook !== undefined) await hook(table.name);
          // Every row, in ID order: walk the map alongside them (a few changed rows: look them up).
          if (cursor === undefined && every) cursor = new OrderedCursor(map);
          cursor?.resumed();
          sent += count;
          const reader = new RecordReader(records);
          const slice = new TimeSlice(SLICE_MS, 256);
          for (let i = 0; i < count; i++) {
            table.decode(reader, row);
            apply(mark, readAt, cursor);
            if (slice.due()) {
              await slice.yield();
              cursor?.resumed();
            }
          }
        },
      );
      if (end.full) {
        await this.sweep(map, mark);
      } else {
        // Sliced too: a site that deleted half its torrents at once hands over that many keys.
        const slice = new TimeSlice(SLICE_MS, 256);
        const reader = new RecordReader(end.removed);
        for (let i = 0; i < end.removedCount; i++) {
          table.decode(reader, row);
          this.removeUnseen(map, table.keyOf(row), mark);
          if (slice.due()) await slice.yield();
        }
        for (const key of force) {
          this.removeUnseen(map, key, mark);
          if (slice.due()) await slice.yield();
        }
      }
      this.fed.set(table.name, map);
      this.logger.debug({ source: table.name, rows: end.rows, sent, removed: end.removedCount, full: end.full }, 'reload thread pass');
      return end.rows;
    } catch (err) {
      for (const key of force) touched.add(key);
      throw err;
    }
  }

  /** Removes `key` unless this pass (`mark`) saw it or a push set it since the pass began. */
  private removeUnseen(map: Map<string, { reloadMark?: number }>, key: string, mark: number): void {
    const entry = map.get(key);
    if (entry !== undefined && (entry.reloadMark ?? 0) < mark) map.delete(key);
  }

  /**
   * Removes what the completed pass `mark` did not see (left the database, disabled,
   * passkey changed). Runs only after a whole pass: a failed pass removes nothing.
   * An entry marked above `mark` was pushed by the site after the pass started: kept.
   */
  private async sweep(map: Map<string, { reloadMark?: number }>, mark: number): Promise<void> {
    const slice = new TimeSlice(SLICE_MS);
    for (const [key, entry] of map) {
      if ((entry.reloadMark ?? 0) < mark) map.delete(key);
      if (slice.due()) await slice.yield();
    }
  }

  private async loadGroupFreeleech(): Promise<number> {
    const rows = await readRows(
      this.pool,
      'SELECT GroupID, Type, UpMultiplier, DownMultiplier FROM torrent_group_freeleech',
      [],
      this.pageTimeoutMs,
    );
    const groups = new Map<string, GroupFreeleech>();
    for (const [groupId, type, up, down] of rows) {
      groups.set(groupKey(String(type), Number(groupId)), { upMultiplier: Number(up), downMultiplier: Number(down) });
    }
    this.store.groupFreeleech = groups;
    return rows.length;
  }

  private async loadClients(): Promise<number> {
    const readAt = this.store.pushes.epoch;
    const clients = await readApprovedClients(this.pool, this.pageTimeoutMs);
    if (this.pageHook !== undefined) await this.pageHook('clients');
    // A whitelist push read the table after this query was sent: its list is newer.
    if (this.store.pushes.clients <= readAt) this.store.approvedClients = clients;
    return clients.length;
  }

  private async loadGlobalFreeleech(): Promise<number> {
    const rows = await readRows(
      this.pool,
      "SELECT mod_setting FROM mod_core WHERE mod_option = 'global_freeleech'",
      [],
      this.pageTimeoutMs,
    );
    this.store.globalFreeleech = rows.length > 0 && Number(rows[0]![0]) !== 0;
    return rows.length;
  }
}

/**
 * The non-archived approved client prefixes (peer_id as latin1 bytes), by id. Fails with
 * code PROTOCOL_SEQUENCE_TIMEOUT when the database does not answer in `timeoutMs`.
 */
export async function readApprovedClients(pool: Pool, timeoutMs = RELOAD_PAGE_TIMEOUT_MS): Promise<ApprovedClient[]> {
  const rows = await readRows(pool, 'SELECT id, peer_id FROM approved_clients WHERE archived = 0 ORDER BY id', [], timeoutMs);
  const clients: ApprovedClient[] = [];
  for (const [id, peerId] of rows) {
    const prefix = Buffer.from(String(peerId), 'utf8').toString('latin1');
    if (prefix.length > 0) clients.push({ id: Number(id), prefix });
  }
  return clients;
}
