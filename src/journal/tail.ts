import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { listSegments } from './journal.js';
import { RECORD_SIZE, recordIntact, SEGMENT_HEADER_SIZE } from './record.js';

/** What JournalTail.read() met that it could not read past (logged by its caller). */
export interface TailTrouble {
  file: string;
  offset: number;
  reason: string;
}

/**
 * Reads the journal's records in sequence order as the journal writes them: the
 * accounting thread's feed (src/flush/accounting-worker.ts). Only whole records
 * whose checksum holds are delivered; a record still being written (its bytes
 * partly visible) is read again on the next call. A segment is left for the next
 * one only once the next exists (the journal writes only the newest) and this one
 * has been read to its end.
 */
export class JournalTail {
  private fd = -1;
  private segmentFirst = 0;
  private segmentName = '';
  private offset = 0;
  private readonly buf = Buffer.allocUnsafe(RECORD_SIZE * 2048);

  /** `next`: the sequence number of the first record wanted. */
  constructor(
    private readonly dir: string,
    public next: number,
  ) {}

  /**
   * Calls `onRecord` for every record written since the last call, in order (`b[at…]`
   * holds it until onRecord returns); returns how many. `onTrouble` hears of a
   * damaged record in a finished segment (skipped to the next segment) or of records
   * missing between segments.
   */
  read(onRecord: (b: Buffer, at: number, seq: number) => void, onTrouble: (t: TailTrouble) => void): number {
    let delivered = 0;
    for (;;) {
      if (this.fd < 0 && !this.open(onTrouble)) return delivered;
      const size = fstatSync(this.fd).size;
      const whole = Math.floor((size - this.offset) / RECORD_SIZE);
      if (whole > 0) {
        const want = Math.min(whole, this.buf.length / RECORD_SIZE) * RECORD_SIZE;
        const got = readSync(this.fd, this.buf, 0, want, this.offset);
        const records = Math.floor(got / RECORD_SIZE);
        let at = 0;
        for (let r = 0; r < records; r++, at += RECORD_SIZE) {
          if (!recordIntact(this.buf, at)) break;
          onRecord(this.buf, at, this.next);
          this.next++;
          this.offset += RECORD_SIZE;
          delivered++;
        }
        if (at === records * RECORD_SIZE && records > 0) continue;
        // A record that fails its checksum: still being written, unless a later segment exists.
        if (this.laterSegment() === undefined) return delivered;
        onTrouble({ file: this.segmentName, offset: this.offset, reason: 'record fails its checksum' });
        this.close();
        continue;
      }
      const later = this.laterSegment();
      if (later === undefined) return delivered;
      // Written before the journal moved on? Read it first.
      if (fstatSync(this.fd).size > size) continue;
      this.close();
    }
  }

  /** Closes the segment file. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private laterSegment(): { first: number; name: string } | undefined {
    return listSegments(this.dir).find((s) => s.first > this.segmentFirst);
  }

  /**
   * Opens the segment holding `next` at first, then the one after the segment just
   * finished. False when there is none yet.
   */
  private open(onTrouble: (t: TailTrouble) => void): boolean {
    const segments = listSegments(this.dir);
    let chosen: { first: number; name: string } | undefined;
    if (this.segmentName === '') {
      for (const s of segments) if (s.first <= this.next) chosen = s;
      chosen ??= segments[0];
    } else {
      chosen = segments.find((s) => s.first > this.segmentFirst);
    }
    if (chosen === undefined) return false;
    if (chosen.first > this.next) {
      onTrouble({ file: chosen.name, offset: SEGMENT_HEADER_SIZE, reason: `records ${this.next}–${chosen.first - 1} are missing` });
      this.next = chosen.first;
    }
    this.fd = openSync(join(this.dir, chosen.name), 'r');
    this.segmentFirst = chosen.first;
    this.segmentName = chosen.name;
    this.offset = SEGMENT_HEADER_SIZE + (this.next - chosen.first) * RECORD_SIZE;
    return true;
  }
}
