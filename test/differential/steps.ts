/**
 * The request sequence sent to both trackers, in order (later steps depend on the swarms
 * earlier ones made). Each step is one raw HTTP request. A step with `documented` is a
 * known, documented difference (README "Differences from chihaya"): the check asserts
 * each side's own behaviour instead of equality.
 */
import { torrents, users } from '../../fixtures/site.js';
import type { Normalised } from './answers.js';

export interface Step {
  label: string;
  target: string;
  headers?: string[];
  /** Asserts chihaya's and hayate's answers for a documented difference (throws when either is not as documented). */
  documented?: (chihaya: Normalised, hayate: Normalised) => void;
  /**
   * Before this step, wait until both databases answer this query with a row: both
   * trackers have flushed what came before (chihaya writes a transfer_history batch in
   * one statement, and the step after a barrier must not share a batch with earlier ones).
   */
  barrier?: string;
  /** The answer must hold exactly one of these peers (`ip:port`), any one: a random pick is allowed. */
  onePeerOf?: string[];
}

/** A torrent the suite adds to both databases for the path-form steps (ID 8). */
export const EXTRA_TORRENT = { id: 8, groupId: 8, infoHashHex: '8888888888888888888888888888888888888801' };
/** A torrent the suite adds for the 64-bit `left` steps (ID 9): chihaya loses a flush batch over one of them. */
export const U64_TORRENT = { id: 9, groupId: 9, infoHashHex: '9999999999999999999999999999999999999901' };

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/** Documented: chihaya answers an unparsable number with HTTP 500 and an empty body; hayate with a bencoded failure. */
const badNumber = (reason: string) => (c: Normalised, h: Normalised) => {
  must(c.status === 500 && c.raw === '', 'chihaya: HTTP 500, empty body');
  must(h.status === 200 && h.failure === reason && h.failureInterval === 3600, `hayate: "${reason}"`);
};

/** Documented: a numwant that is not a 16-bit number is HTTP 500 in chihaya; hayate uses the default and goes on (here: to an unknown torrent). */
const badNumwant = (c: Normalised, h: Normalised) => {
  must(c.status === 500 && c.raw === '', 'chihaya: HTTP 500');
  must(
    h.failure === 'This torrent does not exist' && h.failureInterval === 300,
    'hayate: numwant falls back to the default, the request goes on',
  );
};

/** Documented: with compact=0 hayate sends each peer's `peer id` (BEP 3) unless no_peer_id=1; chihaya only when no_peer_id=0 is sent. */
const peerIdsInDict = (c: Normalised, h: Normalised) => {
  must(c.peersForm === 'dict' && h.peersForm === 'dict', 'both: a list of dicts');
  must(
    (c.peers ?? []).every((p) => p.peerId === undefined),
    'chihaya: no peer id',
  );
  must(
    (h.peers ?? []).length > 0 && (h.peers ?? []).every((p) => p.peerId?.length === 40 || p.peerId === 'any'),
    'hayate: every peer with its peer id',
  );
  const strip = (n: Normalised) => JSON.stringify({ ...n, peers: n.peers?.map((p) => ({ ip: p.ip, port: p.port })) });
  must(strip(c) === strip(h), 'otherwise the same answer');
};

const pct = (bytes: Buffer) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
const H = (t: { infoHashHex: string }) => Buffer.from(t.infoHashHex, 'hex');
const T1 = H(torrents.live);
const T2 = H(torrents.liveMusic);
const T3 = H(torrents.pruned);
const T4 = H(torrents.removed);
const T5 = H(torrents.multiplied);
const T6 = H(torrents.groupFreeleech);
const T7 = H(torrents.sameGroupOtherType);
const UNKNOWN = Buffer.alloc(20, 0x5a);
const T8 = H(EXTRA_TORRENT);
const T9 = H(U64_TORRENT);

const pid = (n: number, prefix = '-TR3000-') => prefix + String(n).padStart(20 - prefix.length, '0');

