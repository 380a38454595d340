import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressBlocks, ipv4Of, UNIX_SOCKET_PEER } from '../src/protocol/address.js';
import { ipFromString } from '../src/store/peer.js';
import { SiteAuth } from '../src/update/auth.js';

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

describe('AddressBlocks (http.trusted_proxies, site_addresses)', () => {
  it('holds addresses and CIDR blocks of both families, IPv4-mapped socket addresses counted as IPv4', () => {
    const blocks = new AddressBlocks(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1'], 'http.trusted_proxies');
    const inside = [
      '10.0.0.1',
      '10.255.255.255',
      '192.0.2.7',
      '::ffff:10.1.2.3',
      '::ffff:192.0.2.7',
      '2001:db8::1',
      '2001:db8:ffff::9',
      '::1',
    ];
    const outside = ['11.0.0.1', '192.0.2.8', '::ffff:11.0.0.1', '2001:db9::1', '::2', '', 'unix', 'localhost', '10.0.0.1:80'];
    expect(inside.filter((a) => !blocks.has(a))).toEqual([]);
    expect(outside.filter((a) => blocks.has(a))).toEqual([]);
  });

  it('refuses an entry that is not an address or CIDR block, naming it', () => {
    const blocks = (entries: string[]): AddressBlocks => new AddressBlocks(entries, 'http.trusted_proxies');
    expect(() => blocks(['10.0.0.0/8', '10.0.0.300'])).toThrow('http.trusted_proxies: "10.0.0.300" is not an address or CIDR');
    expect(() => blocks(['10.0.0.0/33'])).toThrow('http.trusted_proxies: "10.0.0.0/33": prefix length must be 0..32');
    expect(() => blocks(['::/129'])).toThrow('prefix length must be 0..128');
    expect(() => blocks(['10.0.0.0/ 8'])).toThrow('prefix length');
  });

  it("is what the update API's site_addresses checks the connection against (the password still needed)", () => {
    const auth = new SiteAuth('secret', ['10.0.0.0/8', '2001:db8::/32']);
    expect(auth.check('secret', '::ffff:10.9.9.9')).toBeUndefined();
    expect(auth.check('secret', '2001:db8::5')).toBeUndefined();
    expect(auth.check('secret', '11.0.0.1')).toBe('address');
    expect(auth.check('secret', undefined)).toBe('address');
    expect(auth.check('wrong', '10.9.9.9')).toBe('password');
    // Over the Unix socket the file's permissions stand in for the list.
    expect(auth.check('secret', UNIX_SOCKET_PEER)).toBeUndefined();
    expect(auth.check('wrong', UNIX_SOCKET_PEER)).toBe('password');
    expect(() => new SiteAuth('secret', ['example.org'])).toThrow('site_addresses: "example.org" is not an address or CIDR');
  });
});
