import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/config.js';
import { readApprovedClients } from '../database/reload.js';
import { TimeSlice } from '../event-loop.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Store } from '../store/store.js';
import { newTorrent, type Torrent, type User } from '../store/types.js';
import { SiteAuth, type AuthFailure } from './auth.js';
import { parseUpdateTarget } from './query.js';
import { deletionReason } from './reasons.js';

/** What the HTTP layer writes back: a status, a content type and a body (ASCII). */
export interface UpdateAnswer {
  status: number;
  type: 'text/plain' | 'application/json';
  body: string;
}

/** How an action ended, for the metrics (hayate_update_requests_total's `outcome`). */
export type UpdateOutcome = 'ok' | 'noop' | 'bad_request' | 'conflict' | 'unavailable';

/** What the API needs from the rest of the tracker; passed in, never global. */
export interface UpdateDeps {
  store: Store;
  /** Read live by the announce path: update_announce_interval writes intervals.announce. */
  config: Config;
  pool: Pool;
  /** Runs a reload pass that starts after the call (Reloader.reloadFresh). */
  reload: () => Promise<boolean>;
  metrics: Metrics;
  logger: Logger;
  /** Unix milliseconds. */
  clock: () => number;
  /**
   * False while the start waits for the database before replaying the crash journal: every
   * action is a 503 and changes nothing (the store is not yet what the journal says). Absent: true.
   */
  ready?: () => boolean;
}

/** The actions hayate answers, Ocelot's names (worker.cpp, update()), plus `reload`. */
export const UPDATE_ACTIONS = [
  'add_torrent',
  'update_torrent',
  'update_torrents',
  'delete_torrent',
  'add_user',
  'update_user',
  'remove_user',
  'remove_users',
  'change_passkey',
  'add_whitelist',
  'edit_whitelist',
  'remove_whitelist',
  'update_announce_interval',
  'reload',
  'info_torrent',
] as const;
export type UpdateAction = (typeof UPDATE_ACTIONS)[number];

/** Ocelot actions hayate's model has no place for: refused with a line saying so. */
const UNSUPPORTED: Record<string, string> = {
  add_token: "freeleech tokens are not part of hayate's model (chihaya's tables have none)",
  remove_token: "freeleech tokens are not part of hayate's model (chihaya's tables have none)",
  update_announce_jitter: 'the drift is intervals.announce_drift in config.json',
};

const PASSKEY_LENGTH = 32;
const INFO_HASH_LENGTH = 20;
/** The longest announce interval accepted (a week), in seconds. */
const MAX_ANNOUNCE_INTERVAL = 7 * 86_400;
/** A bulk action yields to the event loop after this long (ms), so announces are not held behind thousands of changes. */
const SLICE_MS = 4;
/** Auth failures are logged at most this often (a guessing client must not flood the log). */
const AUTH_LOG_EVERY_MS = 10_000;

/** A parameter the caller got wrong: a 400 with this message. */
class BadRequest extends Error {}
/** The request conflicts with what the database or the tracker holds: a 409. */
class Conflict extends Error {}
/** The database could not be read: a 503 (Gazelle retries). */
class Unavailable extends Error {}

type Result = { outcome: 'ok' | 'noop'; answer?: UpdateAnswer };
const OK: Result = { outcome: 'ok' };
const NOOP: Result = { outcome: 'noop' };

/**
 * The update API (SPEC §12): the site pushes each change as it makes it, with
 * Ocelot's actions, and the next announce sees it. Every action changes the
 * in-memory store directly (no reload) and stamps what it touched with a new push
 * epoch (store/pushes.ts), so a reload pass that read the tables before the push
 * neither overwrites nor re-adds nor sweeps it; the next pass makes memory equal
 * the database again.
 *
 * Answers: 200 `success` when done (also when there was nothing to do, e.g.
 * update_user for a user the tracker does not hold: Ocelot's behaviour, and
 * Gazelle would otherwise retry and alert); 400 with one line for an unknown
 * action or a bad parameter (Ocelot answers "success" to anything); 403 for a
 * wrong password or address; 409 when the database contradicts the push; 503
 * when the database could not be read for an action that needs it, or while the
 * tracker is starting (UpdateDeps.ready).
 */
export class UpdateApi {
  readonly auth: SiteAuth;
  private readonly deps: UpdateDeps;
  private lastAuthLog = 0;
  private authFailuresSinceLog = 0;

