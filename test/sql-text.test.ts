import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SqlText } from '../src/flush/sql-text.js';

describe('SqlText', () => {
  it('writes every safe integer exactly as String() does', () => {
    const sql = new SqlText();
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        expect(sql.begin('').int(n, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER).finish()).toBe(String(n));
        expect(sql.begin('').id(n).finish()).toBe(String(n));
      }),
      { numRuns: 5000 },
    );
    for (const n of [0, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 31)]) {
      expect(sql.begin('').id(n).finish()).toBe(String(n));
    }
  });

  it('clamps: nat to [0, max] (NaN and negatives 0, fractions down), int to [min, max] (NaN 0, fractions toward 0)', () => {
    const sql = new SqlText();
    const nat = (v: number, max?: number): string => sql.begin('').nat(v, max).finish();
    const int = (v: number, min: number, max: number): string => sql.begin('').int(v, min, max).finish();
    expect([nat(Number.NaN), nat(-5), nat(-0), nat(0), nat(7.9), nat(2 ** 60), nat(70000, 65535)]).toEqual([
      '0',
      '0',
      '0',
      '0',
      '7',
      '9007199254740991',
      '65535',
    ]);
    expect([int(Number.NaN, -10, 10), int(-11, -10, 10), int(11, -10, 10), int(-3.7, -10, 10), int(-0.2, -10, 10)]).toEqual([
      '0',
      '-10',
      '10',
      '-3',
      '0',
    ]);
    expect(sql.begin('').flag(0).flag(1).flag(2).finish()).toBe('011');
  });

  it('grows past its first buffer and starts each statement afresh', () => {
    const sql = new SqlText();
    sql.begin('x');
    for (let i = 0; i < 100_000; i++) sql.char(44).id(i);
    const long = sql.finish();
    expect(long.length).toBeGreaterThan(64 * 1024);
    expect(long.split(',').slice(-2)).toEqual(['99998', '99999']);
    sql.text('left over');
    expect(sql.begin('SELECT ').id(1).finish()).toBe('SELECT 1');
  });
});
