import { describe, expect, it } from 'vitest';
import { hnrKey, groupKey } from '../src/store/types.js';
import { failure, harness, hash, peerIdOf, text, type Harness } from './helpers/announce.js';

const zero = () => 0;

/** Adds a peer by announcing it (the way peers really arrive). */
function join(h: Harness, userId: number, n: number, opts: { left?: number; port?: number; ip?: string; prefix?: string } = {}) {
  const user = [...h.store.users.values()].find((u) => u.id === userId) ?? h.addUser(userId);
  const result = h.announce(
    {
      peerId: peerIdOf(opts.prefix ?? '-TR3000-', n),
      left: opts.left ?? 0,
      port: opts.port ?? 6881,
      ip: opts.ip ?? `9.9.${n >> 8}.${n & 255}`,
      numwant: 0,
    },
    { passkey: user.passkey },
  );
  expect(result.failed).toBe(false);
}

describe('announce failures, in the order of the table', () => {
  const cases: [
    string,
    Parameters<Harness['announce']>[0],
    string,
    { passkey?: string; socket?: string; configure?: (h: Harness) => void }?,
  ][] = [
    ['unknown passkey', {}, failure('Your passkey is invalid', 3600), { passkey: 'z'.repeat(32) }],
    ['missing info_hash', { infoHash: null }, failure('Malformed request - missing info_hash', 3600)],
    ['info_hash not 20 bytes', { infoHash: Buffer.alloc(19, 1) }, failure('Malformed request - missing info_hash', 3600)],
    [
      'two info_hash',
      { extra: `info_hash=${'%01'.repeat(20)}` },
      failure('Malformed request - can only announce singular info_hash', 3600),
    ],
    ['missing peer_id', { peerId: null }, failure('Malformed request - missing peer_id', 3600)],
    ['peer_id not 20 bytes', { peerId: '-TR3000-short' }, failure('Malformed request - invalid peer_id', 3600)],
    ['missing port', { port: null }, failure('Malformed request - missing port', 3600)],
    ['port out of range', { port: 70000 }, failure('Malformed request - invalid port', 3600)],
    ['port not a number', { port: 'abc' }, failure('Malformed request - invalid port', 3600)],
    ['missing uploaded', { uploaded: null }, failure('Malformed request - missing uploaded', 3600)],
    ['uploaded not a number', { uploaded: 'abc' }, failure('Malformed request - invalid uploaded', 3600)],
    ['negative downloaded', { downloaded: '-5' }, failure('Malformed request - invalid downloaded', 3600)],
    ['missing downloaded', { downloaded: null }, failure('Malformed request - missing downloaded', 3600)],
    ['missing left', { left: null }, failure('Malformed request - missing left', 3600)],
    ['left beyond 2^64 − 1', { left: '18446744073709551616' }, failure('Malformed request - invalid left', 3600)],
    ['address not IPv4', {}, failure('Invalid IPv4 address (ip: ::1)', 3600), { socket: '::1' }],
    ['public IPv6 ip parameter', { ip: '2001:4860::8888' }, failure('Invalid IPv4 address (ip: 2001:4860::8888)', 3600)],
    [
      'client not approved',
      { peerId: '-UT2210-abcdefghijkl' },
      failure('Your client is not approved (peer_id: -UT2210-abcdefghijkl)', 3600),
    ],
    ['unknown torrent', { infoHash: hash(999) }, failure('This torrent does not exist', 300)],
  ];
  for (const [name, params, expected, options] of cases) {
    it(name, () => {
      const h = harness();
      const result = h.announce(params, options);
      expect(text(result.body)).toBe(expected);
      expect(result.failed).toBe(true);
      expect(h.accounting.histories).toHaveLength(0);
    });
  }

  it('strict_port refuses well-known ports, and only then', () => {
    const strict = harness((c) => (c.announce.strict_port = true));
    expect(text(strict.announce({ port: 80 }).body)).toBe(
      failure('Unacceptable request - port must be outside of well-known range (port: 80)', 3600),
    );
    expect(strict.announce({ port: 1024 }).failed).toBe(false);
    expect(harness().announce({ port: 80 }).failed).toBe(false);
  });

  it('a gone torrent (status other than 0 and 1) is refused whatever left says', () => {
    const h = harness();
    h.addTorrent(2, { status: 2 });
    expect(text(h.announce({ infoHash: hash(2), left: 0 }).body)).toBe(failure('This torrent does not exist (status: 2, left: 0)', 900));
  });

  it('a pruned torrent is refused to a leecher', () => {
    const h = harness();
    h.addTorrent(2, { status: 1 });
    expect(text(h.announce({ infoHash: hash(2), left: 100 }).body)).toBe(
      failure('This torrent does not exist (status: 1, left: 100)', 900),
    );
    expect(h.accounting.revived).toEqual([]);
  });

  it('DisableDownload refuses leeching, allows seeding, and a hit-and-run lifts it for that torrent', () => {
    const h = harness();
    h.user.disableDownload = true;
    h.addTorrent(2);
    expect(text(h.announce({ left: 10 }).body)).toBe(failure('Your download privileges are disabled', 3600));
    expect(h.announce({ left: 0 }).failed).toBe(false);
    h.store.hitAndRuns.add(hnrKey(1, 2));
    expect(h.announce({ infoHash: hash(2), left: 10 }).failed).toBe(false);
    expect(h.announce({ infoHash: hash(1), left: 10 }).failed).toBe(true);
  });

  it('a failure quoting the peer_id sends its bytes back unchanged', () => {
    const h = harness();
    const peerId = Buffer.concat([Buffer.from('-XX1000-'), Buffer.from([0xff, 0x00, 0xe9, 0x80, 1, 2, 3, 4, 5, 6, 7, 8])]);
    const body = h.announce({ peerId: peerId.toString('latin1') }).body;
    const prefix = Buffer.from('d14:failure reason59:Your client is not approved (peer_id: ');
    expect(body.subarray(0, prefix.length)).toEqual(prefix);
    expect(body.subarray(prefix.length, prefix.length + 20)).toEqual(peerId);
  });
});

