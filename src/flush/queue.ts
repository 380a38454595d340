import type { Key, Keyed, QueueName, Table } from './tables.js';

/**
 * Records waiting to be written, one per key: a record for a key already
 * waiting is merged into it by the caller, so memory is bounded by the number
 * of distinct keys, however many announces arrive.
 *
 * `capacity` is a flush trigger, not a limit: reaching it wakes the flusher at
 * once, but the queue keeps accepting (and merging) — nothing ever blocks or is
 * dropped. While the database is down it grows past capacity, bounded by the
 * distinct keys that announce meanwhile (for transfer_history: the
 * (user, torrent) pairs active in that time).
 */
export class MergeQueue<R extends Keyed> {
  private waiting = new Map<Key, R>();
  /** Records taken by a flush and not yet written or put back. */
  private inFlight = 0;
  /** Called whenever the queue holds `capacity` keys or more after an add. */
  onFull: () => void = () => {};
  /** Called when the first record arrives in an empty queue. */
  onFirst: () => void = () => {};

  constructor(
    readonly table: Table<R>,
    readonly capacity: number,
  ) {}

  get name(): QueueName {
    return this.table.name;
  }

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Records not yet in the database: waiting plus taken by a flush in progress. This
   * is the queue depth operators see; `size` alone drops to 0 while a batch is out.
   */
  get pending(): number {
    return this.waiting.size + this.inFlight;
  }

  /** A flush wrote `count` of the records it took. */
  written(count: number): void {
    this.inFlight = Math.max(0, this.inFlight - count);
  }

  get(key: Key): R | undefined {
    return this.waiting.get(key);
  }

  /** Adds a record for a key that is not waiting (the caller checked with get()). */
  add(record: R): void {
    this.waiting.set(record.key, record);
    const size = this.waiting.size;
    if (size === 1) this.onFirst();
    if (size >= this.capacity) this.onFull();
  }

  /** Takes everything waiting; later records go to a fresh map. */
  take(): R[] {
    const batch = this.waiting;
    this.waiting = new Map();
    this.inFlight += batch.size;
    return [...batch.values()];
  }

  /**
   * Puts records that could not be written back, merging each with whatever
   * arrived for its key meanwhile (the returned records are the older ones).
   */
  putBack(records: readonly R[]): void {
    this.inFlight = Math.max(0, this.inFlight - records.length);
    const wasEmpty = this.waiting.size === 0;
    for (const record of records) {
      const newer = this.waiting.get(record.key);
      if (newer === undefined) this.waiting.set(record.key, record);
      else this.table.absorbOlder(newer, record);
    }
    if (wasEmpty && this.waiting.size > 0) this.onFirst();
  }

  /** Keys and bytes waiting, for the shutdown report. */
  summary(): { keys: number; uploaded: number; downloaded: number } {
    let uploaded = 0;
    let downloaded = 0;
    for (const record of this.waiting.values()) {
      const [up, down] = this.table.bytes(record);
      uploaded += up;
      downloaded += down;
    }
    return { keys: this.waiting.size, uploaded, downloaded };
  }
}
