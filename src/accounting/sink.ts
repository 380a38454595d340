/**
 * What an announce owes the database (SPEC §6). The announce path calls these
 * synchronously and must never wait: an implementation queues (and merges) the
 * records and writes them in the background. Positional arguments keep the hot
 * path free of per-call objects.
 */
export interface AccountingSink {
  /** users_main: Uploaded += up, Downloaded += down, rawup += rawUp, rawdl += rawDown. */
  user(userId: number, rawUp: number, rawDown: number, up: number, down: number): void;

  /** torrents: Snatched += snatches; Seeders/Leechers = latest; last_action = max(stored, lastAction). */
  torrent(torrentId: number, snatches: number, seeders: number, leechers: number, lastAction: number): void;

  /**
   * transfer_history by (uid, fid): uploaded/downloaded += raw, activetime += deltaTime,
   * seedtime += deltaSeedTime, snatched += snatches; seeding, remaining, last_announce,
   * active = latest; starttime on first insert.
   */
  transferHistory(
    userId: number,
    torrentId: number,
    rawUp: number,
    rawDown: number,
    deltaTime: number,
    deltaSeedTime: number,
    snatches: number,
    seeding: boolean,
    left: number | bigint,
    lastAnnounce: number,
    startTime: number,
    active: boolean,
  ): void;

  /**
   * transfer_ips by (uid, fid, ip, client_id): uploaded/downloaded += raw; port, last_announce
   * = latest; starttime on first insert. `ip` is already 127.0.0.1 for TrackerHide users.
   */
  transferIp(
    userId: number,
    torrentId: number,
    ip: number,
    clientId: number,
    rawUp: number,
    rawDown: number,
    port: number,
    lastAnnounce: number,
    startTime: number,
  ): void;

  /**
   * transfer_ips6 (database/migrations/002-transfer-ips6.sql) by (uid, fid, ip, client_id):
   * transferIp for an announce made from an IPv6 address (`addr16`: 16 bytes, latin1).
   * Only called with `announce.ipv6` on.
   */
  transferIp6(
    userId: number,
    torrentId: number,
    addr16: string,
    clientId: number,
    rawUp: number,
    rawDown: number,
    port: number,
    lastAnnounce: number,
    startTime: number,
  ): void;

  /** transfer_history.snatched_time = time of the first snatch (kept if already set). */
  snatch(userId: number, torrentId: number, time: number): void;

  /** torrents.Status = 0 for a pruned torrent a seeder revived. */
  revive(torrentId: number): void;

  /**
   * The announce whose calls came just before is complete: its peer's state after it
   * (absolute counters in bytes, times in unix seconds; place 0 stopped, 1 leecher,
   * 2 seeder). Only the crash journal (src/journal/) needs it, to rebuild peers after
   * a crash; queues ignore it. `dualStack` (DualStack bits, 0 for a peer without an IPv6
   * endpoint) says what the announce did to the peer's per-family reports (PeerV6.last).
   */
  announced?(
    userId: number,
    torrentId: number,
    peerId: string,
    ip: number,
    port: number,
    clientId: number,
    startTime: number,
    lastAnnounce: number,
    uploaded: number | bigint,
    downloaded: number | bigint,
    left: number | bigint,
    place: 0 | 1 | 2,
    dualStack: number,
  ): void;
}

/**
 * announced()'s `dualStack` byte, for a peer with an IPv6 endpoint after the announce
 * (tracker/dual-stack.ts): which family announced, and per counter whether its report
 * was stale (below the credited total: that family's last report is then not the total)
 * or a reset (the other family's last report was forgotten). Neither: the announcing
 * family's last report is the credited total. The journal keeps it so a replayed peer's
 * per-family reports are what they were, and a late report after a crash credits nothing twice.
 */
export const DualStack = {
  present: 1,
  family6: 2,
  upStale: 4,
  downStale: 8,
  upReset: 16,
  downReset: 32,
} as const;

/** Keeps every record in arrays, in call order. For tests and for running without a database writer. */
export class MemoryAccounting implements AccountingSink {
  users: { userId: number; rawUp: number; rawDown: number; up: number; down: number }[] = [];
  torrents: { torrentId: number; snatches: number; seeders: number; leechers: number; lastAction: number }[] = [];
  histories: {
    userId: number;
    torrentId: number;
    rawUp: number;
    rawDown: number;
    deltaTime: number;
    deltaSeedTime: number;
    snatches: number;
    seeding: boolean;
    left: number | bigint;
    lastAnnounce: number;
    startTime: number;
    active: boolean;
  }[] = [];
  ips: {
    userId: number;
    torrentId: number;
    ip: number;
    clientId: number;
    rawUp: number;
    rawDown: number;
    port: number;
    lastAnnounce: number;
    startTime: number;
  }[] = [];
  ips6: {
    userId: number;
    torrentId: number;
    addr16: string;
    clientId: number;
    rawUp: number;
    rawDown: number;
    port: number;
    lastAnnounce: number;
    startTime: number;
  }[] = [];
  snatches: { userId: number; torrentId: number; time: number }[] = [];
  revived: number[] = [];

  user(userId: number, rawUp: number, rawDown: number, up: number, down: number): void {
    this.users.push({ userId, rawUp, rawDown, up, down });
  }
  torrent(torrentId: number, snatches: number, seeders: number, leechers: number, lastAction: number): void {
    this.torrents.push({ torrentId, snatches, seeders, leechers, lastAction });
  }
  transferHistory(
    userId: number,
    torrentId: number,
    rawUp: number,
    rawDown: number,
    deltaTime: number,
    deltaSeedTime: number,
    snatches: number,
    seeding: boolean,
    left: number | bigint,
    lastAnnounce: number,
    startTime: number,
    active: boolean,
  ): void {
    this.histories.push({
      userId,
      torrentId,
      rawUp,
      rawDown,
      deltaTime,
      deltaSeedTime,
      snatches,
      seeding,
      left,
      lastAnnounce,
      startTime,
      active,
    });
  }
  transferIp(
    userId: number,
    torrentId: number,
    ip: number,
    clientId: number,
    rawUp: number,
    rawDown: number,
    port: number,
    lastAnnounce: number,
    startTime: number,
  ): void {
    this.ips.push({ userId, torrentId, ip, clientId, rawUp, rawDown, port, lastAnnounce, startTime });
  }
  transferIp6(
    userId: number,
    torrentId: number,
    addr16: string,
    clientId: number,
    rawUp: number,
    rawDown: number,
    port: number,
    lastAnnounce: number,
    startTime: number,
  ): void {
    this.ips6.push({ userId, torrentId, addr16, clientId, rawUp, rawDown, port, lastAnnounce, startTime });
  }
  snatch(userId: number, torrentId: number, time: number): void {
    this.snatches.push({ userId, torrentId, time });
  }
  revive(torrentId: number): void {
    this.revived.push(torrentId);
  }
}

/**
 * Takes every call and keeps nothing: the journal's onward sink when the accounting
 * thread reads the journal's files instead (src/flush/accounting-thread.ts).
 */
export const noAccounting: AccountingSink = {
  user() {},
  torrent() {},
  transferHistory() {},
  transferIp() {},
  transferIp6() {},
  snatch() {},
  revive() {},
};