describe('announce answers, byte for byte', () => {
  it('a first leecher on an empty torrent', () => {
    const h = harness(undefined, zero);
    const result = h.announce({ left: 1000 });
    expect(text(result.body)).toBe('d8:completei0e10:downloadedi0e10:incompletei1e8:intervali1800e12:min intervali900e5:peers0:e');
  });

  it('compact peers: 4 address bytes then the port, big-endian', () => {
    const h = harness(undefined, zero);
    join(h, 2, 1, { ip: '1.2.3.4', port: 6881 });
    const body = h.announce({ left: 5 }).body;
    const expected = Buffer.concat([
      Buffer.from('d8:completei1e10:downloadedi0e10:incompletei1e8:intervali1800e12:min intervali900e5:peers6:'),
      Buffer.from([1, 2, 3, 4, 0x1a, 0xe1]),
      Buffer.from('e'),
    ]);
    expect(body).toEqual(expected);
  });

  it('an address of 128.0.0.0 and above (held signed in the swarm) comes out as its four bytes, compact and dict', () => {
    const h = harness(undefined, zero);
    join(h, 2, 1, { ip: '200.100.50.25', port: 51413 });
    const body = h.announce({ left: 5 }).body;
    expect(body.subarray(-7)).toEqual(Buffer.from([200, 100, 50, 25, 0xc8, 0xd5, 0x65]));
    expect(text(h.announce({ left: 5, compact: '0', noPeerId: true }).body)).toContain('d2:ip13:200.100.50.254:porti51413ee');
    // Accounting gets the joining peer's address unsigned.
    expect(h.accounting.ips.find((r) => r.userId === 2)?.ip).toBe(0xc8643219);
  });

  it('dict peers with and without peer id', () => {
    const h = harness(undefined, zero);
    join(h, 2, 7, { ip: '1.2.3.4', port: 6881 });
    const head = 'd8:completei1e10:downloadedi0e10:incompletei1e8:intervali1800e12:min intervali900e5:peersl';
    expect(text(h.announce({ left: 5, compact: '0' }).body)).toBe(
      `${head}d2:ip7:1.2.3.47:peer id20:${peerIdOf('-TR3000-', 7)}4:porti6881eeee`,
    );
    expect(text(h.announce({ left: 5, compact: '0', noPeerId: true }).body)).toBe(`${head}d2:ip7:1.2.3.44:porti6881eeee`);
  });

  it('interval drifts by 0..announce_drift-1', () => {
    const high = harness(undefined, () => 0.9999);
    expect(text(high.announce({}).body)).toContain('8:intervali2099e');
    const none = harness(
      (c) => (c.intervals.announce_drift = 0),
      () => 0.5,
    );
    expect(text(none.announce({}).body)).toContain('8:intervali1800e');
  });

  it('numwant=0 and event=stopped answer without a peers key', () => {
    const h = harness(undefined, zero);
    join(h, 2, 1);
    expect(text(h.announce({ left: 5, numwant: 0 }).body)).not.toContain('5:peers');
    const stopped = text(h.announce({ left: 5, event: 'stopped' }).body);
    expect(stopped).toBe('d8:completei1e10:downloadedi0e10:incompletei0e8:intervali1800e12:min intervali900ee');
  });

  it('parameter names match case-insensitively', () => {
    const h = harness();
    const result = h.announce({
      infoHash: null,
      peerId: null,
      extra: `INFO_HASH=${'%ab'.repeat(16)}%00%00%00%01&Peer_Id=-TR3000-000000000009`,
    });
    expect(result.failed).toBe(false);
    expect(h.torrent.seeders.size).toBe(1);
  });
});

