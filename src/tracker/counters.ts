import type { U64 } from '../protocol/query.js';
import type { Counter } from '../store/swarm.js';

export { saturatedNumber } from '../store/swarm.js';

/**
 * The most bytes one announce credits per counter: 2^53 − 1 (8 PiB). Counters are exact
 * up to 2^64 − 1 (BEP 3), and so is the difference between two of them; a difference above
 * this is no transfer (8 PiB in one announce interval) but a broken or forged counter, and
 * is credited as this much: saturated, never wrapped or rounded, and small enough that the
 * accounting queues (float64 sums) and SQL stay exact below it.
 */
export const MAX_DELTA = Number.MAX_SAFE_INTEGER;

/**
 * announced − last, both exact unsigned 64-bit counters, as bytes to credit: 0 when the
 * counter went backwards (a client restart: chihaya's clamp), saturated at MAX_DELTA.
 */
export function counterDelta(announced: U64, last: Counter): number {
  if (typeof announced === 'number' && typeof last === 'number') return announced > last ? announced - last : 0;
  const delta = BigInt(announced) - BigInt(last);
  if (delta <= 0n) return 0;
  return delta > BigInt(MAX_DELTA) ? MAX_DELTA : Number(delta);
}

/**
 * Credited bytes: raw × the three multipliers (absolute values, chihaya's order and float
 * arithmetic), truncated, saturated at MAX_DELTA (a multiplier > 1 can push it past).
 */
export function credited(raw: number, a: number, b: number, c: number): number {
  const value = Math.trunc(raw * Math.abs(a) * Math.abs(b) * Math.abs(c));
  return value > MAX_DELTA ? MAX_DELTA : value;
}
