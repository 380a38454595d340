import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { noAccounting } from '../src/accounting/sink.js';
import { Journal, listSegments } from '../src/journal/journal.js';
import { Offset, RECORD_SIZE, SEGMENT_HEADER_SIZE } from '../src/journal/record.js';
import { JournalTail, type TailTrouble } from '../src/journal/tail.js';
import { silentLogger } from '../src/log.js';

/** The accounting thread's feed: records in order across segment files, whole ones only. */
describe('JournalTail', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function journalIn(segmentBytes: number): { dir: string; journal: Journal } {
    const dir = mkdtempSync(join(tmpdir(), 'hayate-tail-'));
    dirs.push(dir);
    const journal = new Journal(noAccounting, { dir, fdatasync: false, segmentBytes, logger: silentLogger() });
    journal.start(1);
    return { dir, journal };
  }

  /** One announce's record: user `userId` credited `userId` bytes up. */
  function announce(journal: Journal, userId: number): void {
    journal.user(userId, userId, 0, userId, 0);
    journal.announced(userId, 7, `-TR3000-${String(userId).padStart(12, '0')}`, 0x7f000001, 6881, 1, 1, 2, userId, 0, 0, 1, 0);
  }

  function collect(tail: JournalTail, troubles: TailTrouble[] = []): [seq: number, userId: number][] {
    const out: [number, number][] = [];
    tail.read(
      (b, at, seq) => out.push([seq, b.readUInt32LE(at + Offset.userId)]),
      (t) => troubles.push(t),
    );
    return out;
  }

  it('reads every record in order as it is written, across segment files', async () => {
    // About five records a segment: 40 records make several files.
    const { dir, journal } = journalIn(SEGMENT_HEADER_SIZE + 5 * RECORD_SIZE);
    const tail = new JournalTail(dir, 1);
    const seen: [number, number][] = [];
    for (let user = 1; user <= 40; user++) {
      announce(journal, user);
      // The journal writes (and moves to a new segment) at the end of the event-loop turn.
      await new Promise((r) => setImmediate(r));
      // Read at uneven points: mid-segment, at a segment's end, after a rotation.
      if (user % 3 === 0) seen.push(...collect(tail));
    }
    seen.push(...collect(tail));
    expect(listSegments(dir).length).toBeGreaterThan(4);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => [i + 1, i + 1]));
    expect(collect(tail)).toEqual([]);
    journal.close();
    tail.close();
  });

  it('starts at the record asked for, in the middle of a segment', () => {
    const { dir, journal } = journalIn(SEGMENT_HEADER_SIZE + 5 * RECORD_SIZE);
    for (let user = 1; user <= 12; user++) announce(journal, user);
    journal.writeNow();
    const tail = new JournalTail(dir, 8);
    expect(collect(tail)).toEqual([8, 9, 10, 11, 12].map((n) => [n, n]));
    journal.close();
    tail.close();
  });

  it('does not deliver a record whose bytes are not all written yet, then does once they are', () => {
    const { dir, journal } = journalIn(1 << 20);
    for (let user = 1; user <= 3; user++) announce(journal, user);
    journal.close();
    const [segment] = listSegments(dir);
    const path = join(dir, segment!.name);
    const first = readFileSync(path).subarray(SEGMENT_HEADER_SIZE, SEGMENT_HEADER_SIZE + RECORD_SIZE);
    const tail = new JournalTail(dir, 1);
    expect(collect(tail).map(([seq]) => seq)).toEqual([1, 2, 3]);
    // A fourth record half written (a write(2) in progress as seen by a reader), then the rest.
    appendFileSync(path, first.subarray(0, 100));
    const troubles: TailTrouble[] = [];
    expect(collect(tail, troubles)).toEqual([]);
    appendFileSync(path, first.subarray(100));
    expect(collect(tail, troubles)).toEqual([[4, 1]]);
    expect(troubles).toEqual([]);
    tail.close();
  });
});