describe('peer bookkeeping', () => {
  it('moves a leecher to the seeders on completed, counting one snatch', () => {
    const h = harness(undefined, zero);
    h.announce({ left: 100 });
    expect(h.torrent.leechers.size).toBe(1);
    const body = text(h.announce({ left: 0, event: 'completed' }, { now: 1_700_000_100 }).body);
    expect(body).toContain('8:completei1e10:downloadedi1e10:incompletei0e');
    expect(h.torrent.seeders.size).toBe(1);
    expect(h.torrent.leechers.size).toBe(0);
    expect(h.accounting.snatches).toEqual([{ userId: 1, torrentId: 1, time: 1_700_000_100 }]);
    expect(h.accounting.torrents.at(-1)).toMatchObject({ torrentId: 1, snatches: 1, seeders: 1, leechers: 0, lastAction: 1_700_000_100 });
    expect(h.accounting.histories.at(-1)).toMatchObject({ snatches: 1, seeding: true, left: 0 });
  });

  // rTorrent 0.9.8 queues `completed` and sends a plain left=0 update (issue 14): a known
  // leecher reaching left = 0 is a snatch, said or not.
  it('a known leecher reporting left=0 without completed becomes a seeder, counting one snatch', () => {
    const h = harness();
    h.announce({ left: 100 });
    h.announce({ left: 0 }, { now: 1_700_000_050 });
    expect(h.torrent.seeders.size).toBe(1);
    expect(h.torrent.leechers.size).toBe(0);
    expect(h.accounting.snatches).toEqual([{ userId: 1, torrentId: 1, time: 1_700_000_050 }]);
    expect(h.torrent.snatched).toBe(1);
    expect(h.accounting.histories.at(-1)).toMatchObject({ snatches: 1, seeding: true, left: 0 });
    expect(h.accounting.torrents.at(-1)).toMatchObject({ snatches: 1, seeders: 1, leechers: 0 });
  });

  it('a known leecher stopping with left=0 is a snatch, and leaves the swarm', () => {
    const h = harness();
    h.announce({ left: 100, downloaded: 0 });
    h.announce({ left: 0, downloaded: 100, event: 'stopped' }, { now: 1_700_000_070 });
    expect(h.torrent.seeders.size + h.torrent.leechers.size).toBe(0);
    expect(h.torrent.snatched).toBe(1);
    expect(h.accounting.snatches).toEqual([{ userId: 1, torrentId: 1, time: 1_700_000_070 }]);
    expect(h.accounting.histories.at(-1)).toMatchObject({ snatches: 1, rawDown: 100, active: false });
    expect(h.accounting.torrents.at(-1)).toMatchObject({ snatches: 1, seeders: 0, leechers: 0 });
  });

  it('one snatch per leecher-to-seeder move: completed after a plain left=0, or completed twice, counts once', () => {
    const h = harness();
    h.announce({ left: 100 });
    h.announce({ left: 0 });
    h.announce({ left: 0, event: 'completed' });
    h.announce({ left: 0, event: 'completed' });
    expect(h.torrent.snatched).toBe(1);
    expect(h.accounting.snatches).toHaveLength(1);
    expect(h.accounting.histories.map((r) => r.snatches)).toEqual([0, 1, 0, 0]);
    // Back to leeching (a re-check found a bad piece) and done again: a second move, a second snatch.
    h.announce({ left: 10 });
    h.announce({ left: 0 });
    expect(h.torrent.snatched).toBe(2);
  });

  it('a peer that starts as a seeder is no snatch; a new peer saying completed with left=0 is one (SPEC §5)', () => {
    const h = harness();
    h.announce({ peerId: '-TR3000-000000000001', left: 0 });
    h.announce({ peerId: '-TR3000-000000000001', left: 0, event: 'started' });
    expect(h.torrent.snatched).toBe(0);
    h.announce({ peerId: '-TR3000-000000000002', left: 0, event: 'completed' });
    expect(h.torrent.snatched).toBe(1);
    expect(h.accounting.snatches).toHaveLength(1);
  });

  // rTorrent's magnet metadata phase announces left=1 under a peer_id of its own and never
  // stops it; a killed client leaves its peer until it times out (issue 14).
  it("a user's leftover leecher never turns their seeding row into a leeching one", () => {
    const h = harness();
    h.announce({ peerId: '-lt0D80-000000000001', left: 1 });
    expect(h.accounting.histories.at(-1)).toMatchObject({ seeding: false, left: 1 });
    h.announce({ peerId: '-lt0D80-000000000002', left: 100 });
    h.announce({ peerId: '-lt0D80-000000000002', left: 0, event: 'completed' });
    expect(h.torrent.snatched).toBe(1);
    // The ghost re-announces: the row stays seeding with nothing remaining; no second snatch.
    h.announce({ peerId: '-lt0D80-000000000001', left: 1 }, { now: 1_700_001_800 });
    expect(h.accounting.histories.at(-1)).toMatchObject({ seeding: true, left: 0, snatches: 0, deltaSeedTime: 0 });
    expect(h.torrent.snatched).toBe(1);
    // Another user's leecher is still a leecher.
    h.addUser(2);
    h.announce({ peerId: '-lt0D80-000000000003', left: 5 }, { passkey: 'user2'.padEnd(32, 'x') });
    expect(h.accounting.histories.at(-1)).toMatchObject({ userId: 2, seeding: false, left: 5 });
    // Once the seeding client stops, the leftover speaks for the row again.
    h.announce({ peerId: '-lt0D80-000000000002', left: 0, event: 'stopped' });
    h.announce({ peerId: '-lt0D80-000000000001', left: 1 });
    expect(h.accounting.histories.at(-1)).toMatchObject({ userId: 1, seeding: false, left: 1 });
  });

  it('a seeder reporting left>0 goes back to the leechers (never in both)', () => {
    const h = harness();
    h.announce({ left: 0 });
    h.announce({ left: 50 });
    expect(h.torrent.seeders.size).toBe(0);
    expect(h.torrent.leechers.size).toBe(1);
  });

  it('counters past 2^31 move with the peer between leechers and seeders, among other peers', () => {
    const h = harness();
    const G = 2 ** 40;
    const me = peerIdOf('-TR3000-', 999);
    // The others are another user's clients: this user's row speaks of this user's peer only.
    h.addUser(2);
    const other = { passkey: 'user2'.padEnd(32, 'x') };
    for (let n = 0; n < 20; n++)
      h.announce({ peerId: peerIdOf('-qB4650-', n), left: n % 2 === 0 ? 0 : 7, uploaded: G + n, downloaded: n }, other);
    h.announce({ peerId: me, left: G, uploaded: G, downloaded: 3 * G });
    h.announce({ peerId: me, left: 0, uploaded: G + 1000, downloaded: 4 * G, event: 'completed' });
    expect(h.accounting.histories.at(-1)).toMatchObject({ rawUp: 1000, rawDown: G, seeding: true });
    // Others leave both swarms (each removal moves the last peer, and its counters, into the hole).
    for (let n = 0; n < 20; n += 3)
      h.announce({ peerId: peerIdOf('-qB4650-', n), left: n % 2 === 0 ? 0 : 7, uploaded: G + n, downloaded: n, event: 'stopped' }, other);
    h.announce({ peerId: me, left: 5, uploaded: G + 1500, downloaded: 4 * G + 7 });
    expect(h.accounting.histories.at(-1)).toMatchObject({ rawUp: 500, rawDown: 7, seeding: false });
    h.announce({ peerId: me, left: 5, uploaded: G + 1600, downloaded: 4 * G + 7, event: 'stopped' });
    expect(h.accounting.histories.at(-1)).toMatchObject({ rawUp: 100, rawDown: 0, active: false });
    // Each remaining other peer is still credited from its own baseline.
    for (let n = 1; n < 20; n += 3) {
      h.announce({ peerId: peerIdOf('-qB4650-', n), left: n % 2 === 0 ? 0 : 7, uploaded: G + n + 10, downloaded: n + 1 }, other);
      expect(h.accounting.histories.at(-1)).toMatchObject({ rawUp: 10, rawDown: 1 });
    }
  });

  it('stopped removes the peer after its stats are taken, and marks it inactive', () => {
    const h = harness();
    h.announce({ left: 100, uploaded: 10 });
    h.announce({ left: 100, uploaded: 30, event: 'stopped' }, { now: 1_700_000_060 });
    expect(h.torrent.leechers.size).toBe(0);
    expect(h.accounting.histories.at(-1)).toMatchObject({ rawUp: 20, active: false, deltaTime: 60 });
    expect(h.accounting.users.at(-1)).toMatchObject({ rawUp: 20, up: 20 });
  });

  it('revives a pruned torrent announced by a seeder, in memory and through the accounting', () => {
    const h = harness();
    const pruned = h.addTorrent(2, { status: 1 });
    expect(h.announce({ infoHash: hash(2), left: 0 }).failed).toBe(false);
    expect(pruned.status).toBe(0);
    expect(h.accounting.revived).toEqual([2]);
    expect(h.announce({ infoHash: hash(2), left: 10, peerId: '-TR3000-000000000077' }).failed).toBe(false);
  });

  it('sets last_action only on seeding announces', () => {
    const h = harness();
    h.announce({ left: 100 }, { now: 1_700_000_000 });
    expect(h.torrent.lastAction).toBe(0);
    h.announce({ left: 0 }, { now: 1_700_000_500 });
    expect(h.torrent.lastAction).toBe(1_700_000_500);
  });
});

