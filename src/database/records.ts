/**
 * Reload rows as compact byte records: what the reload thread keeps of the last pass and
 * what it sends the main thread (src/database/reload-thread.ts). A record is a fixed number
 * of little-endian float64s, then its strings, each a u16 byte length and the bytes; the
 * first string is the row's key (passkey, info_hash). Two records are the same row state
 * exactly when their bytes are equal.
 */

/** Builds records one after another into one growing buffer. */
export class RecordWriter {
  private buf: Buffer;
  /** Bytes written. */
  length = 0;
  /** Whole records appended (copyRecord()). */
  records = 0;

  /** `capacity`: initial bytes (grows by doubling). */
  constructor(capacity = 16 * 1024) {
    // Not Buffer.allocUnsafe: small ones come from Node's shared pool, and a transferred
    // pool would be detached under every other Buffer on it.
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, capacity));
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.length + bytes));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  number(x: number): void {
    this.room(8);
    this.buf.writeDoubleLE(x, this.length);
    this.length += 8;
  }

  /** A string as its bytes in `encoding` (a key read back must be the same string: latin1 only for byte strings). */
  string(s: string, encoding: 'utf8' | 'latin1'): void {
    const most = encoding === 'latin1' ? s.length : s.length * 3;
    if (most > 0xffff) throw new RangeError(`a ${most}-byte string does not fit a reload record`);
    this.room(2 + most);
    const written = this.buf.write(s, this.length + 2, encoding);
    this.buf.writeUInt16LE(written, this.length);
    this.length += 2 + written;
  }

  /** Bytes `start`..`end` of `src` as a string field. */
  bytes(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.room(2 + n);
    this.buf.writeUInt16LE(n, this.length);
    src.copy(this.buf, this.length + 2, start, end);
    this.length += 2 + n;
  }

  /** Appends a whole record (bytes `start`..`end` of `src`) and counts it. */
  copyRecord(src: Buffer, start: number, end: number): void {
    this.room(end - start);
    src.copy(this.buf, this.length, start, end);
    this.length += end - start;
    this.records++;
  }

  /** Drops what was written after `length` (0: starts the writer again, as for each row's scratch record). */
  truncate(length: number): void {
    this.length = length;
  }

  /** The buffer written so far (shared: read it before writing more). */
  get buffer(): Buffer {
    return this.buf;
  }

  /** The bytes written, in an ArrayBuffer of their own (for a transfer list). */
  take(): ArrayBuffer {
    const out = new ArrayBuffer(this.length);
    this.buf.copy(new Uint8Array(out), 0, 0, this.length);
    return out;
  }
}

/** Reads records written by RecordWriter, field by field, in order. */
export class RecordReader {
  /** Read position in bytes. */
  pos = 0;

  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  number(): number {
    const x = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return x;
  }

  string(encoding: 'utf8' | 'latin1'): string {
    const n = this.buf.readUInt16LE(this.pos);
    const start = this.pos + 2;
    this.pos = start + n;
    return this.buf.toString(encoding, start, start + n);
  }
}

/** Where a record's key (its first string) lies, given how many numbers come before it. */
export function keyRange(buf: Buffer, recordStart: number, numbers: number): [start: number, end: number] {
  const at = recordStart + numbers * 8;
  const start = at + 2;
  return [start, start + buf.readUInt16LE(at)];
}