  /** @throws Error for a bad site_addresses entry */
  constructor(deps: UpdateDeps) {
    this.deps = deps;
    this.auth = new SiteAuth(deps.config.site_password, deps.config.site_addresses);
    deps.metrics.watchUpdateActions([...UPDATE_ACTIONS, 'unknown']);
  }

  /** Is site_password set? When not, /…/update is an ordinary 404. */
  get enabled(): boolean {
    return this.auth.enabled;
  }

  /**
   * Checks the caller before its request is read in full (the socket path reads
   * long requests only from the site). Counts and logs a refusal (without the
   * password tried) and returns its answer; undefined when allowed.
   */
  authenticate(password: string, remoteAddress: string | undefined): UpdateAnswer | undefined {
    const failure = this.auth.check(password, remoteAddress);
    if (failure === undefined) return undefined;
    this.refused(failure, remoteAddress);
    return text(403, failure === 'address' ? 'update API: address not allowed' : 'update API: authentication failed');
  }

  /**
   * One request: `target` is the raw request target (`/<password>/update?action=…`),
   * `remoteAddress` the socket's. Never throws.
   */
  async handle(target: string, remoteAddress: string | undefined): Promise<UpdateAnswer> {
    const parsed = parseUpdateTarget(target);
    if (parsed === undefined) return text(404, '404 page not found');
    const refusal = this.authenticate(parsed.password, remoteAddress);
    if (refusal !== undefined) return refusal;

    const { metrics, logger } = this.deps;
    const name = parsed.params.get('action');
    const action = (UPDATE_ACTIONS as readonly string[]).includes(name ?? '') ? (name as UpdateAction) : undefined;
    const label = action ?? 'unknown';
    if (this.deps.ready?.() === false) {
      metrics.updateRequests.inc({ action: label, outcome: 'unavailable' });
      return text(503, 'tracker starting: waiting for the database; try again');
    }
    const end = metrics.updateSeconds.startTimer({ action: label });
    let outcome: UpdateOutcome;
    let answer: UpdateAnswer;
    try {
      if (action === undefined) {
        if (name === undefined || name === '') throw new BadRequest('missing action');
        const why = UNSUPPORTED[name];
        throw new BadRequest(why === undefined ? `unknown action: ${printable(name)}` : `${name} is not supported: ${why}`);
      }
      const result = await this.run(action, parsed.params);
      outcome = result.outcome;
      answer = result.answer ?? text(200, 'success', false);
    } catch (err) {
      if (err instanceof BadRequest) {
        outcome = 'bad_request';
        answer = text(400, err.message);
      } else if (err instanceof Conflict) {
        outcome = 'conflict';
        answer = text(409, err.message);
      } else {
        outcome = 'unavailable';
        const message = err instanceof Unavailable ? err.message : 'internal error';
        logger.error({ action: label, err }, 'update API: action failed');
        answer = text(503, `${message}; try again`);
      }
    }
    end();
    metrics.updateRequests.inc({ action: label, outcome });
    if (outcome !== 'ok' && outcome !== 'noop' && outcome !== 'unavailable') {
      logger.debug({ action: label, outcome, message: answer.body.trimEnd() }, 'update API: refused');
    }
    return answer;
  }

  private refused(failure: AuthFailure, remoteAddress: string | undefined): void {
    this.deps.metrics.updateAuthFailures.inc({ reason: failure });
    this.authFailuresSinceLog++;
    const now = Date.now();
    if (now - this.lastAuthLog >= AUTH_LOG_EVERY_MS) {
      // Never the password tried: it may be a near miss of the real one.
      this.deps.logger.warn({ reason: failure, remoteAddress, failures: this.authFailuresSinceLog }, 'update API: request refused');
      this.lastAuthLog = now;
      this.authFailuresSinceLog = 0;
    }
  }

