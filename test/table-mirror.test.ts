import { describe, expect, it } from 'vitest';
import { prng } from '../bench/loadgen.js'; // seeded, so a failure can be replayed
import { RecordReader, RecordWriter } from '../src/database/records.js';
import { usersTable, type UserRow } from '../src/database/reload-tables.js';
import { TableMirror } from '../src/database/table-mirror.js';

/** A users_main row as mysql2 gives it (rowsAsArray): ID, torrent_pass, Up, Down, DisableDownload, TrackerHide. */
type DbRow = [number, string, number, number, number, number];

interface Sent {
  changed: UserRow[];
  removed: UserRow[];
}

function decodeAll(buf: Buffer, count: number): UserRow[] {
  const reader = new RecordReader(buf);
  const rows: UserRow[] = [];
  for (let i = 0; i < count; i++) {
    const row = {} as UserRow;
    usersTable.decode(reader, row);
    rows.push(row);
  }
  expect(reader.done).toBe(true);
  return rows;
}

/** One pass of the mirror over `rows` (ID order), as the reload thread runs it. */
function pass(mirror: TableMirror, rows: DbRow[]): Sent {
  const p = mirror.begin();
  const out = new RecordWriter(64);
  const record = new RecordWriter(64);
  for (const row of rows) {
    record.truncate(0);
    const id = usersTable.encode(row, record)!;
    if (p.add(id, record.buffer, 0, record.length)) out.copyRecord(record.buffer, 0, record.length);
  }
  p.finish();
  return {
    changed: decodeAll(Buffer.from(out.take()), out.records),
    removed: decodeAll(Buffer.from(p.removed.take()), p.removed.records),
  };
}

/** What the main thread does with a pass: changed rows set (a new ID under a key replaces), gone keys not set this pass removed. */
function applyTo(memory: Map<string, UserRow>, sent: Sent): void {
  const setNow = new Set<string>();
  for (const row of sent.changed) {
    memory.set(row.passkey, row);
    setNow.add(row.passkey);
  }
  for (const row of sent.removed) if (!setNow.has(row.passkey)) memory.delete(row.passkey);
}

const asUser = (r: DbRow): UserRow => ({
  id: r[0],
  passkey: r[1],
  upMultiplier: r[2],
  downMultiplier: r[3],
  disableDownload: r[4] !== 0,
  trackerHide: r[5] !== 0,
});

const row = (id: number, passkey = `pk${id}`.padEnd(32, 'x'), up = 1): DbRow => [id, passkey, up, 1, 0, 0];

