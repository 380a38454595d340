import { decimalLength, writeInteger } from '../decimal.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * SQL text written as bytes into one reused buffer, then read out as one flat
 * string. A statement built by `+=` is a tree of thousands of cons strings and
 * number strings; a young-generation collection landing while one is being
 * built (they are built in a burst of allocation) has to copy every node of it,
 * and under load that made scavenges several times longer. Here the only
 * allocation is the finished string.
 *
 * Numbers are our own (never text from a client); clamping them to the column's
 * range means a row can never make its statement fail (a failing row would
 * otherwise hold its whole chunk back for ever). Text must be ASCII.
 */
export class SqlText {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;

  /** Starts a statement with ASCII text (whatever an unfinished one left is dropped). */
  begin(s: string): this {
    this.at = 0;
    return this.text(s);
  }

  /** Appends ASCII text. */
  text(s: string): this {
    this.ensure(s.length);
    this.at += this.buf.write(s, this.at, 'latin1');
    return this;
  }

  /** Appends one ASCII character by code. */
  char(code: number): this {
    this.ensure(1);
    this.buf[this.at++] = code;
    return this;
  }

  /** A non-negative integer no larger than max (NaN and negatives become 0). */
  nat(value: number, max = MAX_SAFE): this {
    if (!(value > 0)) return this.char(48);
    return this.integer(value >= max ? max : Math.floor(value));
  }

  /** An integer in [min, max] (NaN becomes 0). */
  int(value: number, min: number, max: number): this {
    if (!(value === value)) return this.char(48);
    if (value <= min) return this.integer(min);
    if (value >= max) return this.integer(max);
    return this.integer(Math.trunc(value));
  }

  /** A database ID, taken as it is (clamping one would write to another row). */
  id(value: number): this {
    return this.integer(Math.trunc(value));
  }

  /** A uint32 as 8 hex digits (the words of an X'…' binary literal). */
  hexWord(value: number): this {
    this.ensure(8);
    for (let shift = 28; shift >= 0; shift -= 4) this.buf[this.at++] = HEX[(value >>> shift) & 0xf]!;
    return this;
  }

  /** A 0/1 value. */
  flag(value: number): this {
    return this.char(value === 0 ? 48 : 49);
  }

  /** The statement written since the last finish(), as one flat string; starts the next. */
  finish(): string {
    const sql = this.buf.toString('latin1', 0, this.at);
    this.at = 0;
    return sql;
  }

  /** Decimal digits of an integer of magnitude at most 2^53. */
  private integer(value: number): this {
    this.ensure(decimalLength(Math.abs(value)) + 1);
    this.at = writeInteger(this.buf, this.at, value);
    return this;
  }

  private ensure(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + bytes));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}
