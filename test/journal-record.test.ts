import { describe, expect, it } from 'vitest';
import { KIND_ANNOUNCE, Offset, RECORD_SIZE, crc32, recordIntact, sealRecord } from '../src/journal/record.js';

/** CRC-32 one bit at a time, straight from the polynomial: the reference the table-driven one must equal. */
function bitwiseCrc32(buf: Uint8Array, from: number, to: number): number {
  let c = 0xffffffff;
  for (let i = from; i < to; i++) {
    c ^= buf[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('journal record CRC-32', () => {
  it('gives the standard check value', () => {
    expect(crc32(Buffer.from('123456789', 'latin1'), 0, 9)).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0), 0, 0)).toBe(0);
  });

  it('equals the bit-at-a-time CRC for every offset and length mod 8', () => {
    const buf = Buffer.alloc(600);
    let x = 12345;
    for (let i = 0; i < buf.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      buf[i] = x >>> 24;
    }
    for (let from = 0; from < 17; from++) {
      for (let length = 0; length < 200; length++) {
        expect(crc32(buf, from, from + length)).toBe(bitwiseCrc32(buf, from, from + length));
      }
    }
    expect(crc32(buf, 3, 600)).toBe(bitwiseCrc32(buf, 3, 600));
  });

  it('seals a record so that any flipped bit is seen', () => {
    const buf = Buffer.alloc(RECORD_SIZE * 3);
    const at = RECORD_SIZE;
    buf[at + Offset.kind] = KIND_ANNOUNCE;
    for (let i = at + Offset.kind + 1; i < at + RECORD_SIZE; i++) buf[i] = (i * 31) & 0xff;
    sealRecord(buf, at);
    expect(recordIntact(buf, at)).toBe(true);
    for (let i = at; i < at + RECORD_SIZE; i++) {
      for (const bit of [0x01, 0x80]) {
        buf[i]! ^= bit;
        expect(recordIntact(buf, at)).toBe(false);
        buf[i]! ^= bit;
      }
    }
    expect(recordIntact(buf, at)).toBe(true);
  });
});
