import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyOrder, RowQueue, type Batch } from '../src/flush/queue.js';
import { ipsTable, torrentsTable, TorrentColumn, type Table } from '../src/flush/tables.js';

/**
 * The columnar merge queue on its own (no database): rows found by key through
 * the open-addressing index across growth, merged, taken, put back; and the
 * key order a flush writes them in. The database tests (flush*.test.ts) hold
 * the SQL to the tables.
 */

/** A test table: four key columns, one additive value column and one "latest". */
const sumTable: Table = {
  ...ipsTable,
  keyWidth: 4,
  valueWidth: 2,
  absorbOlder(nv, n, ov, o) {
    nv[n]! += ov[o]!;
  },
  bytesColumns: [0, 0],
};

type Key = [number, number, number, number];
const keyArb = fc.tuple(fc.nat(5), fc.nat(3), fc.constantFrom(0, 1, 0xffffffff, 0x7f000001), fc.nat(2)) as fc.Arbitrary<Key>;

function rowsOf(q: RowQueue): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (let r = 0; r < q.size; r++) {
    const k = Array.from(q.keys.subarray(r * 4, r * 4 + 4)).join(',');
    expect(out.has(k), `key ${k} twice`).toBe(false);
    out.set(k, [q.values[r * 2]!, q.values[r * 2 + 1]!]);
  }
  return out;
}

describe('RowQueue', () => {
  it('keeps one row per key, merging adds exactly, across growth, take and put back (model check)', () => {
    const op = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('add' as const), key: keyArb, amount: fc.integer({ min: 1, max: 1000 }) }), weight: 20 },
      { arbitrary: fc.record({ kind: fc.constant('fail' as const), from: fc.nat(50) }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('write' as const) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 1, max: 3000 }), (ops, spread) => {
        const q = new RowQueue(sumTable, 1_000_000);
        const added = new Map<string, number>();
        const written = new Map<string, number>();
        const lastStamp = new Map<string, number>();
        let latest = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            // Spread keys over many rows now and then, so the index and columns grow.
            const key: Key = [o.key[0] * spread, o.key[1], o.key[2], o.key[3]];
            const at = q.slot(...key) * 2;
            q.values[at]! += o.amount;
            q.values[at + 1] = ++latest;
            const k = key.join(',');
            added.set(k, (added.get(k) ?? 0) + o.amount);
            lastStamp.set(k, latest);
          } else {
            const batch = q.take();
            const order = keyOrder(batch, 4);
            const from = o.kind === 'write' ? batch.count : Math.min(o.from, batch.count);
            // Rows before `from` count as written; the rest go back and merge with newer rows.
            for (let i = 0; i < from; i++) {
              const r = order[i]!;
              const k = Array.from(batch.keys.subarray(r * 4, r * 4 + 4)).join(',');
              written.set(k, (written.get(k) ?? 0) + batch.values[r * 2]!);
            }
            q.written(from);
            q.putBack(batch, order, from);
            // Its columns come back as the next take()'s: rows created in them must start at zero.
            q.recycle(batch);
          }
        }
        const waiting = new Map<string, number>();
        for (const [k, amount] of added) if (amount !== (written.get(k) ?? 0)) waiting.set(k, amount - (written.get(k) ?? 0));
        const rows = rowsOf(q);
        expect(new Map([...rows].map(([k, [sum]]) => [k, sum]))).toEqual(waiting);
        // The "latest" column: the last add's, whether the row was merged, put back or copied back.
        for (const [k, [, stamp]] of rows) expect(stamp).toBe(lastStamp.get(k));
        expect(q.size).toBe(waiting.size);
        expect(q.pending).toBe(q.size);
      }),
      { numRuns: 300 },
    );
  });

  it('creates rows with zero values, says so once, and tells the flusher on the first row and at capacity', () => {
    const q = new RowQueue(torrentsTable, 3);
    let first = 0;
    let full = 0;
    q.onFirst = () => first++;
    q.onFull = () => full++;
    const a = q.slot(7);
    expect(q.created).toBe(true);
    expect(Array.from(q.values.subarray(a * 4, a * 4 + 4))).toEqual([0, 0, 0, 0]);
    q.values[a * 4 + TorrentColumn.snatches] = 1;
    expect(q.slot(7)).toBe(a);
    expect(q.created).toBe(false);
    q.slot(8);
    expect([first, full]).toEqual([1, 0]);
    q.slot(9);
    expect(full).toBe(1);
    expect(q.summary()).toEqual({ keys: 3, uploaded: 0, downloaded: 0 });
  });

  it('grows far past its first size with every row still found', () => {
    const q = new RowQueue(torrentsTable, 10_000_000);
    for (let id = 0; id < 200_000; id++) {
      const slot = q.slot(id * 7919); // before reading q.values: slot() may grow (replace) the columns
      q.values[slot * 4]! += id;
    }
    for (let id = 0; id < 200_000; id++) {
      const slot = q.slot(id * 7919);
      expect(q.created).toBe(false);
      if (q.values[slot * 4] !== id) throw new Error(`row ${id} holds ${q.values[slot * 4]}`);
    }
    expect(q.size).toBe(200_000);
  });
});

describe('keyOrder', () => {
  const lexicographic = (batch: Batch, width: number): number[] =>
    Array.from({ length: batch.count }, (_, i) => i).sort((a, b) => {
      for (let c = 0; c < width; c++) {
        const d = batch.keys[a * width + c]! - batch.keys[b * width + c]!;
        if (d !== 0) return d;
      }
      return 0;
    });

  it.each([1, 2, 4])('orders rows by their %i key column(s), first column first', (width) => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.constantFrom(0, 1, 2, 2 ** 31 - 1, 0xffffffff), { minLength: width, maxLength: width }), { maxLength: 200 }),
        (rows) => {
          const keys = new Uint32Array(rows.flat());
          const batch: Batch = { keys, values: new Float64Array(0), count: rows.length, rows: rows.length };
          const order = Array.from(keyOrder(batch, width));
          expect(order.map((r) => Array.from(keys.subarray(r * width, r * width + width)))).toEqual(
            lexicographic(batch, width).map((r) => Array.from(keys.subarray(r * width, r * width + width))),
          );
          expect([...order].sort((a, b) => a - b)).toEqual(rows.map((_, i) => i));
        },
      ),
    );
  });
});
