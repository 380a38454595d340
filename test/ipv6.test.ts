import { isIP } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBencode, isDict, type BValue } from '../src/bencode/codec.js';
import { ipv6Of, ipv6Param, ipv6Text, isPublicIPv6, mappedIPv4 } from '../src/protocol/ipv6.js';
import { purgeInactivePeers } from '../src/flush/purge.js';
import { expireStaleEndpoint, ipToString } from '../src/store/peer.js';
import { failure, harness, peerIdOf, text, type Harness } from './helpers/announce.js';
import { DUAL_STACK_CASES, expectedCredit, interleavings, ROUNDS } from './helpers/dual-stack.js';

/** The value under `key` in a bencoded dict. */
function field(body: Buffer, key: string): BValue | undefined {
  const dict = decodeBencode(body);
  if (!isDict(dict)) throw new Error('not a dict');
  return dict.entries.find(([k]) => Buffer.from(k).toString('latin1') === key)?.[1];
}

/** `ip:port` of each compact IPv4 peer, and `[ip]:port` of each compact IPv6 peer (BEP 7). */
function compactPeers(body: Buffer): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  const peers = field(body, 'peers');
  if (!(peers instanceof Uint8Array)) throw new Error(`no compact peers in ${text(body)}`);
  for (let i = 0; i + 6 <= peers.length; i += 6) {
    v4.push(`${ipToString(Buffer.from(peers).readUInt32BE(i))}:${Buffer.from(peers).readUInt16BE(i + 4)}`);
  }
  const peers6 = field(body, 'peers6');
  if (peers6 !== undefined) {
    if (!(peers6 instanceof Uint8Array) || peers6.length % 18 !== 0) throw new Error('peers6 is not 18-byte entries');
    const b = Buffer.from(peers6);
    for (let i = 0; i < b.length; i += 18) v6.push(`[${ipv6Text(b.toString('latin1', i, i + 16))}]:${b.readUInt16BE(i + 16)}`);
  }
  return { v4: v4.sort(), v6: v6.sort() };
}

describe('IPv6 addresses as 16 bytes', () => {
  it('parses every form net.isIP accepts and writes RFC 5952 text (what the WHATWG URL parser writes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 3 }), (bytes, zeros) => {
        const b = Buffer.from(bytes);
        b.fill(0, 4, 4 + zeros * 4); // runs of zero words, for '::'
        const addr16 = b.toString('latin1');
        const textForm = ipv6Text(addr16);
        expect(isIP(textForm)).toBe(6);
        expect(textForm).toBe(new URL(`http://[${textForm}]/`).hostname.slice(1, -1));
        expect(ipv6Of(textForm)).toBe(addr16);
        expect(ipv6Of(textForm.toUpperCase())).toBe(addr16);
      }),
    );
  });

  it('reads the embedded-IPv4 forms and refuses what is not an IPv6 address', () => {
    expect(ipv6Of('::ffff:1.2.3.4')).toBe(Buffer.from('00000000000000000000ffff01020304', 'hex').toString('latin1'));
    expect(mappedIPv4(ipv6Of('::ffff:1.2.3.4')!)).toBe(0x01020304);
    expect(mappedIPv4(ipv6Of('2001:db8::1')!)).toBe(-1);
    expect(ipv6Text(ipv6Of('64:ff9b::192.0.2.33')!)).toBe('64:ff9b::c000:221');
    expect(ipv6Text(ipv6Of('1:2:3:4:5:6:1.2.3.4')!)).toBe('1:2:3:4:5:6:102:304');
    for (const bad of ['', '1.2.3.4', '::g', '1::2::3', 'fe80::1%eth0', '[::1]', '1:2:3:4:5:6:7:8:9'])
      expect(ipv6Of(bad), bad).toBeUndefined();
  });

  it('counts only global unicast outside the documentation and special ranges as public', () => {
    const pub = (t: string): boolean => isPublicIPv6(ipv6Of(t)!);
    for (const t of ['2a00:1450:4001:81b::200e', '2001:4860:4860::8888', '2c0f:fb50::1', '3ffe::1', '2002:c000:221::1'])
      expect(pub(t), t).toBe(true);
    for (const t of [
      '::',
      '::1',
      '::ffff:8.8.8.8',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '2001:db8::1',
      '3fff::1',
      '2001:2::1',
      '2001:20::1',
      '100::1',
      '64:ff9b::808:808',
    ]) {
      expect(pub(t), t).toBe(false);
    }
  });

  it('reads BEP 7 ipv6= values: an address or [address]:port', () => {
    expect(ipv6Param('2001:4860::1')).toEqual({ addr16: ipv6Of('2001:4860::1'), port: undefined });
    expect(ipv6Param('[2001:4860::1]:6881')).toEqual({ addr16: ipv6Of('2001:4860::1'), port: 6881 });
    for (const bad of ['[2001:4860::1]:', '[2001:4860::1]:70000', '[2001:4860::1', 'x']) expect(ipv6Param(bad), bad).toBeUndefined();
  });
});

