import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Store } from '../store/store.js';
import { groupKey, hnrKey, newTorrent, type ApprovedClient, type GroupFreeleech } from '../store/types.js';
import { TimeSlice, yieldToLoop } from '../event-loop.js';
import { OrderedCursor } from './ordered-cursor.js';

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
  /** Rows per keyset page; the loop yields to the event loop between pages. */
  pageSize?: number;
  /**
   * Called after each page of users or torrents (and the approved clients) is read
   * and before it is applied; the pass waits for it. Tests hold a pass here to race
   * it with a push.
   */
  pageHook?: (source: 'users' | 'torrents' | 'clients') => Promise<void> | void;
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
 * Big tables are read in keyset pages, yielding between pages and every few
 * thousand rows, so announces keep being answered while millions of rows load.
 *
 * Users and torrents are updated in the live maps: an existing entry is updated
 * in place (a torrent keeps its swarm), a new one is added as its row is read,
 * and entries the pass did not see are removed once the whole pass succeeded.
 * Rebuilding million-entry maps every 45 s instead cost 100+ ms garbage
 * collection pauses. A failed pass removes nothing (the previous data stays).
 * The small sets (clients, freeleech, hit-and-runs) are built anew and swapped
 * in with one assignment.
 */
export class Reloader {
  private readonly pageSize: number;
  private readonly pageHook: ReloadOptions['pageHook'];
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
    options: ReloadOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 1_000;
    this.pageHook = options.pageHook;
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

