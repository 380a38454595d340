import { keyRange, RecordWriter } from './records.js';

/**
 * The reload thread's copy of a table (users or torrents) as its last whole pass read it,
 * one record per row in ID order (src/database/records.ts), and the comparison of a new
 * pass against it. A pass reads every row again, but only the rows that are new or whose
 * record changed need to reach the main thread; the rows that are gone, and the old key of
 * a row whose key changed, are handed back as their old records so that the main thread
 * can remove those keys. A site's users and torrents change little between two passes
 * 45 s apart, so the main thread applies a few rows instead of a million.
 *
 * Memory: the records of one pass (≈ 60 bytes a user, ≈ 85 a torrent), twice while a pass
 * builds its copy.
 */
export class TableMirror {
  private ids: Float64Array = new Float64Array(0);
  /** Record i is bytes starts[i]..starts[i + 1]. */
  private starts: Uint32Array = new Uint32Array(1);
  private bytes: Buffer = Buffer.alloc(0);
  private count = 0;
  private filled = false;

  /** `numbers`: how many float64s come before the key in this table's records. */
  constructor(readonly numbers: number) {}

  /** True until a pass finished whole: the next pass then sends every row. */
  get empty(): boolean {
    return !this.filled;
  }

  /** Rows held. */
  get size(): number {
    return this.count;
  }

  /** Bytes of records held (the ID and offset arrays not counted). */
  get byteLength(): number {
    return this.bytes.length;
  }

  /** Forgets every row: the next pass sends them all. */
  clear(): void {
    this.ids = new Float64Array(0);
    this.starts = new Uint32Array(1);
    this.bytes = Buffer.alloc(0);
    this.count = 0;
    this.filled = false;
  }

  /** Starts a pass; the mirror changes only when it finishes (a failed pass leaves it as it was). */
  begin(): MirrorPass {
    return new MirrorPass(this);
  }

  /** @internal MirrorPass reads the last pass through these. */
  old(): { ids: Float64Array; starts: Uint32Array; bytes: Buffer; count: number } {
    return { ids: this.ids, starts: this.starts, bytes: this.bytes, count: this.count };
  }

  /** @internal */
  install(ids: Float64Array, starts: Uint32Array, bytes: Buffer, count: number): void {
    this.ids = ids;
    this.starts = starts;
    this.bytes = bytes;
    this.count = count;
    this.filled = true;
  }
}

/** One pass over a table, compared row by row with the mirror's last pass (a merge on ID). */
export class MirrorPass {
  /** The pass's records: write each row's record here, then call add(). */
  readonly writer: RecordWriter;
  /** Old records of rows gone, and of rows whose key changed (their old key is gone). */
  readonly removed = new RecordWriter(1024);
  private readonly last: ReturnType<TableMirror['old']>;
  private ids: Float64Array;
  private starts: Uint32Array;
  private count = 0;
  /** The next old record not yet matched. */
  private at = 0;
  private lastId = -Infinity;

  constructor(private readonly mirror: TableMirror) {
    this.last = mirror.old();
    // Sized from the last pass: a table grows slowly, so this rarely copies.
    const rows = Math.ceil(this.last.count * 1.05) + 1024;
    this.ids = new Float64Array(rows);
    this.starts = new Uint32Array(rows + 1);
    this.writer = new RecordWriter(Math.ceil(this.last.bytes.length * 1.05) + 64 * 1024);
  }

  /**
   * Takes the row whose record was just written to `writer` from byte `start` on (row IDs
   * must increase). Returns true when the row is new or its record changed since the last
   * pass: the main thread must get it.
   */
  add(id: number, start: number): boolean {
    if (!(id > this.lastId)) throw new Error(`reload rows out of ID order (${id} after ${this.lastId})`);
    if (start !== this.starts[this.count]) throw new Error('a reload record was written without add()');
    this.lastId = id;
    const old = this.last;
    while (this.at < old.count && old.ids[this.at]! < id) this.gone(this.at++);
    const end = this.writer.length;
    let changed = true;
    if (this.at < old.count && old.ids[this.at] === id) {
      const i = this.at++;
      const os = old.starts[i]!;
      const oe = old.starts[i + 1]!;
      changed = oe - os !== end - start || old.bytes.compare(this.writer.buffer, start, end, os, oe) !== 0;
      if (changed && !this.sameKey(os, start)) this.gone(i);
    }
    this.push(id, end);
    return changed;
  }

  /** Ends the pass whole: rows not seen are gone, and the mirror becomes this pass. */
  finish(): void {
    const old = this.last;
    while (this.at < old.count) this.gone(this.at++);
    // The records written, not the writer's whole buffer: the next pass sizes its own from this.
    this.mirror.install(this.ids, this.starts, this.writer.buffer.subarray(0, this.writer.length), this.count);
  }

  private sameKey(oldStart: number, newStart: number): boolean {
    const [os, oe] = keyRange(this.last.bytes, oldStart, this.mirror.numbers);
    const [ns, ne] = keyRange(this.writer.buffer, newStart, this.mirror.numbers);
    return oe - os === ne - ns && this.last.bytes.compare(this.writer.buffer, ns, ne, os, oe) === 0;
  }

  private gone(i: number): void {
    const old = this.last;
    this.removed.copyRecord(old.bytes, old.starts[i]!, old.starts[i + 1]!);
  }

  private push(id: number, end: number): void {
    if (this.count === this.ids.length) {
      const ids = new Float64Array(this.ids.length * 2);
      ids.set(this.ids);
      this.ids = ids;
      const starts = new Uint32Array(ids.length + 1);
      starts.set(this.starts);
      this.starts = starts;
    }
    this.ids[this.count++] = id;
    this.starts[this.count] = end;
  }
}
