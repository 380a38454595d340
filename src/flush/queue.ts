import type { QueueName, Table } from './tables.js';

/**
 * Rows taken from a queue by a flush: `count` rows, row r's key columns at
 * keys[r * keyWidth …] and its values at values[r * valueWidth …].
 */
export interface Batch {
  readonly keys: Uint32Array;
  readonly values: Float64Array;
  readonly count: number;
  /** Rows the columns have room for (for recycling them). */
  readonly rows: number;
}

const MIN_ROWS = 1024;
const NO_ROWS: Batch = { keys: new Uint32Array(0), values: new Float64Array(0), count: 0, rows: 0 };

/**
 * Rows waiting to be written, one per key: a row for a key already waiting is
 * merged into it by the caller, so memory is bounded by the number of distinct
 * keys, however many announces arrive.
 *
 * Rows live in columns (typed arrays) found through an open-addressing index,
 * not as one object per row in a Map: a row waits seconds for its flush, long
 * enough to survive young-generation collections, and tens of thousands of
 * surviving objects a second made every scavenge copy them (4–5 ms pauses under
 * load). Typed arrays hold no pointers: nothing here is traced or copied.
 *
 * `capacity` is a flush trigger, not a limit: reaching it wakes the flusher at
 * once, but the queue keeps accepting (and merging) — nothing ever blocks or is
 * dropped. While the database is down it grows past capacity, bounded by the
 * distinct keys that announce meanwhile (for transfer_history: the
 * (user, torrent) pairs active in that time).
 */
export class RowQueue {
  readonly keyWidth: number;
  readonly valueWidth: number;
  /** Key columns of the waiting rows (valid for rows below `size`). */
  keys: Uint32Array;
  /**
   * Value columns of the waiting rows. slot() may replace it (growth): call slot()
   * first, then read this — `q.values[q.slot(k)] += x` would write to the old array.
   */
  values: Float64Array;
  private count = 0;
  private rows: number;
  /** slot + 1 per bucket (0: empty); a power of two, at least twice the rows. */
  private index: Int32Array;
  /** Records taken by a flush and not yet written or put back. */
  private inFlight = 0;
  /**
   * Columns of a finished batch, kept for the next take(): allocating fresh ones every
   * round was megabytes of array buffers a second, which V8 answers with full collections.
   */
  private spare: { keys: Uint32Array; values: Float64Array; rows: number } | undefined;
  /** Set by slot(): whether the row was created by that call (its values are zero). */
  created = false;
  /** Called whenever the queue holds `capacity` keys or more after an add. */
  onFull: () => void = () => {};
  /** Called when the first row arrives in an empty queue. */
  onFirst: () => void = () => {};

  constructor(
    readonly table: Table,
    readonly capacity: number,
  ) {
    this.keyWidth = table.keyWidth;
    this.valueWidth = table.valueWidth;
    this.rows = MIN_ROWS;
    this.keys = new Uint32Array(this.rows * this.keyWidth);
    this.values = new Float64Array(this.rows * this.valueWidth);
    this.index = new Int32Array(this.rows * 2);
  }