const V6 = '2a00:1450:4001::1';
const V6B = '2a00:1450:4001::2';

describe('IPv6 off (the default): chihaya’s answer', () => {
  it('refuses an announce from an IPv6 address with Invalid IPv4 address, and ignores ipv6=', () => {
    const h = harness();
    expect(text(h.announce({}, { socket: V6 }).body)).toBe(failure(`Invalid IPv4 address (ip: ${V6})`, 3600));
    expect(text(h.announce({}, { socket: '::ffff:8.8.4.4' }).body)).not.toContain('failure');
    h.announce({ peerId: peerIdOf('-qB4650-', 2), extra: `ipv6=${V6B}` }, { socket: '8.8.8.8' });
    const peers = [...h.torrent.leechers.peers, ...h.torrent.seeders.peers];
    expect(peers.every((p) => p.v6 === undefined)).toBe(true);
    expect(h.accounting.ips6).toEqual([]);
  });
});

describe('IPv6 on', () => {
  const on = (): Harness =>
    harness(
      (c) => (c.announce.ipv6 = true),
      () => 0,
    );

  it('hands IPv6 peers out in peers6 (18 bytes each) and IPv4 ones in peers, one endpoint per peer, never the asker’s own', () => {
    const h = on();
    h.addUser(2);
    h.addUser(3);
    // user 2: a dual-stack leecher; user 3: an IPv6-only seeder.
    h.announce({ peerId: peerIdOf('-qB4650-', 2), left: 100, port: 50002 }, { passkey: 'user2'.padEnd(32, 'x'), socket: '8.8.8.2' });
    h.announce({ peerId: peerIdOf('-qB4650-', 2), left: 100, port: 50002 }, { passkey: 'user2'.padEnd(32, 'x'), socket: V6B });
    h.announce(
      { peerId: peerIdOf('-TR4000-', 3), left: 0, port: 50003 },
      { passkey: 'user3'.padEnd(32, 'x'), socket: '2a00:1450:4001::3' },
    );

    // A dual-stack leecher of user 1, announcing over IPv4 then IPv6.
    const overV4 = h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 50, port: 51413 }, { socket: '8.8.8.1' });
    // Seen over IPv4 only so far: IPv4 endpoints only (the IPv6-only seeder is not reachable).
    expect(compactPeers(overV4.body)).toEqual({ v4: ['8.8.8.2:50002'], v6: [] });
    expect(text(overV4.body)).not.toContain('6:peers6');
    // User 3's IPv6-only client gets the IPv4 endpoint of an IPv4-only peer (IPv4 goes to everyone).
    h.addUser(4);
    h.announce({ peerId: peerIdOf('-DE2100-', 4), left: 100, port: 50004 }, { passkey: 'user4'.padEnd(32, 'x'), socket: '8.8.8.4' });
    const v6only = h.announce(
      { peerId: peerIdOf('-TR4000-', 3), left: 0, port: 50003 },
      { passkey: 'user3'.padEnd(32, 'x'), socket: '2a00:1450:4001::3' },
    );
    expect(compactPeers(v6only.body)).toEqual({ v4: ['8.8.8.1:51413', '8.8.8.4:50004'], v6: ['[2a00:1450:4001::2]:50002'] });
    const overV6 = h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 50, port: 51413 }, { socket: V6 });
    // Both families now: the announce's family first, IPv4 only for a peer without IPv6.
    expect(compactPeers(overV6.body)).toEqual({ v4: ['8.8.8.4:50004'], v6: ['[2a00:1450:4001::2]:50002', '[2a00:1450:4001::3]:50003'] });
    const again4 = h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 50, port: 51413 }, { socket: '8.8.8.1' });
    expect(compactPeers(again4.body)).toEqual({ v4: ['8.8.8.2:50002', '8.8.8.4:50004'], v6: ['[2a00:1450:4001::3]:50003'] });
    // numwant counts peers across both lists.
    expect(compactPeers(h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 50, numwant: 1 }, { socket: V6 }).body).v6).toHaveLength(1);
    const one = compactPeers(h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 50, numwant: 1 }, { socket: '8.8.8.1' }).body);
    expect(one.v4.length + one.v6.length).toBe(1);

    // User 2 never gets its own endpoints (either family), only user 1's and user 3's.
    const u2 = compactPeers(
      h.announce({ peerId: peerIdOf('-qB4650-', 2), left: 100, port: 50002 }, { passkey: 'user2'.padEnd(32, 'x'), socket: V6B }).body,
    );
    expect(u2).toEqual({ v4: ['8.8.8.4:50004'], v6: ['[2a00:1450:4001::1]:51413', '[2a00:1450:4001::3]:50003'] });
  });

  it('gives ip strings of either family in the dictionary form', () => {
    const h = on();
    h.addUser(2);
    h.announce({ peerId: peerIdOf('-qB4650-', 2), left: 100, port: 50002 }, { passkey: 'user2'.padEnd(32, 'x'), socket: V6B });
    h.addUser(3);
    h.announce({ peerId: peerIdOf('-qB4650-', 3), left: 100, port: 50003 }, { passkey: 'user3'.padEnd(32, 'x'), socket: '8.8.8.3' });
    h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 5 }, { socket: '8.8.8.1' });
    const body = text(h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 5, compact: '0' }, { socket: V6 }).body);
    expect(body).toContain(`d2:ip17:2a00:1450:4001::27:peer id20:${peerIdOf('-qB4650-', 2)}4:porti50002ee`);
    expect(body).toContain(`d2:ip7:8.8.8.37:peer id20:${peerIdOf('-qB4650-', 3)}4:porti50003ee`);
  });

  it('takes ipv4= / ipv6= for the other family when public, and refuses private, link-local, loopback, ULA and documentation ones', () => {
    const h = on();
    h.announce({ extra: 'ipv6=2a00:1450:4001::9' }, { socket: '8.8.8.1' });
    const peer = h.torrent.seeders.peers[0]!;
    expect(ipv6Text(peer.v6!.addr)).toBe('2a00:1450:4001::9');
    h.announce({ peerId: peerIdOf('-TR4000-', 9), extra: 'ipv4=9.9.9.9:6999' }, { socket: V6 });
    const other = h.torrent.seeders.peers.find((p) => p.key.endsWith(peerIdOf('-TR4000-', 9)))!;
    expect([ipToString(other.ip >>> 0), other.port]).toEqual(['9.9.9.9', 6999]);
    for (const [i, bad] of ['ipv6=fe80::1', 'ipv6=::1', 'ipv6=fd00::1', 'ipv6=2001:db8::1', 'ipv6=[2001:db8::1]:80'].entries()) {
      h.announce({ peerId: peerIdOf('-TR4000-', 100 + i), extra: bad }, { socket: '8.8.8.1' });
      expect(h.torrent.seeders.peers.find((p) => p.key.endsWith(peerIdOf('-TR4000-', 100 + i)))!.v6, bad).toBeUndefined();
    }
    for (const [i, bad] of ['ipv4=10.0.0.1', 'ipv4=127.0.0.1', 'ipv4=192.0.2.1', 'ipv4=169.254.1.1'].entries()) {
      h.announce({ peerId: peerIdOf('-TR4000-', 200 + i), extra: bad }, { socket: V6 });
      expect(h.torrent.seeders.peers.find((p) => p.key.endsWith(peerIdOf('-TR4000-', 200 + i)))!.ip, bad).toBe(0);
    }
    // ip= is held to the same rule: a documentation address is not taken, the socket's is.
    h.announce({ peerId: peerIdOf('-TR4000-', 300), ip: '2001:db8::5' }, { socket: V6B });
    expect(ipv6Text(h.torrent.seeders.peers.find((p) => p.key.endsWith(peerIdOf('-TR4000-', 300)))!.v6!.addr)).toBe('2a00:1450:4001::2');
  });

  it('counts an IPv4-mapped address as IPv4', () => {
    const h = on();
    h.announce({}, { socket: '::ffff:8.8.4.4' });
    const peer = h.torrent.seeders.peers[0]!;
    expect([ipToString(peer.ip >>> 0), peer.v6]).toEqual(['8.8.4.4', undefined]);
    expect(h.accounting.ips.map((r) => ipToString(r.ip))).toEqual(['8.8.4.4']);
  });

  it('writes IPv6 announces to transfer_ips6 (TrackerHide ones to transfer_ips as 127.0.0.1) and records [address]:port', () => {
    const h = on();
    h.announce({ uploaded: 10 }, { socket: V6 });
    h.announce({ uploaded: 30 }, { socket: V6 });
    expect(h.accounting.ips6.map((r) => [ipv6Text(r.addr16), r.rawUp])).toEqual([
      [V6, 0],
      [V6, 20],
    ]);
    expect(h.accounting.ips).toEqual([]);
    expect(h.recorded.map((r) => r[9])).toEqual([ipv6Of(V6), ipv6Of(V6)]);
    h.user.trackerHide = true;
    h.announce({ uploaded: 40 }, { socket: V6 });
    expect(h.accounting.ips.map((r) => [ipToString(r.ip), r.rawUp])).toEqual([['127.0.0.1', 10]]);
    expect(h.ctx.announcesByFamily).toEqual({ ipv4: 0, ipv6: 3 });
  });

  it('stops handing out an endpoint its family has not refreshed for peer_inactivity (dropped by the purge)', () => {
    const h = on();
    h.addUser(2);
    const t0 = 1_700_000_000;
    const u2 = { passkey: 'user2'.padEnd(32, 'x') };
    h.announce({ peerId: peerIdOf('-qB4650-', 2), left: 9, port: 50002 }, { ...u2, socket: '8.8.8.2', now: t0 });
    h.announce({ peerId: peerIdOf('-qB4650-', 2), left: 9, port: 50002 }, { ...u2, socket: V6B, now: t0 });
    h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 9 }, { socket: '8.8.8.1', now: t0 });
    h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 9 }, { socket: V6, now: t0 });
    // User 2's client keeps announcing over IPv6 only: its IPv4 endpoint goes stale.
    const later = t0 + h.config.intervals.peer_inactivity + 60;
    h.announce({ peerId: peerIdOf('-qB4650-', 2), left: 9, port: 50002 }, { ...u2, socket: V6B, now: later });
    h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 9 }, { socket: V6, now: later - 1 });
    expect(purgeInactivePeers(h.store, h.accounting, later, h.config.intervals.peer_inactivity)).toBe(0);
    // User 1's IPv4 announce now gets user 2's IPv6 endpoint, the stale IPv4 one is gone.
    const body = h.announce({ peerId: peerIdOf('-TR4000-', 1), left: 9 }, { socket: '8.8.8.1', now: later });
    expect(compactPeers(body.body)).toEqual({ v4: [], v6: ['[2a00:1450:4001::2]:50002'] });
    const u2peer = h.torrent.leechers.peers.find((p) => p.userId === 2)!;
    expect(u2peer.ip).toBe(0);
    // And one whose IPv6 side went stale is an IPv4 peer again.
    const mine = h.torrent.leechers.peers.find((p) => p.userId === 1)!;
    expireStaleEndpoint(mine, later + 1);
    expect(mine.v6).toBeUndefined();
    expect(ipToString(mine.ip >>> 0)).toBe('8.8.8.1');
  });

  it('counts one snatch when a dual-stack client sends completed over both families', () => {
    const h = on();
    h.announce({ left: 10 }, { socket: '8.8.8.1' });
    h.announce({ left: 10 }, { socket: V6 });
    h.announce({ left: 0, event: 'completed' }, { socket: V6 });
    h.announce({ left: 0, event: 'completed' }, { socket: '8.8.8.1' });
    expect(h.accounting.snatches).toHaveLength(1);
    expect(h.torrent.snatched).toBe(1);
  });
});