interface AnnounceArgs {
  passkey?: string;
  hash?: Buffer | null;
  peer?: string | null;
  port?: number | string | null;
  up?: number | string | null;
  down?: number | string | null;
  left?: number | string | null;
  event?: string;
  extra?: string;
  /** The path before the query, given the passkey. */
  path?: (passkey: string) => string;
}

export function announce(a: AnnounceArgs): string {
  const passkey = a.passkey ?? users.normal.passkey;
  const q: string[] = [];
  if (a.hash !== null) q.push(`info_hash=${pct(a.hash ?? T1)}`);
  if (a.peer !== null) q.push(`peer_id=${pct(Buffer.from(a.peer ?? pid(1), 'latin1'))}`);
  if (a.port !== null) q.push(`port=${a.port ?? 51000}`);
  if (a.up !== null) q.push(`uploaded=${a.up ?? 0}`);
  if (a.down !== null) q.push(`downloaded=${a.down ?? 0}`);
  if (a.left !== null) q.push(`left=${a.left ?? 0}`);
  if (a.event !== undefined) q.push(`event=${a.event}`);
  if (a.extra !== undefined) q.push(a.extra);
  return `${a.path ? a.path(passkey) : `/${passkey}/announce`}?${q.join('&')}`;
}

export function scrape(hashes: Buffer[], passkey: string = users.normal.passkey): string {
  return `/${passkey}/scrape?${hashes.map((h) => `info_hash=${pct(h)}`).join('&')}`;
}

/**
 * Documented: chihaya gives the X-Forwarded-For peer (52004) the socket's address (it means to
 * take the first public entry but an inverted error check stops it) and takes an `ip` parameter
 * in a documentation range (52007); hayate takes the entry (from a trusted proxy) and ignores
 * that parameter (not a public address). `a` holds chihaya's addresses, `b` hayate's.
 */
function t2Addresses(a: Normalised, b: Normalised): void {
  const addrs = (n: Normalised) => (n.peers ?? []).map((p) => `${p.ip}:${p.port}`).sort();
  const swap = (list: string[], from: string, to: string) => list.map((x) => (x === from ? to : x)).sort();
  const expected = swap(swap(addrs(a), '127.0.0.1:52004', '9.9.9.104:52004'), '198.51.100.7:52007', '203.0.113.107:52007');
  must(
    JSON.stringify(expected) === JSON.stringify(addrs(b)),
    `peer addresses as documented (${addrs(a).join(' ')} vs ${addrs(b).join(' ')})`,
  );
  must(a.complete === b.complete && a.incomplete === b.incomplete && a.downloaded === b.downloaded, 'same counts');
}

const real = (ip: string) => [`X-Real-Ip: ${ip}`];
const U = users;
const MiB = 1 << 20;

