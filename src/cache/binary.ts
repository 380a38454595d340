/**
 * Little-endian binary cursor and chunked output buffer for the cache files.
 * Every read is bounds-checked: running past the end is a CacheFormatError that
 * says where and what was expected, never an out-of-range read or a crash.
 */

/** A damaged, truncated or unknown-version cache file. */
export class CacheFormatError extends Error {
  constructor(
    /** What is wrong, without the file name or offset. */
    readonly detail: string,
    /** Byte offset in the file where the problem was found (-1 when not positional). */
    readonly offset: number,
    /** The file, once known. */
    readonly file?: string,
  ) {
    super(`${file !== undefined ? `${file}: ` : ''}${detail}${offset >= 0 ? ` (at byte ${offset})` : ''}`);
    this.name = 'CacheFormatError';
  }

  inFile(file: string): CacheFormatError {
    return new CacheFormatError(this.detail, this.offset, file);
  }
}

/** A 64-bit field: a number while exactly representable, else a bigint (exact mode only). */
export type U64 = number | bigint;

const TWO_32 = 0x1_0000_0000;

export class ByteReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (this.buf.length - at < n) {
      throw new CacheFormatError(`truncated: expected ${what} (${n} bytes), ${this.buf.length - at} left`, at);
    }
    this.pos = at + n;
    return at;
  }

  /** Unsigned LEB128, at most 10 bytes and 64 bits (as Go's binary.ReadUvarint). */
  uvarint(what: string): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) {
        throw new CacheFormatError(`truncated: expected ${what} (varint)`, start);
      }
      const byte = this.buf[this.pos++]!;
      if (i === 9 && byte > 1) throw new CacheFormatError(`${what}: varint overflows 64 bits`, start);
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(result)) throw new CacheFormatError(`${what}: varint ${result} too large`, start);
        return result;
      }
      scale *= 128;
    }
    throw new CacheFormatError(`${what}: varint longer than 10 bytes`, start);
  }

  u8(what: string): number {
    return this.buf[this.need(1, what)]!;
  }

  u16(what: string): number {
    return this.buf.readUInt16LE(this.need(2, what));
  }

  u32(what: string): number {
    return this.buf.readUInt32LE(this.need(4, what));
  }

  /** Unsigned 64-bit; beyond 2^53 a bigint when exact, else the nearest double. */
  u64(what: string, exact: boolean): U64 {
    const at = this.need(8, what);
    const lo = this.buf.readUInt32LE(at);
    const hi = this.buf.readUInt32LE(at + 4);
    if (hi < 0x20_0000) return hi * TWO_32 + lo;
    const big = this.buf.readBigUInt64LE(at);
    return exact ? big : Number(big);
  }

  /** Signed 64-bit, same rules as u64. */
  i64(what: string, exact: boolean): U64 {
    const at = this.need(8, what);
    const lo = this.buf.readUInt32LE(at);
    const hi = this.buf.readInt32LE(at + 4);
    if (hi >= -0x20_0000 && hi < 0x20_0000) return hi * TWO_32 + lo;
    const big = this.buf.readBigInt64LE(at);
    return exact ? big : Number(big);
  }

  f64(what: string): number {
    return this.buf.readDoubleLE(this.need(8, what));
  }

  /** Raw bytes as a latin1 string (one char per byte). */
  latin1(n: number, what: string): string {
    const at = this.need(n, what);
    return this.buf.toString('latin1', at, at + n);
  }
}

/**
 * Output in fixed-size chunks: callers check `full(n)` before writing n bytes; a full
 * chunk is handed to `flushChunk` (the file write, awaited), and the buffer is reused,
 * so memory stays bounded however big the file is.
 */
export class ChunkWriter {
  buf: Buffer;
  pos = 0;
  /** Bytes handed to flush so far. */
  flushed = 0;

  constructor(
    /** Writes the chunk; resolves once it no longer needs the bytes. */
    private readonly flushChunk: (chunk: Buffer) => Promise<void>,
    chunkSize = 1 << 20,
  ) {
    this.buf = Buffer.allocUnsafe(chunkSize);
  }

  /** True when n more bytes do not fit in the current chunk (call `flush` first). */
  full(n: number): boolean {
    return this.buf.length - this.pos < n;
  }

  /**
   * Hands the bytes written so far to `flushChunk` and makes room for `minNext` more. Nothing
   * may be written until it resolves: the chunk is a view of the one buffer, reused once
   * flushChunk is done with it (a new 1 MiB buffer per chunk was ~100 MB of external memory
   * per million peers, each counted towards the next full garbage collection).
   */
  async flush(minNext = 0): Promise<void> {
    if (this.pos > 0) {
      const chunk = this.buf.subarray(0, this.pos);
      this.flushed += this.pos;
      this.pos = 0;
      await this.flushChunk(chunk);
    }
    if (this.buf.length < minNext) this.buf = Buffer.allocUnsafe(minNext);
  }

  get total(): number {
    return this.flushed + this.pos;
  }

  uvarint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  u8(value: number): void {
    this.buf[this.pos++] = value;
  }

  u16(value: number): void {
    this.buf.writeUInt16LE(value, this.pos);
    this.pos += 2;
  }

  u32(value: number): void {
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  /** Any 64-bit integer (signed or unsigned fields: the bits are the same two's complement). */
  i64(value: U64): void {
    if (typeof value === 'number' && Number.isSafeInteger(value)) {
      const hi = Math.floor(value / TWO_32);
      this.buf.writeUInt32LE(value - hi * TWO_32, this.pos);
      this.buf.writeUInt32LE(hi >>> 0, this.pos + 4);
    } else {
      this.buf.writeBigUInt64LE(BigInt.asUintN(64, toBigInt(value)), this.pos);
    }
    this.pos += 8;
  }

  f64(value: number): void {
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** A latin1 string's bytes (one byte per char). */
  latin1(text: string): void {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
    this.pos = pos;
  }
}

/** A non-integral, NaN or infinite count is written as its truncation, clamped to int64. */
function toBigInt(value: U64): bigint {
  if (typeof value === 'bigint') return value;
  if (Number.isNaN(value)) return 0n;
  if (value >= 2 ** 63) return 2n ** 63n - 1n;
  if (value <= -(2 ** 63)) return -(2n ** 63n);
  return BigInt(Math.trunc(value));
}

/** Bytes of a uvarint, for sizing. */
export function uvarintSize(value: number): number {
  let n = 1;
  let v = value;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}
