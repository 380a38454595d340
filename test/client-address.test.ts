import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { decodeBencode, type BDict } from '../src/bencode/codec.js';
import { ClientAddressRules, addressOfEntry } from '../src/protocol/address.js';
import { ConfigError, defaultConfig, parseConfig } from '../src/config/config.js';
import type { Config } from '../src/config/config.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';

/** SPEC §4 "Client address": which address a peer is handed out with. */

describe('ClientAddressRules', () => {
  const chihayaMode = (trusted?: string[]) => new ClientAddressRules('', trusted);
  const text = (r: ClientAddressRules, ip: string | undefined, realIp: string | undefined, xff: string | undefined, socket: string) =>
    r.resolve(ip, realIp, xff, socket).text;

  it('reads an entry as its address: plain, address:port, [v6], [v6]:port, IPv4-mapped', () => {
    expect(addressOfEntry(' 8.8.8.8 ')).toBe('8.8.8.8');
    expect(addressOfEntry('8.8.8.8:51413')).toBe('8.8.8.8');
    expect(addressOfEntry('2001:db8::1')).toBe('2001:db8::1');
    expect(addressOfEntry('[2001:db8::1]')).toBe('2001:db8::1');
    expect(addressOfEntry('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(addressOfEntry('::ffff:5.6.7.8')).toBe('5.6.7.8');
    expect(addressOfEntry('[::ffff:5.6.7.8]:80')).toBe('5.6.7.8');
    for (const bad of [
      '',
      'unknown',
      '8.8.8.8:',
      '8.8.8.8:x',
      '8.8.8.8:123456',
      '[2001:db8::1',
      '[8.8.8.8]',
      '[2001:db8::1]x',
      '999.1.1.1',
      '_hidden',
    ]) {
      expect(addressOfEntry(bad), bad).toBeUndefined();
    }
  });

  it('with proxy_header empty: X-Real-Ip, then the first public X-Forwarded-For entry, from trusted proxies only', () => {
    const r = chihayaMode();
    expect(text(r, undefined, '203.0.113.9', '8.8.8.8', '127.0.0.1')).toBe('203.0.113.9'); // X-Real-Ip first, whatever it is
    expect(text(r, undefined, '192.168.1.7', undefined, '127.0.0.1')).toBe('192.168.1.7'); // a LAN client behind nginx
    expect(text(r, undefined, '9.9.9.9:1234', undefined, '::ffff:127.0.0.1')).toBe('9.9.9.9');
    expect(text(r, undefined, undefined, '10.0.0.1, 192.168.0.1, 8.8.4.4:6881, 1.1.1.1', '127.0.0.1')).toBe('8.8.4.4');
    expect(text(r, undefined, 'garbage', '8.8.4.4', '127.0.0.1')).toBe('8.8.4.4');
    expect(text(r, undefined, undefined, '10.0.0.1, unknown', '127.0.0.1')).toBe('127.0.0.1');
    expect(text(r, undefined, '::ffff:5.6.7.8', undefined, '::1')).toBe('5.6.7.8');
    // Not from a trusted proxy: the socket's address, whatever the headers say.
    expect(text(r, undefined, '1.2.3.4', '1.2.3.4', '93.184.216.34')).toBe('93.184.216.34');
    // The ip parameter, when public, wins over everything.
    expect(text(r, '93.184.216.34', '1.2.3.4', undefined, '127.0.0.1')).toBe('93.184.216.34');
    expect(text(r, '192.168.1.5', '1.2.3.4', undefined, '127.0.0.1')).toBe('1.2.3.4');
  });

  it('trusts the configured addresses and CIDRs, IPv4 and IPv6, and nothing else', () => {
    const r = chihayaMode(['10.1.0.0/16', '2001:db8::/32', '192.0.2.7']);
    expect(text(r, undefined, '8.8.8.8', undefined, '10.1.200.3')).toBe('8.8.8.8');
    expect(text(r, undefined, '8.8.8.8', undefined, '::ffff:10.1.0.1')).toBe('8.8.8.8');
    expect(text(r, undefined, '8.8.8.8', undefined, '2001:db8:5::1')).toBe('8.8.8.8');
    expect(text(r, undefined, '8.8.8.8', undefined, '192.0.2.7')).toBe('8.8.8.8');
    expect(text(r, undefined, '8.8.8.8', undefined, '192.0.2.8')).toBe('192.0.2.8');
    expect(text(r, undefined, '8.8.8.8', undefined, '10.2.0.1')).toBe('10.2.0.1');
    expect(text(r, undefined, '8.8.8.8', undefined, '127.0.0.1')).toBe('127.0.0.1'); // loopback only when listed
  });

  it('with proxy_header set: that header from any connection, as before (first entry, any valid address)', () => {
    const r = new ClientAddressRules('X-Client-Addr', []);
    expect(r.primaryHeader).toBe('x-client-addr');
    expect(r.listHeader).toBe('');
    expect(text(r, undefined, '10.0.0.5, 8.8.8.8', undefined, '93.184.216.34')).toBe('10.0.0.5');
    expect(text(r, undefined, undefined, undefined, '93.184.216.34')).toBe('93.184.216.34');
  });

  it('tells its listener once that a header was ignored', () => {
    const heard: string[][] = [];
    const r = new ClientAddressRules('', ['127.0.0.1'], (header, from) => heard.push([header, from]));
    r.resolve(undefined, '1.2.3.4', undefined, '8.8.8.8');
    r.resolve(undefined, undefined, '1.2.3.4', '9.9.9.9');
    r.resolve(undefined, '1.2.3.4', undefined, '127.0.0.1');
    expect(heard).toEqual([['X-Real-Ip', '8.8.8.8']]);
  });

  it('config: http.trusted_proxies defaults to loopback; a bad entry stops start-up naming the key', () => {
    expect(defaultConfig().http.trusted_proxies).toEqual(['127.0.0.0/8', '::1']);
    expect(parseConfig({ http: { trusted_proxies: ['10.0.0.0/8', 'fd00::/8', '192.0.2.1'] } }, {}).http.trusted_proxies).toHaveLength(3);
    for (const bad of ['10.0.0.0/33', 'nginx', '10.0.0.0/', '::1/129', '']) {
      expect(() => parseConfig({ http: { trusted_proxies: [bad] } }, {}), bad).toThrow(ConfigError);
      expect(() => parseConfig({ http: { trusted_proxies: [bad] } }, {}), bad).toThrow(/http\.trusted_proxies/);
    }
  });
});

/**
 * Over loopback: a leecher announces with the given headers (on the socket path, or through
 * fastify with an escaped passkey), and a seeder of another user is handed it with compact=0.
 */
describe('client address over HTTP, chihaya config (no proxy_header)', () => {
  const hash = infoHashBytes(torrents.sameGroupOtherType);
  let serial = 0;

  async function addressGiven(
    t: RunningTracker,
    headers: Record<string, string>,
    path: 'socket' | 'fastify',
    ip?: string,
  ): Promise<string | undefined> {
    const peerId = peerIdOf('-TR3000-', 7000 + ++serial);
    const passkey =
      path === 'socket' ? users.normal.passkey : `%${users.normal.passkey.charCodeAt(0).toString(16)}${users.normal.passkey.slice(1)}`;
    const leech = await t.get(
      `/${passkey}/announce${announceQuery({ infoHash: hash, left: 100, peerId, numwant: 0, ...(ip ? { ip } : {}) })}`,
      headers,
    );
    expect(leech.body.toString('latin1')).toMatch(/^d8:complete/);
    const seed = await t.get(
      `/${users.other.passkey}/announce${announceQuery({ infoHash: hash, left: 0, peerId: peerIdOf('-TR3000-', 1), numwant: 50, compact: '0' })}`,
    );
    const key = (d: BDict, name: string) => d.entries.find(([k]) => Buffer.from(k).toString('latin1') === name)?.[1];
    const str = (v: unknown) => Buffer.from(v as Uint8Array).toString('latin1');
    const peers = key(decodeBencode(seed.body) as BDict, 'peers') as BDict[];
    const peer = peers.find((p) => str(key(p, 'peer id')) === peerId);
    return peer === undefined ? undefined : str(key(peer, 'ip'));
  }

  describe('trusted (loopback, the default)', () => {
    let t: RunningTracker;
    beforeAll(async () => {
      t = await startTracker();
    });
    afterAll(() => t.close());

    for (const path of ['socket', 'fastify'] as const) {
      it(`takes X-Real-Ip from a local nginx (${path} path)`, async () => {
        expect(await addressGiven(t, { 'X-Real-IP': '93.184.216.34' }, path)).toBe('93.184.216.34');
        expect(await addressGiven(t, { 'x-real-ip': '8.8.4.4:51413' }, path)).toBe('8.8.4.4');
        expect(await addressGiven(t, { 'X-Real-Ip': '::ffff:5.6.7.8' }, path)).toBe('5.6.7.8');
      });

      it(`takes the first public X-Forwarded-For entry (${path} path)`, async () => {
        expect(await addressGiven(t, { 'X-Forwarded-For': '10.0.0.1, 192.168.1.1, 8.8.8.8:6881, 1.1.1.1' }, path)).toBe('8.8.8.8');
        expect(await addressGiven(t, { 'X-Forwarded-For': '10.0.0.1' }, path)).toBe('127.0.0.1');
        expect(await addressGiven(t, { 'X-Real-Ip': 'bogus', 'X-Forwarded-For': '9.9.9.9' }, path)).toBe('9.9.9.9');
      });

      it(`lets a public ip parameter win over the headers (${path} path)`, async () => {
        expect(await addressGiven(t, { 'X-Real-Ip': '8.8.4.4' }, path, '93.184.216.34')).toBe('93.184.216.34');
      });
    }
  });

  describe('untrusted (http.trusted_proxies without loopback)', () => {
    let t: RunningTracker;
    const lines: string[] = [];
    beforeAll(async () => {
      t = await startTracker({
        configure: (c: Config) => (c.http.trusted_proxies = ['10.9.0.0/16']),
        tracker: { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) },
      });
    });
    afterAll(() => t.close());

    it('ignores the headers, gives the socket address, and says so in the log once', async () => {
      expect(await addressGiven(t, { 'X-Real-IP': '93.184.216.34' }, 'socket')).toBe('127.0.0.1');
      expect(await addressGiven(t, { 'X-Forwarded-For': '93.184.216.34' }, 'fastify')).toBe('127.0.0.1');
      expect(await addressGiven(t, { 'X-Real-IP': '8.8.8.8' }, 'socket')).toBe('127.0.0.1');
      const warnings = lines.filter((l) => l.includes('proxy header ignored'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ header: 'X-Real-Ip', from: '127.0.0.1' });
    });
  });
});