describe('a dual-stack client’s two announces credit each byte once', () => {
  for (const { name, v4, v6 } of DUAL_STACK_CASES) {
    it(`in every order: ${name}`, () => {
      const orders = interleavings(v4, v6);
      expect(orders.length).toBeGreaterThan(10);
      for (const order of orders) {
        const h = harness((c) => (c.announce.ipv6 = true));
        let now = 1_700_000_000;
        for (const [family, round] of order) {
          const [, uploaded, downloaded] = ROUNDS[round]!;
          const r = h.announce({ uploaded, downloaded, left: 1000 }, { socket: family === 4 ? '8.8.8.1' : V6, now: (now += 10) });
          expect(r.failed).toBe(false);
        }
        const credited = {
          up: h.accounting.users.reduce((s, u) => s + u.rawUp, 0),
          down: h.accounting.users.reduce((s, u) => s + u.rawDown, 0),
        };
        const where = order.map(([f, r]) => `v${f}:${r}`).join(' ');
        expect(credited, where).toEqual(expectedCredit(order));
        // transfer_history and the address history say the same.
        expect(
          h.accounting.histories.reduce((s, x) => s + x.rawUp, 0),
          where,
        ).toBe(credited.up);
        const ipBytes = [...h.accounting.ips, ...h.accounting.ips6].reduce((s, x) => s + x.rawDown, 0);
        expect(ipBytes, where).toBe(credited.down);
        // Never more than the client reported: per epoch, its highest total minus its lowest.
        expect(credited.up).toBeLessThanOrEqual(9_000 - 1_000 + 2_300 - 300);
      }
    });
  }

  it('gives a single-stack peer exactly chihaya’s deltas (a reset clamps to 0)', () => {
    for (const socket of ['8.8.8.1', V6]) {
      const h = harness((c) => (c.announce.ipv6 = true));
      for (const [, uploaded] of ROUNDS) h.announce({ uploaded, left: 5 }, { socket });
      expect(h.accounting.users.map((u) => u.rawUp)).toEqual([3_000, 5_000, 2_000]);
    }
  });
});