/** Phase 1: from the fixtures, every failure, edge and swarm move. */
export function phaseOne(): Step[] {
  return [
    // ---- failure reasons, in the order the trackers check them
    { label: 'no info_hash', target: announce({ hash: null }) },
    { label: 'info_hash of 19 bytes counts as missing', target: announce({ hash: T1.subarray(1) }) },
    { label: 'two info_hashes', target: announce({ extra: `info_hash=${pct(T2)}` }) },
    { label: 'no peer_id', target: announce({ peer: null }) },
    { label: 'peer_id of 19 bytes', target: announce({ peer: pid(1).slice(1) }) },
    { label: 'no port', target: announce({ port: null }) },
    { label: 'no uploaded', target: announce({ up: null }) },
    { label: 'no downloaded', target: announce({ down: null }) },
    { label: 'no left', target: announce({ left: null }) },
    { label: 'unknown passkey', target: announce({ passkey: 'x'.repeat(32) }) },
    { label: 'disabled user (Enabled 0)', target: announce({ passkey: U.disabled.passkey }) },
    { label: 'banned user (Enabled 2)', target: announce({ passkey: U.banned.passkey }) },
    { label: 'short passkey', target: announce({ passkey: 'abc' }) },
    { label: 'archived client (-UT)', target: announce({ peer: pid(1, '-UT2210-') }) },
    { label: 'unknown client', target: announce({ peer: pid(1, '-XX0001-') }) },
    { label: 'unknown torrent', target: announce({ hash: UNKNOWN }) },
    { label: 'removed torrent, seeding', target: announce({ hash: T4 }) },
    { label: 'removed torrent, leeching', target: announce({ hash: T4, left: 100 }) },
    { label: 'pruned torrent, leeching', target: announce({ hash: T3, left: 100 }) },
    {
      label: 'DisableDownload, leeching without a hit-and-run',
      target: announce({ passkey: U.noDownload.passkey, hash: T2, peer: pid(50), left: 100 }),
    },
    { label: 'IPv6 X-Real-Ip', target: announce({ left: 100 }), headers: real('2001:db8::1') },
    { label: 'loopback IPv6 X-Real-Ip', target: announce({ left: 100 }), headers: real('::1') },
    { label: 'scrape without info_hash', target: `/${U.normal.passkey}/scrape` },
    { label: 'scrape with unknown passkey', target: scrape([T1], 'y'.repeat(32)) },
    { label: 'strange path', target: `/${U.normal.passkey}/announcex?info_hash=${pct(T1)}` },

    // ---- swarm on torrent 1: a leecher, a seeder, progress, a snatch, a stop
    { label: 'T1 leecher starts (user 1, X-Real-Ip)', target: announce({ left: 1000, event: 'started' }), headers: real('203.0.113.1') },
    {
      label: 'T1 seeder starts (user 2)',
      target: announce({ passkey: U.other.passkey, peer: pid(2), port: 51002, left: 0, event: 'started' }),
      headers: real('203.0.113.2'),
    },
    { label: 'T1 leecher progresses', target: announce({ up: 100, down: 500, left: 500 }), headers: real('203.0.113.1') },
    {
      label: 'T1 seeder uploads',
      target: announce({ passkey: U.other.passkey, peer: pid(2), port: 51002, up: 600 }),
      headers: real('203.0.113.2'),
    },
    {
      label: 'T1 hit-and-run user leeches (allowed)',
      target: announce({ passkey: U.noDownload.passkey, peer: pid(5), port: 51005, left: 900, event: 'started' }),
      headers: real('203.0.113.5'),
    },
    {
      label: 'T1 hidden user leeches',
      target: announce({ passkey: U.hidden.passkey, peer: pid(6), port: 51006, left: 900, down: 10 }),
      headers: real('203.0.113.6'),
    },
    {
      label: 'T1 hidden user progresses',
      target: announce({ passkey: U.hidden.passkey, peer: pid(6), port: 51006, left: 800, down: 110, up: 7 }),
      headers: real('203.0.113.6'),
    },
    {
      label: 'T1 leecher completes (snatch)',
      target: announce({ up: 200, down: 1000, left: 0, event: 'completed' }),
      headers: real('203.0.113.1'),
    },
    {
      label: 'T1 a second seeder of user 2',
      target: announce({ passkey: U.other.passkey, peer: pid(22), port: 51022 }),
      headers: real('203.0.113.22'),
    },
    {
      label: 'T1 low-port peer (not handed out)',
      target: announce({ passkey: U.multiplied.passkey, peer: pid(7), port: 80, left: 5 }),
      headers: real('203.0.113.7'),
    },
    {
      label: 'T1 new leecher sees one seeder per user',
      target: announce({ passkey: U.multiplied.passkey, peer: pid(77), port: 51077, left: 5 }),
      headers: real('203.0.113.77'),
    },
    {
      label: 'T1 compact=0',
      target: announce({ passkey: U.multiplied.passkey, peer: pid(77), port: 51077, left: 5, extra: 'compact=0' }),
      headers: real('203.0.113.77'),
      documented: peerIdsInDict,
    },
    {
      label: 'T1 compact=0&no_peer_id=1',
      target: announce({ passkey: U.multiplied.passkey, peer: pid(77), port: 51077, left: 5, extra: 'compact=0&no_peer_id=1' }),
      headers: real('203.0.113.77'),
    },
    {
      label: 'T1 compact=0&no_peer_id=0',
      target: announce({ passkey: U.multiplied.passkey, peer: pid(77), port: 51077, left: 5, extra: 'compact=0&no_peer_id=0' }),
      headers: real('203.0.113.77'),
    },
    {
      label: 'T1 numwant=0',
      target: announce({ passkey: U.multiplied.passkey, peer: pid(77), port: 51077, left: 5, extra: 'numwant=0' }),
      headers: real('203.0.113.77'),
    },
    {
      label: 'T1 seeder gets leechers only',
      target: announce({ passkey: U.other.passkey, peer: pid(2), port: 51002, up: 700 }),
      headers: real('203.0.113.2'),
    },
    {
      label: 'T1 hit-and-run user stops',
      target: announce({ passkey: U.noDownload.passkey, peer: pid(5), port: 51005, left: 800, down: 100, event: 'stopped' }),
      headers: real('203.0.113.5'),
    },
    {
      label: 'T1 stopped peer is gone',
      target: announce({ passkey: U.multiplied.passkey, peer: pid(77), port: 51077, left: 5 }),
      headers: real('203.0.113.77'),
    },
    {
      label: 'T1 seeder stops',
      target: announce({ passkey: U.other.passkey, peer: pid(22), port: 51022, up: 50, event: 'stopped' }),
      headers: real('203.0.113.22'),
    },
    { label: 'T1 scrape', target: scrape([T1]) },

    // ---- addresses
    { label: 'ip parameter, public', target: announce({ hash: T2, peer: pid(101), port: 52001, left: 1, extra: 'ip=9.9.9.50' }) },
    {
      label: 'ip parameter in a documentation range (TEST-NET-2)',
      target: announce({ hash: T2, peer: pid(107), port: 52007, left: 1, extra: 'ip=198.51.100.7' }),
      headers: real('203.0.113.107'),
    },
    {
      label: 'ip parameter, private (ignored)',
      target: announce({ hash: T2, peer: pid(102), port: 52002, left: 1, extra: 'ip=10.0.0.5' }),
      headers: real('203.0.113.102'),
    },
    {
      label: 'X-Real-Ip wins over X-Forwarded-For',
      target: announce({ hash: T2, peer: pid(103), port: 52003, left: 1 }),
      headers: [...real('203.0.113.103'), 'X-Forwarded-For: 198.51.100.103'],
    },
    {
      label: 'X-Forwarded-For alone',
      target: announce({ hash: T2, peer: pid(104), port: 52004, left: 1 }),
      headers: ['X-Forwarded-For: 10.1.1.1, 9.9.9.104'],
      documented: (c, h) => {
        // chihaya means to take the first public X-Forwarded-For entry but never does (an inverted error check); hayate does, from a trusted proxy.
        must(JSON.stringify(c) === JSON.stringify(h), 'the same answer');
      },
    },
    { label: 'no header: the socket', target: announce({ hash: T2, peer: pid(105), port: 52005, left: 1 }) },
    {
      label: 'T2 sees them all',
      documented: (c, h) => t2Addresses(c, h),
      target: announce({ passkey: U.other.passkey, hash: T2, peer: pid(106), port: 52006, left: 0 }),
      headers: real('203.0.113.106'),
    },

    // ---- path forms, a fragment, a second malformed info_hash (issue 12 items 3, 5), on torrent 8
    {
      label: 'path //P/announce',
      target: announce({ passkey: U.hidden.passkey, hash: T8, peer: pid(111), port: 52011, left: 1, path: (p) => `//${p}/announce` }),
      headers: real('203.0.113.111'),
    },
    {
      label: 'path /P//announce',
      target: announce({ passkey: U.hidden.passkey, hash: T8, peer: pid(112), port: 52012, left: 1, path: (p) => `/${p}//announce` }),
      headers: real('203.0.113.112'),
    },
    {
      label: 'path /tracker/P/announce',
      target: announce({
        passkey: U.hidden.passkey,
        hash: T8,
        peer: pid(113),
        port: 52013,
        left: 1,
        path: (p) => `/tracker/${p}/announce`,
      }),
      headers: real('203.0.113.113'),
    },
    {
      label: 'fragment after the query',
      target: `${announce({ passkey: U.hidden.passkey, hash: T8, peer: pid(114), port: 52014, left: 1 })}#frag`,
      headers: real('203.0.113.114'),
    },
    {
      label: 'one valid info_hash and one of 5 bytes',
      target: announce({ passkey: U.hidden.passkey, hash: T8, peer: pid(115), port: 52015, left: 1, extra: 'info_hash=abcde' }),
      headers: real('203.0.113.115'),
    },
    {
      label: 'torrent 8 after them',
      target: announce({ passkey: U.other.passkey, hash: T8, peer: pid(116), port: 52016, left: 0 }),
      headers: real('203.0.113.116'),
    },

    // ---- numbers
    {
      label: 'uploaded = abc',
      target: announce({ hash: T7, peer: pid(123), up: 'abc' }),
      documented: badNumber('Malformed request - invalid uploaded'),
    },
    {
      label: 'port = 70000',
      target: announce({ hash: T7, peer: pid(123), port: 70000 }),
      documented: badNumber('Malformed request - invalid port'),
    },
    {
      label: 'left = -1',
      target: announce({ hash: T7, peer: pid(123), left: -1 }),
      documented: badNumber('Malformed request - invalid left'),
    },
    {
      label: 'uploaded = 2^64',
      target: announce({ hash: T7, peer: pid(123), up: '18446744073709551616' }),
      documented: badNumber('Malformed request - invalid uploaded'),
    },
    {
      label: 'downloaded empty',
      target: announce({ hash: T7, peer: pid(123), down: '' }),
      documented: badNumber('Malformed request - invalid downloaded'),
    },
    {
      label: 'numwant = abc',
      target: announce({ hash: UNKNOWN, peer: pid(124), port: 52024, left: 0, extra: 'numwant=abc' }),
      documented: badNumwant,
    },
    {
      label: 'left = 2^63 - 1 (magnet, Transmission)',
      target: announce({ passkey: U.hidden.passkey, hash: T9, peer: pid(121), port: 52021, left: '9223372036854775807' }),
      headers: real('203.0.113.121'),
    },
    {
      label: 'a seeder on torrent 9 sees it',
      target: announce({ passkey: U.other.passkey, hash: T9, peer: pid(123), port: 52023, left: 0 }),
      headers: real('203.0.113.123'),
    },
    // garbage in numbers, on an unknown torrent: only whether the number parses shows
    ...(
      [
        ['uploaded = 1.5', { up: '1.5' }, 'uploaded'],
        ['uploaded = +5', { up: '+5' }, 'uploaded'],
        ['left = 0x10', { left: '0x10' }, 'left'],
        ['left = 1e3', { left: '1e3' }, 'left'],
        ['left = " 5"', { left: '%205' }, 'left'],
        ['port = 0', { port: 0 }, 'same'],
        ['port = 65535', { port: 65535 }, 'same'],
        ['port = 65536', { port: 65536 }, 'port'],
        ['numwant = -1', { extra: 'numwant=-1' }, 'numwant'],
        ['numwant = 99999', { extra: 'numwant=99999' }, 'numwant'],
        ['left = 007', { left: '007' }, 'same'],
        ['port with 20 leading zeros', { port: '0000000000000000000051000' }, 'same'],
        ['numwant with 20 leading zeros', { extra: 'numwant=00000000000000000001' }, 'same'],
        ['uploaded = 2^64 - 1', { up: '18446744073709551615' }, 'same'],
      ] as [string, AnnounceArgs, string][]
    ).map(([label, args, kind]): Step => ({
      label: `garbage: ${label}`,
      target: announce({ hash: UNKNOWN, peer: pid(130), ...args }),
      ...(kind === 'numwant'
        ? { documented: badNumwant }
        : kind !== 'same'
          ? { documented: badNumber(`Malformed request - invalid ${kind}`) }
          : {}),
    })),

    // a raw '+' in a value is a space (form encoding), %2B a '+': T2's hash holds both bytes
    {
      label: "a raw '+' for T2's 0x20 byte finds T2",
      target: announce({ hash: T2, peer: pid(131), port: 52131, left: 0, event: 'stopped' }).replace('%20', '+'),
      headers: real('203.0.113.131'),
    },
    {
      label: "a raw '+' for T2's 0x2b byte is a space: no such torrent",
      target: announce({ hash: T2, peer: pid(132), port: 52132, left: 0, event: 'stopped' }).replace('%2b', '+'),
      headers: real('203.0.113.132'),
    },

    // ---- multipliers and freeleech
    {
      label: 'T5 (1.5/0.5) multiplied user starts',
      target: announce({ passkey: U.multiplied.passkey, hash: T5, peer: pid(71), port: 52071, left: 10 * MiB }),
      headers: real('203.0.113.71'),
    },
    {
      label: 'T5 multiplied user transfers',
      target: announce({
        passkey: U.multiplied.passkey,
        hash: T5,
        peer: pid(71),
        port: 52071,
        left: 5 * MiB,
        up: 3 * MiB + 7,
        down: 5 * MiB + 3,
      }),
      headers: real('203.0.113.71'),
    },
    {
      label: 'T6 group freeleech: start',
      target: announce({ hash: T6, peer: pid(61), port: 52061, left: 1000 }),
      headers: real('203.0.113.61'),
    },
    {
      label: 'T6 group freeleech: download',
      target: announce({ hash: T6, peer: pid(61), port: 52061, left: 0, up: 11, down: 1000, event: 'completed' }),
      headers: real('203.0.113.61'),
    },
    {
      label: 'T7 same group, other type: start',
      target: announce({ hash: T7, peer: pid(62), port: 52062, left: 1000 }),
      headers: real('203.0.113.62'),
    },
    {
      label: 'T7 same group, other type: download',
      target: announce({ hash: T7, peer: pid(62), port: 52062, left: 100, up: 13, down: 900 }),
      headers: real('203.0.113.62'),
    },

    {
      label: "T7 another user's leecher",
      target: announce({ passkey: U.multiplied.passkey, hash: T7, peer: pid(63), port: 52063, left: 500 }),
      headers: real('203.0.113.63'),
    },
    {
      label: 'numwant = 1 of a bigger swarm',
      target: announce({ passkey: U.other.passkey, hash: T7, peer: pid(125), port: 52025, left: 3, extra: 'numwant=1' }),
      headers: real('203.0.113.125'),
      onePeerOf: ['203.0.113.62:52062', '203.0.113.63:52063'],
    },

    // ---- revival, moves the two trackers handle differently
    {
      label: 'T3 pruned torrent revived by a seeder',
      target: announce({ passkey: U.other.passkey, hash: T3, peer: pid(31), port: 52031 }),
      headers: real('203.0.113.31'),
    },
    {
      label: 'T3 now live for leechers',
      target: announce({ hash: T3, peer: pid(32), port: 52032, left: 10 }),
      headers: real('203.0.113.32'),
    },
    {
      label: 'T5 completed with left > 0',
      target: announce({ hash: T5, peer: pid(51), port: 52051, left: 10, event: 'completed' }),
      headers: real('203.0.113.51'),
    }, // same answer; chihaya writes a snatch (see EXPECTED_TABLE_DIFFERENCES)
    {
      label: 'T3 seeder announces left > 0',
      target: announce({ passkey: U.other.passkey, hash: T3, peer: pid(31), port: 52031, left: 10, up: 25 }),
      headers: real('203.0.113.31'),
      documented: (c, h) => {
        // chihaya makes the seeder a leecher too (counted in both); hayate moves it.
        must(c.complete === 1 && c.incomplete === 2, 'chihaya: still a seeder, and a leecher too');
        must(h.complete === 0 && h.incomplete === 2, 'hayate: moved to the leechers');
      },
    },
    {
      label: 'T3 it seeds again (no completed)',
      target: announce({ passkey: U.other.passkey, hash: T3, peer: pid(31), port: 52031, left: 0, up: 45 }),
      headers: real('203.0.113.31'),
      documented: (c, h) => {
        // chihaya keeps the leecher it made (until purged); hayate counts the leecher-to-seeder move as a snatch (issue 14).
        must(c.complete === 1 && c.incomplete === 2 && c.downloaded === 40, 'chihaya: the leecher stays, no snatch');
        must(h.complete === 1 && h.incomplete === 1 && h.downloaded === 41, 'hayate: moved back, a snatch');
      },
    },

    // ---- scrapes
    { label: 'scrape several (one unknown)', target: scrape([T2, UNKNOWN, T1, T5]) },
    { label: 'scrape by a DisableDownload user', target: scrape([T1, T2], U.noDownload.passkey) },
    { label: 'scrape of a removed torrent', target: scrape([T4]) },
  ];
}

