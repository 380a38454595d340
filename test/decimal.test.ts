import { describe, expect, it } from 'vitest';
import { decimalLength, writeDecimal, writeInteger } from '../src/decimal.js';

/** What String() gives, written by writeDecimal / writeInteger into a buffer with something before and after. */
function written(n: number, signed = false): { text: string; end: number; length: number } {
  const buf = Buffer.alloc(40, 0x2e); // '.'
  const end = signed ? writeInteger(buf, 3, n) : writeDecimal(buf, 3, n);
  return { text: buf.toString('latin1', 3, end), end, length: decimalLength(Math.abs(n)) };
}

describe('decimal digits written into bytes', () => {
  const edges = [0, 1, 9, 10, 99, 100, 101, 999, 1000, 9999, 10000, 99999, 100000, 999999, 1000000, 9999999, 10000000];
  const wide = [99999999, 100000000, 999999999, 1000000000, 2147483647, 2147483648, 4294967295, 4294967296, 4294967297];
  const large = [9999999999, 10000000000, 1000000000000, 1000000000999, 1000000001000, 123456789012345, 2 ** 53 - 1, 2 ** 53];

  it('matches String() at every length boundary, at 2^31, 2^32 and up to 2^53, nine-digit groups with zeros kept', () => {
    for (const n of [...edges, ...wide, ...large]) {
      const { text, end, length } = written(n);
      expect({ n, text }).toEqual({ n, text: String(n) });
      expect({ n, length }).toEqual({ n, length: String(n).length });
      expect(end).toBe(3 + length);
    }
  });

  it('matches String() for a million random integers of every magnitude', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 1_000_000; i++) {
      const n = Math.min(Math.floor(random() * 10 ** Math.floor(random() * 17)), 2 ** 53);
      const { text, length } = written(n);
      if (text !== String(n) || length !== text.length)
        expect({ n, text, length }).toEqual({ n, text: String(n), length: String(n).length });
    }
  });

  it('writes negative integers with a minus sign', () => {
    for (const n of [-1, -10, -2147483648, -4294967296, -(2 ** 53 - 1)]) expect(written(n, true).text).toBe(String(n));
    expect(written(0, true).text).toBe('0');
  });

  it('writes what is not a non-negative number as 0, in one byte, touching nothing before it', () => {
    for (const n of [-1, -4294967296, Number.NaN]) {
      const buf = Buffer.alloc(12, 0x2e);
      expect(writeDecimal(buf, 4, n)).toBe(5);
      expect(buf.toString('latin1')).toBe('....0.......');
      expect(decimalLength(n)).toBe(1);
    }
  });

  it('leaves the bytes after the number alone', () => {
    const buf = Buffer.alloc(12, 0x2e);
    const end = writeDecimal(buf, 0, 1000000000);
    expect(buf.toString('latin1')).toBe('1000000000..');
    expect(end).toBe(10);
  });
});
