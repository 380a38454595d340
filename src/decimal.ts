/**
 * Decimal digits written straight into bytes: for text that is built on hot
 * paths (answers, SQL) without making a string per number.
 */

/** Digits in the decimal form of a non-negative integer. */
export function decimalLength(n: number): number {
  let digits = 1;
  for (let p = 10; p <= n; p *= 10) digits++;
  return digits;
}

/**
 * Writes a non-negative integer (at most 2^53) at `at`; returns the offset after it.
 * The caller makes sure decimalLength(n) bytes fit.
 */
export function writeDecimal(buf: Uint8Array, at: number, n: number): number {
  const end = at + decimalLength(n);
  let i = end;
  let v = n;
  do {
    const q = Math.floor(v / 10);
    buf[--i] = 48 + (v - q * 10);
    v = q;
  } while (v > 0);
  return end;
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
