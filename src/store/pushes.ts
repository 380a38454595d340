/**
 * Bookkeeping that keeps the site's pushes (src/update/) and the paged reload
 * (src/database/reload.ts) from undoing each other.
 *
 * One counter, the epoch, orders both: each reload pass over users or torrents
 * takes a new epoch as its mark, each page it reads notes the epoch at the time
 * its query was sent, and each push takes a new epoch and stamps it on what it
 * touched (`reloadMark`) or, for what it removed, in a tombstone. Then:
 * - a row from a page read before a push on that key is stale: the pass skips it
 *   (it neither overwrites the pushed entry nor re-adds a removed one);
 * - the sweep after a pass removes entries whose mark is below the pass's mark:
 *   neither seen by the pass nor pushed since it started;
 * - the next pass (every page read after the push) makes memory equal the
 *   database again.
 * Tombstones older than a pass's start can block nothing any more and are
 * dropped when the next pass over that map starts, so they live one pass at most.
 *
 * The reload thread sends only rows that changed since its last pass; a key a push
 * touched (or removed) must be read again even when its row did not change, so the
 * push also notes the key here, and the next pass takes the notes (src/database/reload.ts).
 */
export class Pushes {
  /** The last epoch handed out (passes and pushes share it). */
  epoch = 0;
  /** Passkey → epoch of the push that removed that user (remove_user(s), change_passkey). */
  readonly removedUsers = new Map<string, number>();
  /** info_hash (latin1) → epoch of the push that removed that torrent (delete_torrent). */
  readonly removedTorrents = new Map<string, number>();
  /** Passkeys a push set or changed since the last pass over users began. */
  readonly touchedUsers = new Set<string>();
  /** info_hashes (latin1) a push set or changed since the last pass over torrents began. */
  readonly touchedTorrents = new Set<string>();
  /** Epoch of the last push that installed the approved clients (whitelist actions). */
  clients = 0;

  /** A new epoch, larger than every one before it. */
  next(): number {
    return ++this.epoch;
  }
}