describe('peers6-cache.bin', () => {
  it('reads back what it wrote, and refuses a truncated, padded or unknown-version file naming the file', async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { IPV6_ENDPOINTS_FILE, readIpv6Endpoints, writeIpv6Endpoints } = await import('../src/cache/ipv6-endpoints.js');
    const dir = mkdtempSync(join(tmpdir(), 'hayate-peers6-'));
    try {
      expect(await readIpv6Endpoints(dir)).toEqual([]); // missing: no endpoints, no error
      const records = [1, 2, 3].map((n) => ({
        infoHash: Buffer.alloc(20, n).toString('latin1'),
        key: Buffer.alloc(24, n + 10).toString('latin1'),
        addr: ipv6Of(`2a00:1450::${n}`)!,
        port: 50000 + n,
        seen6: 1_700_000_000 + n,
        seen4: n === 2 ? 0 : 1_700_000_100,
      }));
      await writeIpv6Endpoints(dir, records);
      expect(await readIpv6Endpoints(dir)).toEqual(records);
      const file = join(dir, IPV6_ENDPOINTS_FILE);
      const good = readFileSync(file);
      for (let cut = 0; cut < good.length; cut++) {
        writeFileSync(file, good.subarray(0, cut));
        await expect(readIpv6Endpoints(dir), `cut at ${cut}`).rejects.toThrow(/peers6-cache\.bin/);
      }
      writeFileSync(file, Buffer.concat([good, Buffer.from([0])]));
      await expect(readIpv6Endpoints(dir)).rejects.toThrow(/peers6-cache\.bin.*do not match/);
      const other = Buffer.from(good);
      other[0] = 9;
      writeFileSync(file, other);
      await expect(readIpv6Endpoints(dir)).rejects.toThrow(/unknown version 9/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