describe('TableMirror (the reload thread sends what changed since its last pass)', () => {
  it('sends every row on the first pass, nothing on a pass over the same rows', () => {
    const mirror = new TableMirror(usersTable.numbers);
    const rows = [row(1), row(2), row(5)];
    expect(mirror.empty).toBe(true);
    const first = pass(mirror, rows);
    expect(first.changed).toEqual(rows.map(asUser));
    expect(first.removed).toEqual([]);
    expect(mirror.empty).toBe(false);
    expect(pass(mirror, rows)).toEqual({ changed: [], removed: [] });
  });

  it('sends a changed row, a new one, the old key of a row whose key changed, and rows gone', () => {
    const mirror = new TableMirror(usersTable.numbers);
    pass(mirror, [row(1), row(2), row(3), row(4)]);
    const second = pass(mirror, [row(1), row(2, undefined, 2), row(3, 'another-passkey'), row(7)]);
    expect(second.changed).toEqual([row(2, undefined, 2), row(3, 'another-passkey'), row(7)].map(asUser));
    expect(second.removed).toEqual([row(3), row(4)].map(asUser));
  });

  it('a pass that never finished leaves the mirror empty: the next pass sends every row', () => {
    const mirror = new TableMirror(usersTable.numbers);
    pass(mirror, [row(1), row(2)]);
    const broken = mirror.begin();
    const record = new RecordWriter(64);
    usersTable.encode(row(1, undefined, 3), record);
    expect(broken.add(1, record.buffer, 0, record.length)).toBe(true);
    expect(mirror.empty).toBe(true);
    expect(pass(mirror, [row(1, undefined, 3), row(2)]).changed).toEqual([asUser(row(1, undefined, 3)), asUser(row(2))]);
  });

  it('a pass over many chunks frees the last pass chunk by chunk and still finds every change', () => {
    const mirror = new TableMirror(usersTable.numbers);
    const rows = Array.from({ length: 50_000 }, (_, i) => row(2 * i + 1));
    pass(mirror, rows);
    expect(mirror.size).toBe(50_000);
    // Every 1,000th row changed, every 777th gone, and a new row between two chunks' worth of rows.
    const next = rows.filter((_, i) => i % 777 !== 5).map((r, i) => (i % 1000 === 3 ? row(r[0], undefined, 2) : r));
    next.push(row(200_001));
    const sent = pass(mirror, next);
    expect(sent.changed).toEqual(
      next
        .filter((_, i) => i % 1000 === 3)
        .map(asUser)
        .concat([asUser(row(200_001))]),
    );
    expect(sent.removed).toEqual(rows.filter((_, i) => i % 777 === 5).map(asUser));
    expect(mirror.size).toBe(next.length);
    expect(pass(mirror, next)).toEqual({ changed: [], removed: [] });
  });

  it('holds the same bytes pass after pass over the same rows (no growth)', () => {
    const mirror = new TableMirror(usersTable.numbers);
    const rows = Array.from({ length: 1000 }, (_, i) => row(i + 1));
    pass(mirror, rows);
    const held = mirror.byteLength;
    expect(held).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) pass(mirror, rows);
    expect(mirror.byteLength).toBe(held);
  });

  it('refuses rows out of ID order', () => {
    const mirror = new TableMirror(usersTable.numbers);
    const p = mirror.begin();
    const record = new RecordWriter(64);
    usersTable.encode(row(5), record);
    p.add(5, record.buffer, 0, record.length);
    record.truncate(0);
    usersTable.encode(row(4), record);
    expect(() => p.add(4, record.buffer, 0, record.length)).toThrow(/out of ID order/);
  });

  it('fuzz: after every pass the main thread holds exactly the table, and got only rows that changed', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = prng(seed);
      const pick = (n: number): number => Math.floor(random() * n);
      const table = new Map<number, DbRow>();
      let nextId = 1;
      for (let i = 0; i < pick(40); i++) table.set(nextId, row(nextId++));
      const mirror = new TableMirror(usersTable.numbers);
      const memory = new Map<string, UserRow>();
      let last = new Map<number, string>();
      for (let round = 0; round < 8; round++) {
        // The site changes the table: edits, new rows, deletions, passkeys changed or swapped.
        for (let k = pick(12); k > 0; k--) {
          const ids = [...table.keys()];
          const id = ids[pick(ids.length)];
          switch (pick(6)) {
            case 0:
              table.set(nextId, row(nextId++));
              break;
            case 1:
              if (id !== undefined) table.delete(id);
              break;
            case 2:
              if (id !== undefined) table.set(id, row(id, table.get(id)![1], pick(4)));
              break;
            case 3:
              if (id !== undefined) table.set(id, [id, table.get(id)![1], 1, 1, pick(2), pick(2)]);
              break;
            case 4:
              if (id !== undefined) table.set(id, row(id, `new${seed}-${round}-${k}`.padEnd(32, 'y')));
              break;
            case 5: {
              // Two users swap passkeys (each key now belongs to another ID).
              const other = ids[pick(ids.length)];
              if (id === undefined || other === undefined || other === id) break;
              const a = table.get(id)!;
              const b = table.get(other)!;
              table.set(id, [id, b[1], a[2], a[3], a[4], a[5]]);
              table.set(other, [other, a[1], b[2], b[3], b[4], b[5]]);
              break;
            }
          }
        }
        const rows = [...table.values()].sort((a, b) => a[0] - b[0]);
        const sent = pass(mirror, rows);
        applyTo(memory, sent);
        const expected = new Map(rows.map((r) => [r[1], asUser(r)]));
        expect(memory, `seed ${seed} round ${round}`).toEqual(expected);
        // Only rows whose content changed (or are new) were sent.
        const now = new Map(rows.map((r) => [r[0], JSON.stringify(r)]));
        const changed = rows.filter((r) => last.get(r[0]) !== now.get(r[0])).map(asUser);
        expect(sent.changed, `seed ${seed} round ${round}`).toEqual(changed);
        last = now;
      }
    }
  });
});