  private run(action: UpdateAction, p: Map<string, string>): Promise<Result> | Result {
    switch (action) {
      case 'add_torrent':
        return this.addTorrent(infoHashParam(p, 'info_hash'), idParam(p, 'id'), freetorrentParam(p, false));
      case 'update_torrent':
        return this.updateTorrents([infoHashParam(p, 'info_hash')], freetorrentParam(p, true));
      case 'update_torrents':
        return this.updateTorrents(infoHashesParam(p, 'info_hashes'), freetorrentParam(p, true));
      case 'delete_torrent':
        return this.deleteTorrent(p);
      case 'add_user':
        return this.addUser(p);
      case 'update_user':
        return this.updateUser(p);
      case 'remove_user':
        return this.removeUsers([passkeyParam(p, 'passkey')]);
      case 'remove_users':
        return this.removeUsers(passkeysParam(p, 'passkeys'));
      case 'change_passkey':
        return this.changePasskey(passkeyParam(p, 'oldpasskey'), passkeyParam(p, 'newpasskey'));
      case 'add_whitelist':
        return this.whitelist([prefixParam(p, 'peer_id')], []);
      case 'edit_whitelist': {
        const before = prefixParam(p, 'old_peer_id');
        const after = prefixParam(p, 'new_peer_id');
        return this.whitelist([after], before === after ? [] : [before]);
      }
      case 'remove_whitelist':
        return this.whitelist([], [prefixParam(p, 'peer_id')]);
      case 'update_announce_interval':
        return this.announceInterval(p);
      case 'reload':
        return this.reloadNow();
      case 'info_torrent':
        return this.infoTorrent(infoHashParam(p, 'info_hash'));
    }
  }

