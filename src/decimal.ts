/**
 * Decimal digits written straight into bytes: for text that is built on hot
 * paths (answers, SQL) without making a string per number.
 */

/** The digits of 0–99 as pairs of ASCII bytes: two digits per division. */
const PAIRS = (() => {
  const pairs = new Uint8Array(200);
  for (let i = 0; i < 100; i++) {
    pairs[2 * i] = 48 + Math.floor(i / 10);
    pairs[2 * i + 1] = 48 + (i % 10);
  }
  return pairs;
})();

const TWO_32 = 4294967296;

/** Digits in the decimal form of a non-negative integer. */
export function decimalLength(n: number): number {
  if (!(n > 0)) return 1; // 0, and what writeDecimal writes as 0
  if (n < TWO_32) return length32(n);
  let digits = 10;
  for (let p = 1e10; p <= n; p *= 10) digits++;
  return digits;
}

/** Digits of an integer in [0, 2^32): compares, no loop. */
function length32(n: number): number {
  if (n < 100000) return n < 100 ? (n < 10 ? 1 : 2) : n < 1000 ? 3 : n < 10000 ? 4 : 5;
  return n < 10000000 ? (n < 1000000 ? 6 : 7) : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
}

/**
 * Writes a non-negative integer (at most 2^53) at `at`; returns the offset after it.
 * The caller makes sure decimalLength(n) bytes fit. Anything else (negative, NaN) is
 * written as 0: never digits before `at`.
 */
export function writeDecimal(buf: Uint8Array, at: number, n: number): number {
  if (!(n > 0)) {
    buf[at] = 48;
    return at + 1;
  }
  if (n < TWO_32) {
    const end = at + length32(n);
    writeUint32Before(buf, end, n >>> 0);
    return end;
  }
  // Above 2^32 the arithmetic is on doubles: split off the last nine digits once, then uint32s.
  const high = Math.floor(n / 1e9);
  const end = writeDecimal(buf, at, high) + 9;
  writeNineDigitsBefore(buf, end, n - high * 1e9);
  return end;
}

/** The digits of a uint32, ending just before `end`. */
function writeUint32Before(buf: Uint8Array, end: number, value: number): void {
  let i = end;
  let v = value;
  while (v >= 100) {
    const q = (v / 100) >>> 0;
    const pair = (v - q * 100) << 1;
    buf[--i] = PAIRS[pair + 1]!;
    buf[--i] = PAIRS[pair]!;
    v = q;
  }
  if (v >= 10) {
    buf[i - 1] = PAIRS[(v << 1) + 1]!;
    buf[i - 2] = PAIRS[v << 1]!;
  } else {
    buf[i - 1] = 48 + v;
  }
}

/** Exactly nine digits (leading zeros kept) of an integer below 10^9, ending just before `end`. */
function writeNineDigitsBefore(buf: Uint8Array, end: number, value: number): void {
  let i = end;
  let v = value >>> 0;
  for (let k = 0; k < 4; k++) {
    const q = (v / 100) >>> 0;
    const pair = (v - q * 100) << 1;
    buf[--i] = PAIRS[pair + 1]!;
    buf[--i] = PAIRS[pair]!;
    v = q;
  }
  buf[i - 1] = 48 + v;
}

/**
 * Writes an integer of magnitude at most 2^53, with a '-' when negative; returns the
 * offset after it. The caller makes sure decimalLength(|n|) + 1 bytes fit.
 */
export function writeInteger(buf: Uint8Array, at: number, n: number): number {
  if (n < 0) {
    buf[at] = 45; // '-'
    return writeDecimal(buf, at + 1, -n);
  }
  return writeDecimal(buf, at, n);
}
