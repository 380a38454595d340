import { expect, it } from 'vitest';
import { collectGarbageNow } from '../src/gc.js';

it('collectGarbageNow runs a full collection (garbage promoted to the old generation is freed)', () => {
  let garbage: object[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `x${i}` }));
  collectGarbageNow(); // once to promote it
  const before = process.memoryUsage().heapUsed;
  expect(garbage.length).toBe(300_000);
  garbage = undefined;
  collectGarbageNow();
  expect(before - process.memoryUsage().heapUsed).toBeGreaterThan(10_000_000);
  expect(garbage).toBeUndefined();
});
