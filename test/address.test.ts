import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv4Of } from '../src/protocol/address.js';
import { ipFromString } from '../src/store/peer.js';

describe('ipv4Of', () => {
  it('accepts exactly what net.isIP calls IPv4, with the value ipFromString gives', () => {
    const pieces = fc.constantFrom('0', '1', '9', '25', '255', '256', '00', '01', '999', '1000', '.', '..', ' ', 'a', ':', '-');
    const candidates = fc.oneof(
      fc.array(pieces, { maxLength: 9 }).map((p) => p.join('')),
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((q) => q.join('.')),
      fc.string({ maxLength: 16 }),
    );
    fc.assert(
      fc.property(candidates, (text) => {
        const ip = ipv4Of(text);
        expect(ip !== -1, text).toBe(isIP(text) === 4);
        if (ip !== -1) expect(ip).toBe(ipFromString(text));
      }),
      { numRuns: 20_000 },
    );
    expect(['0.0.0.0', '255.255.255.255', '8.8.4.4'].map(ipv4Of)).toEqual([0, 0xffffffff, 0x08080404]);
    expect(['01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.256', ' 1.2.3.4', '1.2.3.4 ', '::ffff:1.2.3.4'].map(ipv4Of)).toEqual([
      -1, -1, -1, -1, -1, -1, -1,
    ]);
  });
});
