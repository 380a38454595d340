/** A dual-stack client's announces, for test/ipv6*.test.ts: its running totals and every order they may arrive in. */

/**
 * The client's running totals as it announces them: rounds of [epoch, uploaded, downloaded]
 * (a new epoch: the client reset its counters), each sent over both families.
 */
export const ROUNDS: ReadonlyArray<readonly [number, number, number]> = [
  [0, 1_000, 50_000],
  [0, 4_000, 90_000],
  [0, 9_000, 200_000],
  [1, 300, 2_000],
  [1, 2_300, 7_000],
];

/** Every merge of the two families' sequences in which no report from before a reset arrives after one from after it. */
export function interleavings(v4: number[], v6: number[]): Array<Array<[4 | 6, number]>> {
  const out: Array<Array<[4 | 6, number]>> = [];
  const walk = (i: number, j: number, acc: Array<[4 | 6, number]>, epoch: number): void => {
    if (i === v4.length && j === v6.length) return void out.push(acc.slice());
    for (const [family, seq, k] of [
      [4, v4, i],
      [6, v6, j],
    ] as const) {
      if (k === seq.length || ROUNDS[seq[k]!]![0] < epoch) continue;
      acc.push([family, seq[k]!]);
      walk(family === 4 ? i + 1 : i, family === 6 ? j + 1 : j, acc, ROUNDS[seq[k]!]![0]);
      acc.pop();
    }
  };
  walk(0, 0, [], 0);
  return out;
}

/** What the tracker may credit: per epoch, the highest total reported minus the first one to arrive (chihaya's baseline rule). */
export function expectedCredit(order: Array<[4 | 6, number]>): { up: number; down: number } {
  const first = new Map<number, readonly [number, number, number]>();
  const max = new Map<number, [number, number]>();
  for (const [, round] of order) {
    const [epoch, up, down] = ROUNDS[round]!;
    if (!first.has(epoch)) first.set(epoch, ROUNDS[round]!);
    const m = max.get(epoch) ?? [0, 0];
    max.set(epoch, [Math.max(m[0], up), Math.max(m[1], down)]);
  }
  let up = 0;
  let down = 0;
  for (const [epoch, [u, d]] of max) {
    up += u - first.get(epoch)![1];
    down += d - first.get(epoch)![2];
  }
  return { up, down };
}

export const DUAL_STACK_CASES: Array<{ name: string; v4: number[]; v6: number[] }> = [
  { name: 'both families report every round', v4: [0, 1, 2, 3, 4], v6: [0, 1, 2, 3, 4] },
  { name: 'the reset falls between a round’s two announces (IPv6 misses the last round before it)', v4: [0, 1, 2, 3, 4], v6: [0, 1, 3, 4] },
  { name: 'IPv4 misses the first round after the reset', v4: [0, 1, 2, 4], v6: [0, 1, 2, 3, 4] },
  { name: 'IPv6 joins late and misses a round', v4: [0, 1, 2, 3, 4], v6: [1, 4] },
];