  /**
   * add_torrent: Ocelot's push carries only the hash, the ID and the freeleech
   * state; GroupID, TorrentType, Status, Snatched and last_action come from the
   * torrent's row, read now. When the row cannot be read (not committed yet, or
   * the database is away) the torrent is added from the push alone (no group
   * freeleech until the next reload completes it) rather than not at all.
   */
  private async addTorrent(infoHash: string, id: number, freetorrent: number): Promise<Result> {
    const { store, pool, logger } = this.deps;
    const epoch = store.pushes.next();
    let row: RowDataPacket | undefined;
    try {
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT ID, info_hash, GroupID, TorrentType, Snatched, Status, last_action FROM torrents WHERE ID = ?`,
        [id],
      );
      row = rows[0];
    } catch (err) {
      logger.warn({ torrentId: id, err }, 'add_torrent: row not readable; added from the push alone');
    }
    if (row !== undefined) {
      const raw = row['info_hash'] as Buffer | null;
      if (!Buffer.isBuffer(raw) || raw.length < INFO_HASH_LENGTH || raw.toString('latin1', 0, INFO_HASH_LENGTH) !== infoHash) {
        throw new Conflict(`add_torrent: torrent ${id} in the database has another info_hash`);
      }
      if (String(row['TorrentType']) === 'internal') return NOOP; // never loaded (SPEC §3)
    } else {
      logger.debug({ torrentId: id }, 'add_torrent: no row yet; added from the push alone');
    }
    const [up, down] = multipliersOf(freetorrent);
    let torrent = store.torrents.get(infoHash);
    if (torrent === undefined || torrent.id !== id) {
      torrent = newTorrent({
        id,
        infoHash,
        upMultiplier: up,
        downMultiplier: down,
      });
      store.torrents.set(infoHash, torrent);
    }
    if (row !== undefined) {
      torrent.groupId = Number(row['GroupID'] ?? 0);
      torrent.type = String(row['TorrentType'] ?? '');
      torrent.snatched = Math.max(Number(row['Snatched'] ?? 0), torrent.snatched);
      torrent.status = Number(row['Status'] ?? 0);
      torrent.lastAction = Math.max(Number(row['last_action'] ?? 0), torrent.lastAction);
    }
    torrent.upMultiplier = up;
    torrent.downMultiplier = down;
    torrent.reloadMark = epoch;
    store.pushes.touchedTorrents.add(infoHash);
    store.unregistered.remove(infoHash);
    store.pushes.removedTorrents.delete(infoHash);
    return OK;
  }

  /**
   * update_torrent(s): the freeleech state onto the multipliers; unknown hashes are
   * skipped. Thousands of hashes are applied in slices of a few ms (each torrent
   * changes whole; an announce between slices sees some changed, some not yet).
   */
  private async updateTorrents(infoHashes: string[], freetorrent: number): Promise<Result> {
    const { store } = this.deps;
    const epoch = store.pushes.next();
    const [up, down] = multipliersOf(freetorrent);
    const slice = new TimeSlice(SLICE_MS, 256);
    let found = 0;
    for (const infoHash of infoHashes) {
      if (slice.due()) await slice.yield();
      const torrent = store.torrents.get(infoHash);
      if (torrent === undefined) continue;
      torrent.upMultiplier = up;
      torrent.downMultiplier = down;
      torrent.reloadMark = epoch;
      store.pushes.touchedTorrents.add(infoHash);
      found++;
    }
    return found === 0 ? NOOP : OK;
  }

  /**
   * delete_torrent: the torrent and its swarm leave memory now; announces on it get
   * `Unregistered torrent: <reason>` for a day (recorded even when the tracker no
   * longer held it, e.g. a reload had already dropped it).
   */
  private deleteTorrent(p: Map<string, string>): Result {
    const { store, clock } = this.deps;
    const infoHash = infoHashParam(p, 'info_hash');
    const reason = deletionReason(p.get('reason'));
    if (reason === undefined) throw new BadRequest('reason must be a Gazelle reason code or up to 200 printable characters');
    const epoch = store.pushes.next();
    const held = store.torrents.delete(infoHash);
    store.pushes.removedTorrents.set(infoHash, epoch);
    store.unregistered.add(infoHash, reason, Math.floor(clock() / 1000));
    return held ? OK : NOOP;
  }

  /**
   * add_user: passkey and ID from the push, visible (→ TrackerHide) and, hayate's
   * addition, can_leech (→ DisableDownload) when given; the multipliers, and the
   * flags the push leaves out, from the user's row, read now (defaults when there
   * is none yet).
   */
  private async addUser(p: Map<string, string>): Promise<Result> {
    const { store, pool, logger } = this.deps;
    const passkey = passkeyParam(p, 'passkey');
    const id = idParam(p, 'id');
    const visible = flagParam(p, 'visible');
    const canLeech = flagParam(p, 'can_leech');
    const epoch = store.pushes.next();
    let row: RowDataPacket | undefined;
    try {
      const [rows] = await pool.query<RowDataPacket[]>(
        'SELECT UpMultiplier, DownMultiplier, DisableDownload, TrackerHide FROM users_main WHERE ID = ?',
        [id],
      );
      row = rows[0];
    } catch (err) {
      logger.warn({ userId: id, err }, 'add_user: row not readable; added from the push alone');
    }
    const other = store.users.get(passkey);
    if (other !== undefined && other.id !== id) throw new Conflict(`add_user: that passkey belongs to user ${other.id}`);
    const user: User = other ?? {
      id,
      passkey,
      upMultiplier: 1,
      downMultiplier: 1,
      disableDownload: false,
      trackerHide: false,
      reloadMark: 0,
    };
    if (row !== undefined) {
      user.upMultiplier = Number(row['UpMultiplier']);
      user.downMultiplier = Number(row['DownMultiplier']);
      user.disableDownload = Number(row['DisableDownload']) !== 0;
      user.trackerHide = Number(row['TrackerHide']) !== 0;
    }
    if (visible !== undefined) user.trackerHide = !visible;
    if (canLeech !== undefined) user.disableDownload = !canLeech;
    user.reloadMark = epoch;
    store.pushes.touchedUsers.add(passkey);
    store.users.set(passkey, user);
    store.pushes.removedUsers.delete(passkey);
    return OK;
  }

  /** update_user: can_leech → DisableDownload, visible → TrackerHide (each only when given). */
  private updateUser(p: Map<string, string>): Result {
    const { store } = this.deps;
    const passkey = passkeyParam(p, 'passkey');
    const canLeech = flagParam(p, 'can_leech');
    const visible = flagParam(p, 'visible');
    if (canLeech === undefined && visible === undefined) throw new BadRequest('update_user needs can_leech or visible');
    const epoch = store.pushes.next();
    const user = store.users.get(passkey);
    if (user === undefined) return NOOP;
    if (canLeech !== undefined) user.disableDownload = !canLeech;
    if (visible !== undefined) user.trackerHide = !visible;
    user.reloadMark = epoch;
    store.pushes.touchedUsers.add(passkey);
    return OK;
  }

  /** remove_user(s): gone from memory now; their next announce gets `Your passkey is invalid`. In slices, as updateTorrents. */
  private async removeUsers(passkeys: string[]): Promise<Result> {
    const { store } = this.deps;
    const epoch = store.pushes.next();
    const slice = new TimeSlice(SLICE_MS, 256);
    let found = 0;
    for (const passkey of passkeys) {
      if (slice.due()) await slice.yield();
      if (store.users.delete(passkey)) found++;
      store.pushes.removedUsers.set(passkey, epoch);
    }
    return found === 0 ? NOOP : OK;
  }

  /** change_passkey: the user (same ID, flags, peers) answers to the new passkey only. */
  private changePasskey(oldPasskey: string, newPasskey: string): Result {
    const { store } = this.deps;
    if (oldPasskey === newPasskey) return NOOP;
    const user = store.users.get(oldPasskey);
    const holder = store.users.get(newPasskey);
    if (holder !== undefined && holder.id !== user?.id) {
      throw new Conflict(`change_passkey: the new passkey belongs to user ${holder.id}`);
    }
    const epoch = store.pushes.next();
    store.pushes.removedUsers.set(oldPasskey, epoch);
    if (user === undefined) return NOOP;
    store.users.delete(oldPasskey);
    user.passkey = newPasskey;
    user.reloadMark = epoch;
    store.pushes.touchedUsers.add(newPasskey);
    store.users.set(newPasskey, user);
    store.pushes.removedUsers.delete(newPasskey);
    return OK;
  }

  /**
   * add/edit/remove_whitelist: the approved clients are re-read from
   * approved_clients now (a few rows; the push has no client ID, which
   * transfer_ips records) and installed; the push is checked against them. When
   * the table does not show the change (the site pushed before writing it, or
   * writes another table), that is a 409: hayate follows approved_clients.
   */
  private async whitelist(present: string[], absent: string[]): Promise<Result> {
    const { store, pool } = this.deps;
    const epoch = store.pushes.next();
    let clients;
    try {
      clients = await readApprovedClients(pool);
    } catch (err) {
      throw new Unavailable(`approved_clients could not be read: ${(err as Error).message}`, { cause: err });
    }
    // A whitelist push or reload that read the table later may have installed already.
    if (store.pushes.clients <= epoch) {
      store.approvedClients = clients;
      store.pushes.clients = epoch;
    }
    const prefixes = new Set(clients.map((c) => c.prefix));
    for (const prefix of present) {
      if (!prefixes.has(prefix)) throw new Conflict(`approved_clients has no active row with peer_id ${printable(prefix)}`);
    }
    for (const prefix of absent) {
      if (prefixes.has(prefix)) throw new Conflict(`approved_clients still has an active row with peer_id ${printable(prefix)}`);
    }
    return OK;
  }

  /**
   * update_announce_interval: `interval` in announce answers (intervals.announce;
   * the drift is still added, min interval stays intervals.min_announce). Held
   * until the next start (config.json is not written).
   */
  private announceInterval(p: Map<string, string>): Result {
    const value = p.get('new_announce_interval');
    if (value === undefined || !/^\d{1,9}$/.test(value) || Number(value) < 1 || Number(value) > MAX_ANNOUNCE_INTERVAL) {
      throw new BadRequest(`new_announce_interval must be whole seconds, 1..${MAX_ANNOUNCE_INTERVAL}`);
    }
    this.deps.config.intervals.announce = Number(value);
    return OK;
  }

  /** reload: a full reload pass that starts now; answered when it is done. */
  private async reloadNow(): Promise<Result> {
    if (!(await this.deps.reload())) throw new Unavailable('reload failed (see the log); the previous data is kept');
    return OK;
  }

  /** info_torrent: what the tracker holds for a hash, as one JSON object. */
  private infoTorrent(infoHash: string): Result {
    const { store, clock } = this.deps;
    const torrent = store.torrents.get(infoHash);
    const now = Math.floor(clock() / 1000);
    const unregistered = store.unregistered.entry(infoHash, now);
    const info: Record<string, unknown> = { info_hash: Buffer.from(infoHash, 'latin1').toString('hex'), loaded: torrent !== undefined };
    if (torrent !== undefined) Object.assign(info, describeTorrent(torrent));
    if (unregistered !== undefined) info['unregistered'] = unregistered;
    return { outcome: 'ok', answer: { status: 200, type: 'application/json', body: `${JSON.stringify(info)}\n` } };
  }
}

function describeTorrent(t: Torrent): Record<string, unknown> {
  return {
    id: t.id,
    group_id: t.groupId,
    type: t.type,
    status: t.status,
    snatched: t.snatched,
    seeders: t.seeders.size,
    leechers: t.leechers.size,
    last_action: t.lastAction,
    up_multiplier: t.upMultiplier,
    down_multiplier: t.downMultiplier,
    freetorrent: freetorrentOf(t.upMultiplier, t.downMultiplier),
  };
}

/** Gazelle's freeleech states as (up, down) multipliers: 0 normal, 1 free (download not counted), 2 neutral (neither). */
function multipliersOf(freetorrent: number): [number, number] {
  return freetorrent === 1 ? [1, 0] : freetorrent === 2 ? [0, 0] : [1, 1];
}

/** The freeleech state a torrent's multipliers amount to; null for others (e.g. 1.5×). */
function freetorrentOf(up: number, down: number): number | null {
  if (up === 1 && down === 1) return 0;
  if (up === 1 && down === 0) return 1;
  if (up === 0 && down === 0) return 2;
  return null;
}

function text(status: number, body: string, newline = true): UpdateAnswer {
  return { status, type: 'text/plain', body: newline ? `${body}\n` : body };
}

/** A value for an error line: printable ASCII, others as \xNN, at most 64 characters. */
function printable(value: string): string {
  let out = '';
  for (let i = 0; i < value.length && out.length < 64; i++) {
    const c = value.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f ? value.charAt(i) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return value.length > 64 ? `${out}…` : out;
}

function required(p: Map<string, string>, name: string): string {
  const value = p.get(name);
  if (value === undefined) throw new BadRequest(`missing ${name}`);
  return value;
}

function infoHashParam(p: Map<string, string>, name: string): string {
  const value = required(p, name);
  if (value.length !== INFO_HASH_LENGTH) {
    throw new BadRequest(`${name} must be ${INFO_HASH_LENGTH} bytes, percent-encoded (got ${value.length})`);
  }
  return value;
}

function infoHashesParam(p: Map<string, string>, name: string): string[] {
  const value = required(p, name);
  if (value.length === 0 || value.length % INFO_HASH_LENGTH !== 0) {
    throw new BadRequest(`${name} must be info hashes of ${INFO_HASH_LENGTH} bytes each, concatenated (got ${value.length} bytes)`);
  }
  const out: string[] = [];
  for (let i = 0; i < value.length; i += INFO_HASH_LENGTH) out.push(value.slice(i, i + INFO_HASH_LENGTH));
  return out;
}

/** A passkey: 32 printable ASCII characters (users_main.torrent_pass is char(32)). */
function isPasskey(value: string, start = 0): boolean {
  if (value.length - start < PASSKEY_LENGTH) return false;
  for (let i = start; i < start + PASSKEY_LENGTH; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

function passkeyParam(p: Map<string, string>, name: string): string {
  const value = required(p, name);
  if (value.length !== PASSKEY_LENGTH || !isPasskey(value)) {
    throw new BadRequest(`${name} must be ${PASSKEY_LENGTH} printable ASCII characters`);
  }
  return value;
}

function passkeysParam(p: Map<string, string>, name: string): string[] {
  const value = required(p, name);
  if (value.length === 0 || value.length % PASSKEY_LENGTH !== 0) {
    throw new BadRequest(`${name} must be passkeys of ${PASSKEY_LENGTH} characters each, concatenated (got ${value.length})`);
  }
  const out: string[] = [];
  for (let i = 0; i < value.length; i += PASSKEY_LENGTH) {
    if (!isPasskey(value, i)) throw new BadRequest(`${name}: passkey ${i / PASSKEY_LENGTH + 1} is not printable ASCII`);
    out.push(value.slice(i, i + PASSKEY_LENGTH));
  }
  return out;
}

function idParam(p: Map<string, string>, name: string): number {
  const value = required(p, name);
  if (!/^\d{1,10}$/.test(value) || Number(value) < 1 || Number(value) > 0xffffffff) {
    throw new BadRequest(`${name} must be a positive integer`);
  }
  return Number(value);
}

/** '0' or '1' (Gazelle's flags); undefined when absent. */
function flagParam(p: Map<string, string>, name: string): boolean | undefined {
  const value = p.get(name);
  if (value === undefined) return undefined;
  if (value !== '0' && value !== '1') throw new BadRequest(`${name} must be 0 or 1`);
  return value === '1';
}

function freetorrentParam(p: Map<string, string>, needed: boolean): number {
  const value = p.get('freetorrent');
  if (value === undefined && !needed) return 0;
  if (value !== '0' && value !== '1' && value !== '2') throw new BadRequest('freetorrent must be 0 (normal), 1 (free) or 2 (neutral)');
  return Number(value);
}

/** An approved-client prefix: 1..20 bytes (a peer_id is 20). */
function prefixParam(p: Map<string, string>, name: string): string {
  const value = required(p, name);
  if (value.length === 0 || value.length > 20) throw new BadRequest(`${name} must be a peer_id prefix of 1 to 20 bytes`);
  return value;
}