describe('accounting of deltas, multipliers and times', () => {
  it('a new peer starts at its announced counters: no credit for them', () => {
    const h = harness();
    h.announce({ uploaded: 5000, downloaded: 7000, left: 10 });
    expect(h.accounting.users).toEqual([]);
    expect(h.accounting.histories[0]).toMatchObject({
      rawUp: 0,
      rawDown: 0,
      deltaTime: 0,
      startTime: 1_700_000_000,
      lastAnnounce: 1_700_000_000,
    });
  });

  it('credits raw deltas times user, group and torrent multipliers (absolute values), truncated', () => {
    const h = harness();
    h.user.upMultiplier = 2;
    h.user.downMultiplier = -0.5;
    h.torrent.upMultiplier = 1.5;
    h.torrent.downMultiplier = 0.5;
    h.store.groupFreeleech.set(groupKey('anime', h.torrent.groupId), { upMultiplier: 1, downMultiplier: 0.3 });
    h.announce({ uploaded: 0, downloaded: 0, left: 100 });
    h.announce({ uploaded: 1001, downloaded: 1001, left: 50 }, { now: 1_700_001_800 });
    expect(h.accounting.users).toEqual([{ userId: 1, rawUp: 1001, rawDown: 1001, up: 3003, down: 75 }]);
    expect(h.accounting.ips.at(-1)).toMatchObject({ rawUp: 1001, rawDown: 1001, port: 51413, ip: 0x08080404, clientId: 1 });
    expect(h.accounting.histories.at(-1)).toMatchObject({ rawUp: 1001, rawDown: 1001, deltaTime: 1800, deltaSeedTime: 0, left: 50 });
  });

  it('global freeleech makes every download count 0, uploads still count', () => {
    const h = harness();
    h.store.globalFreeleech = true;
    h.announce({ left: 100 });
    h.announce({ uploaded: 10, downloaded: 20, left: 80 });
    expect(h.accounting.users).toEqual([{ userId: 1, rawUp: 10, rawDown: 20, up: 10, down: 0 }]);
  });

  it('counters going backwards are clamped to 0', () => {
    const h = harness();
    h.announce({ uploaded: 500, downloaded: 500, left: 100 });
    h.announce({ uploaded: 100, downloaded: 600, left: 100 });
    expect(h.accounting.users).toEqual([{ userId: 1, rawUp: 0, rawDown: 100, up: 0, down: 100 }]);
    h.announce({ uploaded: 150, downloaded: 600, left: 100 });
    expect(h.accounting.users.at(-1)).toEqual({ userId: 1, rawUp: 50, rawDown: 0, up: 50, down: 0 });
  });

  it('an announce with no traffic queues no users row', () => {
    const h = harness();
    h.announce({ left: 100 });
    h.announce({ left: 100 }, { now: 1_700_000_900 });
    expect(h.accounting.users).toEqual([]);
    expect(h.accounting.histories).toHaveLength(2);
  });

  it('time counts only within peer_inactivity; seed time only when seeding', () => {
    const h = harness((c) => (c.intervals.peer_inactivity = 4200));
    h.announce({ left: 0 }, { now: 1000 });
    h.announce({ left: 0 }, { now: 2800 });
    expect(h.accounting.histories.at(-1)).toMatchObject({ deltaTime: 1800, deltaSeedTime: 1800, seeding: true });
    h.announce({ left: 0 }, { now: 2800 + 4201 });
    expect(h.accounting.histories.at(-1)).toMatchObject({ deltaTime: 0, deltaSeedTime: 0 });
  });

  it('TrackerHide stores 127.0.0.1 in transfer_ips while peers get the real address', () => {
    const h = harness(undefined, zero);
    const hidden = h.addUser(2, { trackerHide: true });
    h.announce({ ip: '1.2.3.4', left: 0, peerId: peerIdOf('-TR3000-', 2) }, { passkey: hidden.passkey });
    expect(h.accounting.ips.at(-1)).toMatchObject({ userId: 2, ip: 0x7f000001 });
    const body = h.announce({ left: 10 }).body;
    expect(body.subarray(body.length - 7, body.length - 1)).toEqual(Buffer.from([1, 2, 3, 4, 0xc8, 0xd5]));
  });

  it('records announces with traffic counters only', () => {
    const h = harness();
    h.announce({ left: 10 });
    h.announce({ left: 10, uploaded: 1, event: 'started' });
    expect(h.recorded).toEqual([[1_700_000_000, 1, 1, 0x08080404, 51413, 'started', 1, 0, 10]]);
  });
});

