/**
 * Finds the entries of a big map for rows that arrive in ID order (a reload's keyset pages),
 * by walking the map's insertion order alongside them instead of looking each key up.
 *
 * A map filled from the database is in ID order: the first load inserts rows in that order,
 * and later ones (new users and torrents) are appended with higher IDs. A lookup by key in a
 * map of a million entries is a cache miss or two (the hash table, then the stored key): it was
 * most of a reload pass's CPU on the main thread. Walking the entries in order reads memory
 * in order. An entry out of order (re-added under a new key) is only skipped by the walk: its
 * row is looked up the usual way, as is any row the walk does not find where it expects.
 *
 * What find() returns is always what `map.get(key)` returns at that moment: an entry is used
 * only when its key is the row's key, and the entry held between rows is dropped when the map
 * may have changed it (resumed(), after the event loop ran; forget(), after the caller set it).
 */
export class OrderedCursor<V extends { readonly id: number }> {
  private readonly entries: Iterator<[string, V]>;
  /** The next entry of the walk, not yet matched to a row. */
  private held: [string, V] | undefined;
  private ended = false;

  constructor(private readonly map: Map<string, V>) {
    this.entries = map.entries();
  }

  /**
   * The entry for `key` (the row's key, `id` its ID; IDs must not decrease between calls), or
   * undefined when the map has none: `map.get(key)`.
   */
  find(key: string, id: number): V | undefined {
    let entry = this.held;
    for (;;) {
      if (entry === undefined) {
        if (this.ended) break;
        const next = this.entries.next();
        if (next.done === true) {
          this.ended = true;
          break;
        }
        entry = next.value;
      }
      if (entry[1].id >= id) break;
      entry = undefined; // behind the rows: its row was missing, or it is out of order
    }
    if (entry !== undefined && entry[0] === key && entry[1].id === id) {
      this.held = undefined;
      return entry[1];
    }
    this.held = entry;
    return this.map.get(key);
  }

  /** The caller set or deleted `key` in the map: the entry held for it may be stale. */
  forget(key: string): void {
    if (this.held !== undefined && this.held[0] === key) this.held = undefined;
  }

  /** Call after every await: others may have changed the map meanwhile. */
  resumed(): void {
    const held = this.held;
    if (held !== undefined && this.map.get(held[0]) !== held[1]) this.held = undefined;
  }
}