/** Phase 2, after each tracker restarted on the other's cache files (global freeleech on). */
export function phaseTwo(): Step[] {
  return [
    { label: 'restarted: scrape', target: scrape([T1, T2, T6, T7]) },
    {
      label: 'restarted: new leecher on T1 sees the cached swarm',
      target: announce({ passkey: U.other.passkey, peer: pid(201), port: 53001, left: 50 }),
      headers: real('203.0.113.201'),
    },
    {
      label: 'restarted: new leecher on T2 sees the cached swarm',
      target: announce({ passkey: U.noDownload.passkey, hash: T2, peer: pid(202), port: 53002, left: 50 }),
      headers: real('203.0.113.202'),
    },
    {
      label: 'restarted: cached T1 leecher completes (global freeleech)',
      target: announce({ passkey: U.hidden.passkey, peer: pid(6), port: 51006, left: 0, down: 910, up: 9, event: 'completed' }),
      headers: real('203.0.113.6'),
    },
    {
      label: 'restarted: T2 swarm after',
      target: announce({ passkey: U.other.passkey, hash: T2, peer: pid(106), port: 52006, left: 0 }),
      headers: real('203.0.113.106'),
      documented: (c, h) => t2Addresses(h, c),
    },
    {
      label: 'restarted: cached T5 leecher completes (global freeleech)',
      target: announce({
        passkey: U.multiplied.passkey,
        hash: T5,
        peer: pid(71),
        port: 52071,
        left: 0,
        up: 4 * MiB,
        down: 10 * MiB,
        event: 'completed',
      }),
      headers: real('203.0.113.71'),
    },
    {
      label: 'left = 2^64 - 1 (its own flush batch)',
      target: announce({ passkey: U.hidden.passkey, hash: T9, peer: pid(121), port: 52021, left: '18446744073709551615' }),
      headers: real('203.0.113.121'),
      barrier: `SELECT 1 FROM transfer_history t5 JOIN transfer_history t1 ON t1.uid = ${U.hidden.id} AND t1.fid = ${torrents.live.id} AND t1.snatched = 1 WHERE t5.uid = ${U.multiplied.id} AND t5.fid = ${torrents.multiplied.id} AND t5.snatched = 1`,
    },
    {
      label: 'left = 2^64 - 1, a new pair (same batch)',
      target: announce({ passkey: U.multiplied.passkey, hash: T9, peer: pid(122), port: 52022, left: '18446744073709551615' }),
      headers: real('203.0.113.122'),
    },
    {
      label: 'a seeder on torrent 9 sees both magnets',
      target: announce({ passkey: U.other.passkey, hash: T9, peer: pid(123), port: 52023, left: 0 }),
      headers: real('203.0.113.123'),
    },
  ];
}