describe('peer choice', () => {
  it('gives a seeder leechers only, and never its own user’s peers or ports below 1024', () => {
    const h = harness();
    for (let i = 0; i < 5; i++) join(h, 10 + i, i, { left: 0 });
    for (let i = 0; i < 5; i++) join(h, 20 + i, 100 + i, { left: 10 });
    join(h, 30, 200, { left: 10, port: 80 });
    join(h, 1, 300, { left: 10 }); // the asker's own other client
    const body = h.announce({ left: 0, numwant: 50 }).body;
    const peers = compactPeers(body);
    expect(peers).toHaveLength(5);
    expect(peers.every((p) => p.ip.startsWith('9.9.0.10'))).toBe(true);
  });

  it('gives a leecher at most one seeder per user first, then leechers', () => {
    const h = harness();
    for (let i = 0; i < 6; i++) join(h, 10, i, { left: 0 }); // six seeding clients of one user
    join(h, 11, 50, { left: 0 });
    for (let i = 0; i < 3; i++) join(h, 20 + i, 100 + i, { left: 10 });
    const peers = compactPeers(h.announce({ left: 10, numwant: 50 }).body);
    expect(peers).toHaveLength(2 + 3);
    const seederIps = peers.slice(0, 2).map((p) => p.ip);
    expect(seederIps.filter((ip) => /^9\.9\.0\.[0-5]$/.test(ip))).toHaveLength(1);
    expect(seederIps).toContain('9.9.0.50');
    expect(peers.slice(2).every((p) => /^9\.9\.0\.10[0-2]$/.test(p.ip))).toBe(true);
  });

  it('numwant defaults to announce.numwant and is capped at max_numwant', () => {
    const h = harness();
    for (let i = 0; i < 80; i++) join(h, 10 + i, i, { left: 10 });
    expect(compactPeers(h.announce({ left: 0 }).body)).toHaveLength(25);
    expect(compactPeers(h.announce({ left: 0, numwant: 1000 }).body)).toHaveLength(50);
    expect(compactPeers(h.announce({ left: 0, numwant: 7 }).body)).toHaveLength(7);
  });

  it('varies between announces: 10 answers from a 200-peer swarm hand out clearly more than 50 distinct peers', () => {
    const h = harness();
    for (let i = 0; i < 200; i++) join(h, 10 + i, i, { left: 10 });
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      for (const p of compactPeers(h.announce({ left: 0, numwant: 50 }).body)) seen.add(`${p.ip}:${p.port}`);
    }
    // Uniform sampling gives ~188 expected; a fixed choice gives exactly 50.
    expect(seen.size).toBeGreaterThan(120);
  });

  it('hands out no duplicates and keeps the swarm intact while sampling', () => {
    const h = harness();
    for (let i = 0; i < 60; i++) join(h, 10 + i, i, { left: 10 });
    for (let round = 0; round < 20; round++) {
      const peers = compactPeers(h.announce({ left: 0, numwant: 50 }).body).map((p) => `${p.ip}:${p.port}`);
      expect(new Set(peers).size).toBe(peers.length);
    }
    const swarm = h.torrent.leechers;
    expect(swarm.size).toBe(60);
    swarm.peers.forEach((peer, i) => expect(peer.slot).toBe(i));
  });
});

function compactPeers(body: Buffer): { ip: string; port: number }[] {
  const s = body.toString('latin1');
  const at = s.indexOf('5:peers');
  const colon = s.indexOf(':', at + 7);
  const len = Number(s.slice(at + 7, colon));
  const bytes = body.subarray(colon + 1, colon + 1 + len);
  const out: { ip: string; port: number }[] = [];
  for (let i = 0; i < bytes.length; i += 6) {
    out.push({ ip: `${bytes[i]}.${bytes[i + 1]}.${bytes[i + 2]}.${bytes[i + 3]}`, port: bytes.readUInt16BE(i + 4) });
  }
  return out;
}
