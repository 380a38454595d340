import { describe, expect, it } from 'vitest';
import { prng } from '../bench/loadgen.js'; // seeded, so a failure can be replayed
import { OrderedCursor } from '../src/database/ordered-cursor.js';

interface Entry {
  readonly id: number;
  readonly key: string;
}

const entry = (id: number, key = `k${id}`): Entry => ({ id, key });

function mapOf(entries: Entry[]): Map<string, Entry> {
  return new Map(entries.map((e) => [e.key, e]));
}

describe('OrderedCursor (a reload pass walking its map alongside the rows)', () => {
  it('finds every entry of a map in ID order, the same object map.get gives', () => {
    const map = mapOf([1, 2, 3, 5, 8].map((id) => entry(id)));
    const cursor = new OrderedCursor(map);
    for (const id of [1, 2, 3, 4, 5, 6, 7, 8, 9]) expect(cursor.find(`k${id}`, id)).toBe(map.get(`k${id}`));
  });

  it('finds an entry out of order (re-added at the end), and one whose row came with another key', () => {
    const map = mapOf([entry(1), entry(3), entry(4), entry(2, 'new-key-of-2'), entry(5)]);
    const cursor = new OrderedCursor(map);
    expect(cursor.find('k1', 1)).toBe(map.get('k1'));
    expect(cursor.find('new-key-of-2', 2)).toBe(map.get('new-key-of-2'));
    expect(cursor.find('k3', 3)).toBe(map.get('k3'));
    // The row of ID 4 now has another key: not the entry of ID 4 under its old key.
    expect(cursor.find('k4-changed', 4)).toBeUndefined();
    expect(cursor.find('k5', 5)).toBe(map.get('k5'));
  });

  it('drops the entry it holds when the map changed it while the pass waited', () => {
    const map = mapOf([1, 2, 3].map((id) => entry(id)));
    const cursor = new OrderedCursor(map);
    expect(cursor.find('k1', 1)).toBe(map.get('k1'));
    expect(cursor.find('absent', 1.5)).toBeUndefined(); // now holds k2
    const replaced = entry(2);
    map.set('k2', replaced); // a push replaces it during a yield
    cursor.resumed();
    expect(cursor.find('k2', 2)).toBe(replaced);
    expect(cursor.find('absent', 2.5)).toBeUndefined(); // holds k3
    map.delete('k3');
    cursor.resumed();
    expect(cursor.find('k3', 3)).toBeUndefined();
  });

  it('drops the entry it holds when the caller set that key', () => {
    const map = mapOf([1, 2].map((id) => entry(id)));
    const cursor = new OrderedCursor(map);
    expect(cursor.find('absent', 0)).toBeUndefined(); // holds k1
    const replaced = entry(1);
    map.set('k1', replaced);
    cursor.forget('k1');
    expect(cursor.find('k1', 1)).toBe(replaced);
  });

  it('always agrees with map.get while rows, pushes and its own sets interleave at random', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = prng(seed);
      const n = 1 + Math.floor(random() * 60);
      // The map as an earlier pass left it: mostly in ID order, some keys re-added at the end.
      const initial: Entry[] = [];
      for (let id = 1; id <= n; id++) if (random() < 0.8) initial.push(entry(id));
      const map = mapOf(initial);
      for (let i = 0; i < 5; i++) {
        const id = 1 + Math.floor(random() * n);
        const moved = entry(id, `k${id}`);
        map.delete(moved.key);
        map.set(moved.key, moved);
      }
      const cursor = new OrderedCursor(map);
      // The rows, in ID order; now and then a row's key differs from the map's, or is the
      // previous row's (the key moved to another ID).
      for (let id = 1; id <= n + 3; id++) {
        if (random() < 0.15) continue; // no row (disabled, deleted)
        const r = random();
        const key = r < 0.1 ? `other${id}` : r < 0.2 ? `k${id - 1}` : `k${id}`;
        const expected = map.get(key);
        const found = cursor.find(key, id);
        expect(found, `seed ${seed}, row ${id} (${key})`).toBe(expected);
        if (found === undefined || found.id !== id) {
          map.set(key, entry(id, key)); // what the reload does with a new row
          cursor.forget(key);
        }
        if (random() < 0.3) {
          // The event loop ran: pushes added, replaced or removed entries anywhere.
          for (let p = Math.floor(random() * 4); p > 0; p--) {
            const target = 1 + Math.floor(random() * (n + 3));
            const r = random();
            if (r < 0.4) map.delete(`k${target}`);
            else if (r < 0.7) map.set(`k${target}`, entry(target));
            else map.set(`k${target}`, entry(target + 1, `k${target}`)); // the key now another ID's
          }
          cursor.resumed();
        }
      }
    }
  });
});