  private async reloadAll(): Promise<boolean> {
    this.lastError = undefined;
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
      if (await this.timed(source, load)) continue;
      ok = false;
      // No connection (refused, timed out, denied): the other sources would only wait and fail the same way.
      const e = this.lastError as { fatal?: boolean; code?: string; sqlState?: string } | undefined;
      if (e?.fatal === true || e?.sqlState === '28000' || CONNECT_REFUSALS.has(e?.code ?? '')) break;
    }
    this.lastOk = ok;
    if (ok) {
      this.lastSuccessAt = Date.now();
      this.lastError = undefined;
      this.store.loadedFrom = 'database';
    }
    return ok;
  }

  private async timed(source: ReloadSource, load: () => Promise<number>): Promise<boolean> {
    const end = this.metrics.reloadSeconds.startTimer({ source });
    try {
      const rows = await load();
      const seconds = end();
      this.logger.debug({ source, rows, ms: Math.round(seconds * 1000) }, 'reloaded');
      return true;
    } catch (err) {
      this.lastError ??= err as Error;
      this.metrics.reloadFailures.inc({ source });
      // Before the first whole database load there is no database data to keep (what the cache
      // files gave, if anything, is still served; the start retries, or ends on a refusal).
      const message = this.lastSuccessAt === undefined ? 'reload failed; no database load yet' : 'reload failed; keeping the previous data';
      this.logger.error({ source, err: (err as Error).message }, message);
      return false;
    }
  }

  /**
   * Runs `query` page by page (keyset on the last row), calling `each` per row with
   * the push epoch at the time the page's query was sent (see store/pushes.ts).
   * `cursor` (the rows' map walked alongside them) is told after every await.
   */
  private async paged(
    sql: string,
    first: number[],
    next: (row: unknown[]) => number[],
    each: (row: unknown[], readAt: number) => void,
    hook?: 'users' | 'torrents',
    cursor?: { resumed(): void },
  ): Promise<number> {
    let params = first;
    let total = 0;
    for (;;) {
      const readAt = this.store.pushes.epoch;
      // A prepared statement (binary protocol): mysql2's text-protocol rows outlive two
      // scavenges and get promoted (≈150 bytes per row, 150 MB per million-row pass),
      // which made every scavenge during a reload take 10-40 ms; binary rows die young.
      const [rows] = await this.pool.execute<RowDataPacket[]>({ sql, rowsAsArray: true }, [...params, this.pageSize]);
      if (hook !== undefined && this.pageHook !== undefined) await this.pageHook(hook);
      cursor?.resumed();
      const slice = new TimeSlice(SLICE_MS, 256);
      for (let i = 0; i < rows.length; i++) {
        each(rows[i] as unknown[], readAt);
        if (slice.due()) {
          await slice.yield();
          cursor?.resumed();
        }
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
    const mark = pushes.next();
    pushes.removedUsers.clear(); // older than every page this pass reads: they block nothing any more
    const cursor = new OrderedCursor(users);
    const count = await this.paged(
      `SELECT ID, torrent_pass, UpMultiplier, DownMultiplier, DisableDownload, TrackerHide
         FROM users_main WHERE Enabled = '1' AND ID > ? ORDER BY ID LIMIT ?`,
      [0],
      (row) => [Number(row[0])],
      (row, readAt) => {
        const id = Number(row[0]);
        const passkey = String(row[1]);
        let user = cursor.find(passkey, id);
        // Read before the site pushed a change to this passkey: the push is newer.
        if (user === undefined ? (pushes.removedUsers.get(passkey) ?? 0) > readAt : (user.reloadMark ?? 0) > readAt) return;
        if (user === undefined || user.id !== id) {
          user = { id, passkey, upMultiplier: 1, downMultiplier: 1, disableDownload: false, trackerHide: false, reloadMark: 0 };
          users.set(passkey, user);
          cursor.forget(passkey);
        }
        user.upMultiplier = floatColumn(row[2]);
        user.downMultiplier = floatColumn(row[3]);
        user.disableDownload = Number(row[4]) !== 0;
        user.trackerHide = Number(row[5]) !== 0;
        user.reloadMark = mark;
      },
      'users',
      cursor,
    );
    await this.sweep(users, mark);
    return count;
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
    const mark = pushes.next();
    pushes.removedTorrents.clear(); // see loadUsers
    const cursor = new OrderedCursor(torrents);
    const count = await this.paged(
      `SELECT ID, info_hash, GroupID, TorrentType, Snatched, Status, UpMultiplier, DownMultiplier, last_action
         FROM torrents WHERE TorrentType <> 'internal' AND ID > ? ORDER BY ID LIMIT ?`,
      [0],
      (row) => [Number(row[0])],
      (row, readAt) => {
        const raw = row[1] as Buffer;
        if (!Buffer.isBuffer(raw) || raw.length < 20) return; // not a valid info_hash: cannot be announced
        const infoHash = raw.toString('latin1', 0, 20);
        const id = Number(row[0]);
        const lastAction = Number(row[8]);
        let torrent = cursor.find(infoHash, id);
        // Read before the site pushed a change to this torrent: the push is newer.
        if (torrent === undefined ? (pushes.removedTorrents.get(infoHash) ?? 0) > readAt : (torrent.reloadMark ?? 0) > readAt) {
          return;
        }
        if (torrent === undefined || torrent.id !== id) {
          torrent = newTorrent({
            id,
            infoHash,
            lastAction,
          });
          torrents.set(infoHash, torrent);
          cursor.forget(infoHash);
        }
        torrent.groupId = Number(row[2]);
        // Assign strings only when they change: storing each row's fresh string into a
        // long-lived torrent creates an old-to-young pointer per row, and a million of
        // those made every scavenge during a reload take 10-40 ms.
        const type = String(row[3]);
        if (torrent.type !== type) torrent.type = type;
        // The database lags behind snatches still queued; never show a count going backwards.
        torrent.snatched = Math.max(Number(row[4]), torrent.snatched);
        torrent.status = Number(row[5]);
        torrent.upMultiplier = floatColumn(row[6]);
        torrent.downMultiplier = floatColumn(row[7]);
        if (lastAction > torrent.lastAction) torrent.lastAction = lastAction;
        torrent.reloadMark = mark;
      },
      'torrents',
      cursor,
    );
    await this.sweep(torrents, mark);
    return count;
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
    const [rows] = await this.pool.query<RowDataPacket[]>(
      'SELECT GroupID, Type, UpMultiplier, DownMultiplier FROM torrent_group_freeleech',
    );
    const groups = new Map<string, GroupFreeleech>();
    for (const row of rows) {
      groups.set(groupKey(String(row['Type']), Number(row['GroupID'])), {
        upMultiplier: Number(row['UpMultiplier']),
        downMultiplier: Number(row['DownMultiplier']),
      });
    }
    this.store.groupFreeleech = groups;
    return rows.length;
  }

  private async loadClients(): Promise<number> {
    const readAt = this.store.pushes.epoch;
    const clients = await readApprovedClients(this.pool);
    if (this.pageHook !== undefined) await this.pageHook('clients');
    // A whitelist push read the table after this query was sent: its list is newer.
    if (this.store.pushes.clients <= readAt) this.store.approvedClients = clients;
    return clients.length;
  }

  private async loadGlobalFreeleech(): Promise<number> {
    const [rows] = await this.pool.query<RowDataPacket[]>("SELECT mod_setting FROM mod_core WHERE mod_option = 'global_freeleech'");
    this.store.globalFreeleech = rows.length > 0 && Number(rows[0]!['mod_setting']) !== 0;
    return rows.length;
  }
}

/**
 * A FLOAT column's value as MariaDB's text protocol writes it. The binary protocol (the
 * reload's prepared statements) gives the stored float32 widened to a double (1.1 reads
 * 1.100000023841858); the text protocol prints it with 6 significant digits (FLT_DIG),
 * and that is what multipliers were read as before. Whole numbers below 10^6 (the usual
 * 0, 1, 2) are already that.
 */
export function floatColumn(value: unknown): number {
  const x = Number(value);
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return x;
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : x;
}

/** The non-archived approved client prefixes (peer_id as latin1 bytes), by id. */
export async function readApprovedClients(pool: Pool): Promise<ApprovedClient[]> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT id, peer_id FROM approved_clients WHERE archived = 0 ORDER BY id');
  const clients: ApprovedClient[] = [];
  for (const row of rows) {
    const prefix = Buffer.from(String(row['peer_id']), 'utf8').toString('latin1');
    if (prefix.length > 0) clients.push({ id: Number(row['id']), prefix });
  }
  return clients;
}
