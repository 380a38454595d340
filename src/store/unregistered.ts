/**
 * Torrents the site deleted with a reason (Ocelot's delete_torrent): for a while
 * after the deletion an announce on one gets `Unregistered torrent: <reason>`
 * instead of `This torrent does not exist`, so its users learn why.
 *
 * Entries are kept in insertion order with one lifetime, so the oldest expire
 * first: pruning walks from the front and stops at the first live entry.
 */
export class Unregistered {
  private readonly entries = new Map<string, { reason: string; until: number }>();

  /** @param lifetimeSeconds how long a reason is given after the deletion (Ocelot's del_reason_lifetime, a day). */
  constructor(readonly lifetimeSeconds = 86_400) {}

  /** Records the deletion of `infoHash` (20 raw bytes, latin1) at `now` (unix seconds); `reason` may be ''. */
  add(infoHash: string, reason: string, now: number): void {
    this.prune(now);
    this.entries.delete(infoHash); // re-insert at the back: the order stays by expiry
    this.entries.set(infoHash, { reason, until: now + this.lifetimeSeconds });
  }

  /** The torrent came back (add_torrent): announces on it are answered normally again. */
  remove(infoHash: string): void {
    this.entries.delete(infoHash);
  }

  /** The deletion reason ('' when none was given), or undefined when the hash was not deleted recently. */
  reasonFor(infoHash: string, now: number): string | undefined {
    if (this.entries.size === 0) return undefined;
    const entry = this.entries.get(infoHash);
    return entry === undefined || entry.until <= now ? undefined : entry.reason;
  }

  /** What is held for `infoHash`: its reason and until when (unix seconds). */
  entry(infoHash: string, now: number): { reason: string; until: number } | undefined {
    const entry = this.entries.get(infoHash);
    return entry === undefined || entry.until <= now ? undefined : { ...entry };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops expired entries (oldest first). */
  prune(now: number): void {
    for (const [hash, entry] of this.entries) {
      if (entry.until > now) return;
      this.entries.delete(hash);
    }
  }
}
