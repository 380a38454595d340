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
 * Memory: the records of one pass (≈ 60 bytes a user, ≈ 85 a torrent, and 12 bytes of index
 * a row), in chunks of CHUNK_ROWS rows. A pass frees each chunk of the last pass once its merge
 * has gone past it, so a pass holds little more than one copy. The price: a pass that does not
 * finish leaves the mirror empty, and the next pass sends every row.
 */
export class TableMirror {
  private chunks: Chunk[] = [];
  private filled = false;

  /** `numbers`: how many float64s come before the key in this table's records. */
  constructor(readonly numbers: number) {}

  /** True until a pass finished whole: the next pass then sends every row. */
  get empty(): boolean {
    return !this.filled;
  }

  /** Rows held. */
  get size(): number {
    return this.chunks.reduce((n, c) => n + c.count, 0);
  }

  /** Bytes of records held (the ID and offset arrays not counted). */
  get byteLength(): number {
    return this.chunks.reduce((n, c) => n + c.bytes.length, 0);
  }

  /** Forgets every row: the next pass sends them all. */
  clear(): void {
    this.chunks = [];
    this.filled = false;
  }

  /** Starts a pass, which takes the rows held: until it finishes the mirror is empty. */
  begin(): MirrorPass {
    const last = this.chunks;
    this.clear();
    return new MirrorPass(this, last);
  }

  /** @internal MirrorPass.finish() */
  install(chunks: Chunk[]): void {
    this.chunks = chunks;
    this.filled = true;
  }
}

/** Rows of one chunk of a pass: record i is bytes starts[i]..starts[i + 1]. */
interface Chunk {
  ids: Float64Array;
  starts: Uint32Array;
  bytes: Buffer;
  count: number;
}

/** Rows per chunk: small enough that freeing chunks as a pass goes keeps one copy, big enough to be few. */
const CHUNK_ROWS = 16_384;

/** One pass over a table, compared row by row with the mirror's last pass (a merge on ID). */
export class MirrorPass {
  /** Old records of rows gone, and of rows whose key changed (their old key is gone). */
  readonly removed = new RecordWriter(1024);
  private readonly done: Chunk[] = [];
  private ids = new Float64Array(CHUNK_ROWS);
  private starts = new Uint32Array(CHUNK_ROWS + 1);
  private writer: RecordWriter;
  private count = 0;
  /** The last pass's chunk being merged, and the next record in it not yet matched. */
  private chunk = 0;
  private at = 0;
  private lastId = -Infinity;

  constructor(
    private readonly mirror: TableMirror,
    private readonly last: (Chunk | undefined)[],
  ) {
    this.writer = new RecordWriter(this.chunkBytes());
  }

  /**
   * Takes a row (IDs must increase) whose record is bytes `start`..`end` of `record`.
   * Returns true when the row is new or its record changed since the last pass: the main
   * thread must get it.
   */
  add(id: number, record: Buffer, start: number, end: number): boolean {
    if (!(id > this.lastId)) throw new Error(`reload rows out of ID order (${id} after ${this.lastId})`);
    this.lastId = id;
    let old = this.oldChunk();
    while (old !== undefined && old.ids[this.at]! < id) {
      this.gone(old, this.at++);
      old = this.oldChunk();
    }
    let changed = true;
    if (old !== undefined && old.ids[this.at] === id) {
      const os = old.starts[this.at]!;
      const oe = old.starts[this.at + 1]!;
      changed = oe - os !== end - start || old.bytes.compare(record, start, end, os, oe) !== 0;
      if (changed && !this.sameKey(old.bytes, os, record, start)) this.gone(old, this.at);
      this.at++;
    }
    this.keep(id, record, start, end);
    return changed;
  }

  /** Ends the pass whole: rows not seen are gone, and the mirror becomes this pass. */
  finish(): void {
    for (let old = this.oldChunk(); old !== undefined; old = this.oldChunk()) this.gone(old, this.at++);
    this.seal();
    this.mirror.install(this.done);
  }

  /** The last pass's chunk holding the next unmatched record (chunks merged past are freed), or undefined at the end. */
  private oldChunk(): Chunk | undefined {
    for (;;) {
      const chunk = this.last[this.chunk];
      if (chunk === undefined) return undefined;
      if (this.at < chunk.count) return chunk;
      this.last[this.chunk++] = undefined;
      this.at = 0;
    }
  }

  private sameKey(oldBytes: Buffer, oldStart: number, record: Buffer, start: number): boolean {
    const [os, oe] = keyRange(oldBytes, oldStart, this.mirror.numbers);
    const [ns, ne] = keyRange(record, start, this.mirror.numbers);
    return oe - os === ne - ns && oldBytes.compare(record, ns, ne, os, oe) === 0;
  }

  private gone(chunk: Chunk, i: number): void {
    this.removed.copyRecord(chunk.bytes, chunk.starts[i]!, chunk.starts[i + 1]!);
  }

  private keep(id: number, record: Buffer, start: number, end: number): void {
    if (this.count === CHUNK_ROWS) this.seal();
    this.writer.copyRecord(record, start, end);
    this.ids[this.count++] = id;
    this.starts[this.count] = this.writer.length;
  }

  private seal(): void {
    if (this.count === 0) return;
    this.done.push({
      ids: this.ids.slice(0, this.count),
      starts: this.starts.slice(0, this.count + 1),
      bytes: Buffer.from(this.writer.take()),
      count: this.count,
    });
    this.count = 0;
    this.starts[0] = 0;
    this.writer = new RecordWriter(this.chunkBytes());
  }

  /** A new chunk's first buffer: the size of the last pass's chunks, so it rarely grows. */
  private chunkBytes(): number {
    const first = this.last[0] ?? this.done[0];
    return first === undefined ? 64 * 1024 : Math.ceil(first.bytes.length * 1.1);
  }
}