  get name(): QueueName {
    return this.table.name;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Records not yet in the database: waiting plus taken by a flush in progress. This
   * is the queue depth operators see; `size` alone drops to 0 while a batch is out.
   */
  get pending(): number {
    return this.count + this.inFlight;
  }

  /** A flush wrote `count` of the rows it took. */
  written(count: number): void {
    this.inFlight = Math.max(0, this.inFlight - count);
  }

  /**
   * The row for these key columns (unused ones 0), created with zero values when
   * absent (then `created` is true). Keys must be uint32.
   */
  slot(k0: number, k1 = 0, k2 = 0, k3 = 0): number {
    const w = this.keyWidth;
    const keys = this.keys;
    const index = this.index;
    const mask = index.length - 1;
    let bucket = hash(k0, k1, k2, k3) & mask;
    for (;;) {
      const entry = index[bucket]!;
      if (entry === 0) break;
      const at = (entry - 1) * w;
      if (keys[at] === k0 && (w < 2 || keys[at + 1] === k1) && (w < 3 || keys[at + 2] === k2) && (w < 4 || keys[at + 3] === k3)) {
        this.created = false;
        return entry - 1;
      }
      bucket = (bucket + 1) & mask;
    }
    const slot = this.count;
    if (slot === this.rows) {
      this.grow();
      return this.slot(k0, k1, k2, k3);
    }
    index[bucket] = slot + 1;
    const at = slot * w;
    keys[at] = k0;
    if (w > 1) keys[at + 1] = k1;
    if (w > 2) keys[at + 2] = k2;
    if (w > 3) keys[at + 3] = k3;
    // Columns are reused between batches: a new row's values start at zero here.
    const vw = this.valueWidth;
    const values = this.values;
    for (let c = slot * vw, end = c + vw; c < end; c++) values[c] = 0;
    this.count = slot + 1;
    this.created = true;
    if (slot === 0) this.onFirst();
    if (slot + 1 >= this.capacity) this.onFull();
    return slot;
  }

  /**
   * slot() for a queue of more than four key columns (transfer_ips6: uid, fid, the address
   * as four words, client_id): the key is `key[from … from + keyWidth)`. A path of its own,
   * so the four-column one every IPv4 announce takes is unchanged.
   */
  slotWide(key: ArrayLike<number>, from = 0): number {
    const w = this.keyWidth;
    const keys = this.keys;
    const index = this.index;
    const mask = index.length - 1;
    let bucket = hashWide(key, from, w) & mask;
    for (;;) {
      const entry = index[bucket]!;
      if (entry === 0) break;
      const at = (entry - 1) * w;
      let same = true;
      for (let c = 0; c < w && same; c++) same = keys[at + c] === key[from + c];
      if (same) {
        this.created = false;
        return entry - 1;
      }
      bucket = (bucket + 1) & mask;
    }
    const slot = this.count;
    if (slot === this.rows) {
      this.grow();
      return this.slotWide(key, from);
    }
    index[bucket] = slot + 1;
    const at = slot * w;
    for (let c = 0; c < w; c++) keys[at + c] = key[from + c]!;
    const vw = this.valueWidth;
    const values = this.values;
    for (let c = slot * vw, end = c + vw; c < end; c++) values[c] = 0;
    this.count = slot + 1;
    this.created = true;
    if (slot === 0) this.onFirst();
    if (slot + 1 >= this.capacity) this.onFull();
    return slot;
  }

  /**
   * Takes every waiting row; later rows go to other columns (the spare ones when they
   * fit), shrunk when the traffic has fallen well below their size.
   */
  take(): Batch {
    const count = this.count;
    if (count === 0) return NO_ROWS; // an idle round keeps its columns
    const batch: Batch = { keys: this.keys, values: this.values, count, rows: this.rows };
    this.inFlight += count;
    const rows = count * 8 < this.rows && this.rows > MIN_ROWS ? Math.max(MIN_ROWS, nextPowerOfTwo(count * 2)) : this.rows;
    const spare = this.spare;
    this.spare = undefined;
    if (spare !== undefined && spare.rows === rows) {
      this.keys = spare.keys;
      this.values = spare.values;
      this.rows = rows;
      this.count = 0;
      this.clearIndex(rows);
    } else {
      this.reset(rows);
    }
    return batch;
  }

  /** A flush is done with a batch it took (written or put back): its columns may be reused. */
  recycle(batch: Batch): void {
    if (batch.rows === this.rows && this.spare === undefined) {
      this.spare = { keys: batch.keys, values: batch.values, rows: batch.rows };
    }
  }

  /**
   * Puts rows a flush could not write back (`order[from…]` of `batch`), merging each
   * with whatever arrived for its key meanwhile (the returned rows are the older ones).
   */
  putBack(batch: Batch, order: Uint32Array, from: number): void {
    const back = order.length - from;
    this.inFlight = Math.max(0, this.inFlight - back);
    const kw = this.keyWidth;
    const vw = this.valueWidth;
    for (let i = from; i < order.length; i++) {
      const row = order[i]!;
      const k = row * kw;
      const keys = batch.keys;
      const slot =
        kw > 4 ? this.slotWide(keys, k) : this.slot(keys[k]!, kw > 1 ? keys[k + 1] : 0, kw > 2 ? keys[k + 2] : 0, kw > 3 ? keys[k + 3] : 0);
      const values = this.values;
      if (this.created) values.set(batch.values.subarray(row * vw, row * vw + vw), slot * vw);
      else this.table.absorbOlder(values, slot * vw, batch.values, row * vw);
    }
  }

  /** Keys and bytes waiting, for the shutdown report. */
  summary(): { keys: number; uploaded: number; downloaded: number } {
    let uploaded = 0;
    let downloaded = 0;
    const bytes = this.table.bytesColumns;
    if (bytes !== undefined) {
      for (let row = 0; row < this.count; row++) {
        uploaded += this.values[row * this.valueWidth + bytes[0]]!;
        downloaded += this.values[row * this.valueWidth + bytes[1]]!;
      }
    }
    return { keys: this.count, uploaded, downloaded };
  }

  private reset(rows: number): void {
    this.rows = rows;
    this.count = 0;
    this.keys = new Uint32Array(rows * this.keyWidth);
    this.values = new Float64Array(rows * this.valueWidth);
    this.clearIndex(rows);
  }

  /** An empty index for `rows` rows (the same array, zeroed, when the size is unchanged). */
  private clearIndex(rows: number): void {
    if (this.index.length === rows * 2) this.index.fill(0);
    else this.index = new Int32Array(rows * 2);
  }

  private grow(): void {
    const { keys, values, count } = this;
    this.reset(this.rows * 2);
    this.keys.set(keys);
    this.values.set(values);
    this.count = count;
    const w = this.keyWidth;
    const index = this.index;
    const mask = index.length - 1;
    for (let slot = 0; slot < count; slot++) {
      const at = slot * w;
      let bucket =
        (w > 4 ? hashWide(keys, at, w) : hash(keys[at]!, w > 1 ? keys[at + 1]! : 0, w > 2 ? keys[at + 2]! : 0, w > 3 ? keys[at + 3]! : 0)) &
        mask;
      while (index[bucket] !== 0) bucket = (bucket + 1) & mask;
      index[bucket] = slot + 1;
    }
  }
}

/** The rows of a batch in key order (column by column), so concurrent writers lock rows in the same order. */
export function keyOrder(batch: Batch, keyWidth: number): Uint32Array {
  const order = new Uint32Array(batch.count);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const keys = batch.keys;
  if (keyWidth === 1 && batch.count <= 1 << 21) {
    // One key column: sort packed numbers natively (key × 2^21 + row < 2^53), no comparator calls.
    const packed = new Float64Array(batch.count);
    for (let i = 0; i < packed.length; i++) packed[i] = keys[i]! * 2097152 + i;
    packed.sort();
    for (let i = 0; i < packed.length; i++) order[i] = packed[i]! % 2097152;
    return order;
  }
  return order.sort((a, b) => {
    const x = a * keyWidth;
    const y = b * keyWidth;
    for (let c = 0; c < keyWidth; c++) {
      const d = keys[x + c]! - keys[y + c]!;
      if (d !== 0) return d;
    }
    return 0;
  });
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Mixes up to four uint32 key columns (murmur3-style finalizer steps). */
function hash(k0: number, k1: number, k2: number, k3: number): number {
  let h = Math.imul(k0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ k1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ k2, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ k3, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** hash() over `width` (> 4) key columns starting at `from`. */
function hashWide(key: ArrayLike<number>, from: number, width: number): number {
  let h = hash(key[from]!, key[from + 1]!, key[from + 2]!, key[from + 3]!);
  for (let c = 4; c < width; c++) h = Math.imul(h ^ (h >>> 15) ^ key[from + c]!, 0x85ebca6b);
  return h ^ (h >>> 16);
}
