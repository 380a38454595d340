import { DualStack } from '../accounting/sink.js';
import type { TrackerQuery } from '../protocol/query.js';
import { ipToString, newPeer, peerIdOf, peerKey, type Peer } from '../store/peer.js';
import { swarmToAdd, type Torrent, type User } from '../store/types.js';
import type { Swarm } from '../store/swarm.js';
import { writeDecimal, writeInteger } from '../decimal.js';
import { ipv4Of, isPublicIPv4 } from '../protocol/address.js';
import { ipv6Of, ipv6Param, ipv6Text, isPublicIPv6, mappedIPv4 } from '../protocol/ipv6.js';
import { dualStackReport, newPeerV6, type DualReport } from './dual-stack.js';
import { bstr } from './bencode.js';
import type { TrackerContext } from './context.js';
import { clientNotApproved, Failure, notIPv4, torrentGone, unregisteredTorrent, wellKnownPort } from './failures.js';
import { choosePeers, EndpointPicker } from './peer-choice.js';
import { counterDelta, credited, saturatedNumber } from './counters.js';

/** An announce as the HTTP layer hands it over: nothing here needs a socket. */
export interface AnnounceRequest {
  passkey: string;
  query: TrackerQuery;
  /** Value of ctx.addresses.primaryHeader (http.proxy_header, or X-Real-Ip), if present. */
  proxyAddress: string | undefined;
  /** Value of ctx.addresses.listHeader (X-Forwarded-For), if present and read. */
  forwardedFor?: string | undefined;
  /** The socket's remote address. */
  socketAddress: string | undefined;
}

export interface AnnounceResult {
  body: Buffer;
  /** True when the body is a failure reason. */
  failed: boolean;
}

/** 127.0.0.1: what transfer_ips records for TrackerHide users. */
const HIDDEN_IP = 0x7f000001;

function fail(ctx: TrackerContext, [reason, interval]: readonly [string, number]): AnnounceResult {
  return { body: ctx.failures.get(reason, interval), failed: true };
}

function failOnce(ctx: TrackerContext, [reason, interval]: readonly [string, number]): AnnounceResult {
  // Reasons carrying request data are not worth caching.
  return { body: Buffer.from(`d14:failure reason${bstr(reason)}8:intervali${interval}ee`, 'latin1'), failed: true };
}

/** Checks a required numeric parameter; returns the failure or undefined. */
function checkNumber(
  value: number | bigint | undefined,
  missing: readonly [string, number],
  invalid: readonly [string, number],
): readonly [string, number] | undefined {
  if (value === undefined) return missing;
  if (typeof value === 'number' && Number.isNaN(value)) return invalid;
  return undefined;
}

/**
 * Handles one announce (SPEC §5): validates in the order of the failure table,
 * updates the swarm, queues the accounting, and encodes the answer. A function
 * of (context, request, clock): `now` is unix seconds.
 */
export function announce(ctx: TrackerContext, request: AnnounceRequest, now: number): AnnounceResult {
  const { store, config } = ctx;
  const user = store.users.get(request.passkey);
  if (user === undefined) return fail(ctx, store.loadedFrom === undefined ? Failure.notReady : Failure.invalidPasskey);

  const q = request.query;
  let infoHash: string | undefined;
  // Only 20-byte values count (chihaya's rule): one valid info_hash beside a malformed one is
  // that announce; two valid ones are refused.
  let valid = 0;
  for (const candidate of q.infoHashes) {
    if (candidate.length === 20) {
      infoHash = candidate;
      valid++;
    }
  }
  if (infoHash === undefined) return fail(ctx, Failure.missingInfoHash);
  if (valid > 1) return fail(ctx, Failure.multipleInfoHash);
  if (q.peerId === undefined || q.peerId === '') return fail(ctx, Failure.missingPeerId);
  if (q.peerId.length !== 20) return fail(ctx, Failure.invalidPeerId);
  if (q.port === undefined) return fail(ctx, Failure.missingPort);
  if (Number.isNaN(q.port) || q.port > 65535) return fail(ctx, Failure.invalidPort);
  if (config.announce.strict_port && q.port < 1024) return failOnce(ctx, wellKnownPort(q.port));
  const numberFailure =
    checkNumber(q.uploaded, Failure.missingUploaded, Failure.invalidUploaded) ??
    checkNumber(q.downloaded, Failure.missingDownloaded, Failure.invalidDownloaded) ??
    checkNumber(q.left, Failure.missingLeft, Failure.invalidLeft);
  if (numberFailure !== undefined) return fail(ctx, numberFailure);

  // With IPv6 on, an `ip=` IPv6 address must also be outside the documentation and special
  // ranges inside 2000::/3 (isPublicIPv6); off, the parameter is taken as chihaya takes it.
  const ipParam = config.announce.ipv6 && q.ip !== undefined ? publicIPv6OrOther(q.ip) : q.ip;
  const address = ctx.addresses.resolve(ipParam, request.proxyAddress, request.forwardedFor, request.socketAddress);
  let endpoints: AnnounceEndpoints | undefined;
  if (config.announce.ipv6) {
    endpoints = announceEndpoints(address.ip, address.text, q);
    if (endpoints === undefined) return failOnce(ctx, notIPv4(address.text));
  } else if (address.ip < 0) return failOnce(ctx, notIPv4(address.text));

  const clientId = store.clientIdFor(q.peerId);
  if (clientId === 0) {
    // The cache files hold no approved clients: until the database has answered once, nobody's client is known.
    return store.loadedFrom === 'database' ? failOnce(ctx, clientNotApproved(q.peerId)) : fail(ctx, Failure.notReady);
  }

  const torrent = store.torrents.get(infoHash);
  if (torrent === undefined) {
    // Deleted by the site with a reason (update API, delete_torrent): say why, for a day.
    const reason = store.unregistered.reasonFor(infoHash, now);
    return reason === undefined ? fail(ctx, Failure.unknownTorrent) : failOnce(ctx, unregisteredTorrent(reason));
  }

  const left = q.left!;
  if (torrent.status === 1 && left === 0) {
    torrent.status = 0;
    ctx.accounting.revive(torrent.id);
  } else if (torrent.status !== 0) {
    return failOnce(ctx, torrentGone(torrent.status, left));
  }
  if (left > 0 && !store.mayDownload(user, torrent)) return fail(ctx, Failure.downloadDisabled);

  return updateSwarm(ctx, user, torrent, q, clientId, address.ip, now, endpoints);
}

/**
 * Where an announce says its peer can be reached, with `announce.ipv6` on (SPEC §13). The
 * announce's own address sets the endpoint of its family; the BEP 7 `ipv4=` / `ipv6=`
 * parameters may set the other family's, when they carry a public address (as `ip=`
 * must). A scratch object: one announce is handled at a time.
 */
interface AnnounceEndpoints {
  /** The family of the announce's own address: its running totals are this family's report. */
  family: 4 | 6;
  /** IPv4 as uint32, or -1 for none. */
  ip4: number;
  port4: number;
  /** 16 bytes, latin1, or undefined for none. */
  addr6: string | undefined;
  port6: number;
}

const ENDPOINTS: AnnounceEndpoints = { family: 4, ip4: -1, port4: 0, addr6: undefined, port6: 0 };

/** The endpoints of an announce from `ip` (uint32, -1 when not IPv4) / `text`; undefined when the address is neither family. */
function announceEndpoints(ip: number, text: string, q: TrackerQuery): AnnounceEndpoints | undefined {
  const e = ENDPOINTS;
  e.port4 = q.port!;
  e.port6 = q.port!;
  if (ip >= 0) {
    e.family = 4;
    e.ip4 = ip;
    e.addr6 = undefined;
    if (q.ipv6 !== undefined) {
      const param = ipv6Param(q.ipv6);
      if (param !== undefined && isPublicIPv6(param.addr16)) {
        e.addr6 = param.addr16;
        e.port6 = param.port ?? q.port!;
      }
    }
    return e;
  }
  const addr16 = ipv6Of(text);
  if (addr16 === undefined) return undefined;
  e.family = 6;
  e.addr6 = addr16;
  e.ip4 = -1;
  if (q.ipv4 !== undefined) {
    const colon = q.ipv4.indexOf(':');
    const ip4 = ipv4Of(colon === -1 ? q.ipv4 : q.ipv4.slice(0, colon));
    const port = colon === -1 ? q.port! : Number(q.ipv4.slice(colon + 1));
    if (ip4 !== -1 && isPublicIPv4(ip4) && Number.isInteger(port) && port > 0 && port <= 65535) {
      e.ip4 = ip4;
      e.port4 = port;
    }
  }
  return e;
}

/** `ip=` as given, unless it is an IPv6 address that isPublicIPv6 refuses. */
function publicIPv6OrOther(ip: string): string | undefined {
  const addr16 = ip.indexOf(':') === -1 ? undefined : ipv6Of(ip.trim());
  return addr16 !== undefined && mappedIPv4(addr16) === -1 && !isPublicIPv6(addr16) ? undefined : ip;
}

/** Scratch for dualStackReport (the announce path is synchronous). */
const DUAL: DualReport = { rawUp: 0, rawDown: 0, uploaded: 0, downloaded: 0, stale: false, bits: 0 };
/** Scratch for choosing endpoints with `announce.ipv6` on. */
const PICKER = new EndpointPicker();

function updateSwarm(
  ctx: TrackerContext,
  user: User,
  torrent: Torrent,
  q: TrackerQuery,
  clientId: number,
  ip: number,
  now: number,
  endpoints: AnnounceEndpoints | undefined,
): AnnounceResult {
  const { config, accounting, store } = ctx;
  const peerId = q.peerId!;
  const port = q.port!;
  const uploaded = q.uploaded!;
  const downloaded = q.downloaded!;
  const left = q.left!;
  const event = q.event;
  const completed = event === 'completed';
  const key = peerKey(user.id, peerId);

  // Find the peer wherever it is, then put it where `left` says it belongs; its
  // counters live in the swarm that holds it, so they move with it.
  let from: Swarm = torrent.leechers;
  let peer = from.get(key);
  if (peer === undefined) {
    from = torrent.seeders;
    peer = from.get(key);
  }
  let seeding = left === 0;
  let to = swarmToAdd(torrent, seeding);
  let snatches = 0;
  let rawUp = 0;
  let rawDown = 0;
  let remaining = left;
  const isNew = peer === undefined;
  const knownLeecher = !isNew && from === torrent.leechers;
  /** What this announce did to a dual-stack peer's per-family reports (DualStack bits), for the crash journal. */
  let dualStack = 0;
  if (peer === undefined) {
    // A new peer's counters are its baseline: no credit for what it reports on arrival.
    if (endpoints === undefined) {
      peer = newPeer(key, user.id, ip, port, now, now, clientId);
    } else {
      peer = newPeer(key, user.id, endpoints.ip4 >= 0 ? endpoints.ip4 : 0, endpoints.ip4 >= 0 ? endpoints.port4 : port, now, now, clientId);
      if (endpoints.addr6 !== undefined) {
        peer.v6 = newPeerV6(
          endpoints.addr6,
          endpoints.port6,
          now,
          endpoints.ip4 >= 0 ? now : 0,
          endpoints.family,
          saturatedNumber(uploaded),
          saturatedNumber(downloaded),
        );
      }
    }
    to.add(peer, uploaded, downloaded, left);
  } else if (endpoints !== undefined && (peer.v6 !== undefined || endpoints.addr6 !== undefined)) {
    // A peer with an IPv6 endpoint: either family may report its totals (dual-stack.ts).
    if (peer.v6 === undefined) {
      // An IPv4 peer gaining an IPv6 endpoint: its IPv4 side last reported the totals it holds.
      peer.v6 = newPeerV6(
        endpoints.addr6!,
        endpoints.port6,
        0,
        peer.lastAnnounce,
        4,
        saturatedNumber(from.uploaded(peer)),
        saturatedNumber(from.downloaded(peer)),
      );
    }
    // The dual-stack totals are plain doubles: counters above 2^53 − 1 are saturated there.
    const report = dualStackReport(
      peer.v6,
      endpoints.family,
      saturatedNumber(uploaded),
      saturatedNumber(downloaded),
      saturatedNumber(from.uploaded(peer)),
      saturatedNumber(from.downloaded(peer)),
      DUAL,
    );
    rawUp = report.rawUp;
    rawDown = report.rawDown;
    dualStack = report.bits;
    if (report.stale) {
      // Overtaken by the other family's report: its left and event are older than what we have.
      to = from;
      seeding = from === torrent.seeders;
      remaining = from.left(peer);
      to.setCounters(peer, report.uploaded, report.downloaded, remaining);
    } else if (from === to) {
      to.setCounters(peer, report.uploaded, report.downloaded, left);
    } else {
      from.delete(key);
      to.add(peer, report.uploaded, report.downloaded, left);
    }
  } else {
    const lastUp = from.uploaded(peer);
    const lastDown = from.downloaded(peer);
    rawUp = counterDelta(uploaded, lastUp);
    rawDown = counterDelta(downloaded, lastDown);
    if (from === to) {
      to.setCounters(peer, uploaded, downloaded, left);
    } else {
      from.delete(key);
      to.add(peer, uploaded, downloaded, left);
    }
  }
  // A snatch is a leecher-to-seeder move (issue 14): a known leecher reaching left = 0,
  // whether or not it says `completed` (rTorrent 0.9 and aria2 often send a plain or a
  // stopped announce with left = 0 instead), or a new peer saying `completed` with left = 0
  // (SPEC §5). A seeder repeating `completed`, or a peer that starts as a seeder, is none.
  if (seeding && (knownLeecher || (completed && isNew))) snatches = 1;

  const group = store.groupMultipliers(torrent);
  const up = credited(rawUp, user.upMultiplier, group?.upMultiplier ?? 1, torrent.upMultiplier);
  const down = store.globalFreeleech ? 0 : credited(rawDown, user.downMultiplier, group?.downMultiplier ?? 1, torrent.downMultiplier);

  const sinceLast = now - peer.lastAnnounce;
  const deltaTime = sinceLast > config.intervals.peer_inactivity || sinceLast < 0 ? 0 : sinceLast;
  const deltaSeedTime = seeding ? deltaTime : 0;

  peer.lastAnnounce = now;
  if (endpoints === undefined) {
    peer.ip = ip | 0; // signed: a small integer, never a boxed double
    peer.port = port;
  } else {
    if (endpoints.ip4 >= 0) {
      peer.ip = endpoints.ip4 | 0;
      peer.port = endpoints.port4;
      if (peer.v6 !== undefined) peer.v6.seen4 = now;
    }
    if (endpoints.addr6 !== undefined) {
      const v6 = peer.v6!;
      v6.addr = endpoints.addr6;
      v6.port = endpoints.port6;
      v6.seen6 = now;
    }
  }
  peer.clientId = clientId;
  if (seeding) torrent.lastAction = now;

  let active = true;
  if (snatches > 0) {
    torrent.snatched += 1;
    accounting.snatch(user.id, torrent.id, now);
  }
  if (event === 'stopped') {
    to.delete(key);
    active = false;
  }

  const seeders = torrent.seeders.size;
  const leechers = torrent.leechers.size;
  accounting.torrent(torrent.id, snatches, seeders, leechers, torrent.lastAction);
  // transfer_history holds one row per (user, torrent), and `seeding`/`remaining` are what a
  // site's hit-and-run rules read. A leecher of a user who also seeds this torrent (a
  // magnet's metadata-phase peer that never stops, a killed client's leftover) must not
  // flip that row to "not seeding": the row says what the user's best peer says.
  const userSeeds = seeding || torrent.seeders.hasUser(user.id);
  accounting.transferHistory(
    user.id,
    torrent.id,
    rawUp,
    rawDown,
    deltaTime,
    deltaSeedTime,
    snatches,
    userSeeds,
    userSeeds ? 0 : remaining,
    now,
    peer.startTime,
    active,
  );
  if (rawUp !== 0 || rawDown !== 0 || up !== 0 || down !== 0) accounting.user(user.id, rawUp, rawDown, up, down);
  const from6 = endpoints !== undefined && endpoints.family === 6;
  if (from6 && !user.trackerHide) {
    accounting.transferIp6(user.id, torrent.id, endpoints.addr6!, clientId, rawUp, rawDown, port, now, peer.startTime);
  } else {
    // A TrackerHide user's IPv6 announces are hidden the same way: 127.0.0.1 in transfer_ips.
    accounting.transferIp(user.id, torrent.id, user.trackerHide ? HIDDEN_IP : ip, clientId, rawUp, rawDown, port, now, peer.startTime);
  }
  // The peer as it now stands, for the crash journal (what the swarm holds: a stale dual-stack report keeps older counters).
  accounting.announced?.(
    user.id,
    torrent.id,
    peerId,
    peer.ip,
    peer.port,
    clientId,
    peer.startTime,
    now,
    active ? to.uploaded(peer) : uploaded,
    active ? to.downloaded(peer) : downloaded,
    active ? to.left(peer) : left,
    active ? (to === torrent.seeders ? 2 : 1) : 0,
    endpoints === undefined || peer.v6 === undefined ? 0 : dualStack | DualStack.present | (endpoints.family === 6 ? DualStack.family6 : 0),
  );
  if (uploaded > 0 || downloaded > 0) {
    if (from6) ctx.recorder.record(now, torrent.id, user.id, 0, port, event, uploaded, downloaded, left, endpoints.addr6);
    else ctx.recorder.record(now, torrent.id, user.id, ip, port, event, uploaded, downloaded, left);
  }
  if (from6) ctx.announcesByFamily.ipv6++;
  else ctx.announcesByFamily.ipv4++;

  const numwant = Math.min(
    q.numwant === undefined || Number.isNaN(q.numwant) ? config.announce.numwant : q.numwant,
    config.announce.max_numwant,
  );
  const drift = config.intervals.announce_drift > 0 ? Math.floor(ctx.random() * config.intervals.announce_drift) : 0;
  const interval = config.intervals.announce + drift;
  const snatched = torrent.snatched;
  const minInterval = config.intervals.min_announce;
  if (numwant <= 0 || !active) {
    return { body: compactAnswer(seeders, snatched, leechers, interval, minInterval, undefined), failed: false };
  }

  if (endpoints !== undefined) {
    // IPv4 endpoints go to every asker: every client reads `peers`, and a client announcing
    // over IPv6 mostly has IPv4 too (dual-stack, or NAT64/464XLAT on IPv6-only networks).
    // IPv6 endpoints go to askers seen over IPv6 (or with ipv6=): one that only ever
    // announces over IPv4 to a dual-stack tracker most likely has no IPv6 route. A peer with
    // both endpoints is given by the family of this announce.
    const cutoff = now - config.intervals.peer_inactivity;
    const v6 = peer.v6;
    const has6 = v6 !== undefined && v6.seen6 >= cutoff;
    const picker = PICKER.reset(true, has6, endpoints.family);
    const chosen = choosePeers(torrent.seeders, torrent.leechers, user.id, seeding, numwant, ctx.random, picker);
    if (q.compact)
      return { body: compactAnswerDual(seeders, snatched, leechers, interval, minInterval, chosen, picker.families), failed: false };
    const b = scratchFor(0);
    const head = b.toString('latin1', 0, writeAnswerHead(b, seeders, snatched, leechers, interval, minInterval));
    return { body: dictAnswerDual(head, chosen, picker.families, q.noPeerId), failed: false };
  }
  const chosen = choosePeers(torrent.seeders, torrent.leechers, user.id, seeding, numwant, ctx.random);
  if (q.compact) return { body: compactAnswer(seeders, snatched, leechers, interval, minInterval, chosen), failed: false };
  const b = scratchFor(0);
  const head = b.toString('latin1', 0, writeAnswerHead(b, seeders, snatched, leechers, interval, minInterval));
  return { body: dictAnswer(head, chosen, q.noPeerId), failed: false };
}

const COMPLETE = Buffer.from('d8:completei', 'latin1');
const DOWNLOADED = Buffer.from('e10:downloadedi', 'latin1');
const INCOMPLETE = Buffer.from('e10:incompletei', 'latin1');
const INTERVAL = Buffer.from('e8:intervali', 'latin1');
const MIN_INTERVAL = Buffer.from('e12:min intervali', 'latin1');
const PEERS = Buffer.from('5:peers', 'latin1');

/** Scratch bytes an answer is written into, then copied out once (answers are built one at a time). */
let answerScratch = Buffer.allocUnsafe(2048);

/** The answer scratch, with room for the head (160 bytes: five keys of 71, five integers of up to 17, two e) and `more`. */
function scratchFor(more: number): Buffer {
  if (answerScratch.length < 160 + more) answerScratch = Buffer.allocUnsafe((160 + more) * 2);
  return answerScratch;
}

/**
 * `d8:completei..e10:downloadedi..e10:incompletei..e8:intervali..e12:min intervali..`, every
 * answer's head (compact or not), written into `b` from 0; returns where it ends.
 */
function writeAnswerHead(b: Buffer, seeders: number, snatched: number, leechers: number, interval: number, minInterval: number): number {
  b.set(COMPLETE, 0);
  let at = writeInteger(b, COMPLETE.length, seeders);
  b.set(DOWNLOADED, at);
  at = writeInteger(b, at + DOWNLOADED.length, snatched);
  b.set(INCOMPLETE, at);
  at = writeInteger(b, at + INCOMPLETE.length, leechers);
  b.set(INTERVAL, at);
  at = writeInteger(b, at + INTERVAL.length, interval);
  b.set(MIN_INTERVAL, at);
  at = writeInteger(b, at + MIN_INTERVAL.length, minInterval);
  b[at++] = 0x65; // 'e' ends min interval
  return at;
}

/**
 * The head, then `5:peers<6n>:<ip4 port2 ...>` (BEP 23) when `peers` is given, then `e`.
 * Written as bytes: no string per number, no concatenations.
 */
function compactAnswer(
  seeders: number,
  snatched: number,
  leechers: number,
  interval: number,
  minInterval: number,
  peers: Peer[] | undefined,
): Buffer {
  const b = scratchFor(peers === undefined ? 0 : 32 + peers.length * 6);
  let at = writeAnswerHead(b, seeders, snatched, leechers, interval, minInterval);
  if (peers !== undefined) {
    b.set(PEERS, at);
    at = writeDecimal(b, at + PEERS.length, peers.length * 6);
    b[at++] = 0x3a; // ':'
    for (const peer of peers) at = writeEndpoint4(b, at, peer.ip, peer.port);
  }
  b[at++] = 0x65; // 'e' ends the dictionary
  const body = Buffer.allocUnsafe(at);
  b.copy(body, 0, 0, at);
  return body;
}

/**
 * A compact IPv4 endpoint (BEP 23: address then port, big-endian) at `at`; returns its end.
 * `ip` signed or unsigned (peer.ip is the address as a signed int32). Stored byte by byte:
 * Buffer#writeInt32BE and #writeUInt16BE check their arguments on each of the 100 calls
 * a 50-peer answer made.
 */
function writeEndpoint4(b: Buffer, at: number, ip: number, port: number): number {
  b[at] = ip >>> 24;
  b[at + 1] = ip >>> 16;
  b[at + 2] = ip >>> 8;
  b[at + 3] = ip;
  b[at + 4] = port >>> 8;
  b[at + 5] = port;
  return at + 6;
}

const PEERS6 = Buffer.from('6:peers6', 'latin1');

/**
 * compactAnswer with `announce.ipv6` on: IPv4 endpoints in `peers` (6 bytes each, BEP 23),
 * IPv6 ones in `peers6` (18 bytes each: address and port, BEP 7), `families[i]` saying which
 * of peers[i] to give. `peers` is always there (clients expect it); `peers6` when not empty.
 */
function compactAnswerDual(
  seeders: number,
  snatched: number,
  leechers: number,
  interval: number,
  minInterval: number,
  peers: Peer[],
  families: ReadonlyArray<4 | 6>,
): Buffer {
  let n6 = 0;
  for (let i = 0; i < families.length; i++) if (families[i] === 6) n6++;
  const n4 = peers.length - n6;
  const b = scratchFor(64 + n4 * 6 + n6 * 18);
  let at = writeAnswerHead(b, seeders, snatched, leechers, interval, minInterval);
  b.set(PEERS, at);
  at = writeDecimal(b, at + PEERS.length, n4 * 6);
  b[at++] = 0x3a; // ':'
  for (let i = 0; i < peers.length; i++) {
    if (families[i] !== 4) continue;
    at = writeEndpoint4(b, at, peers[i]!.ip, peers[i]!.port);
  }
  if (n6 > 0) {
    b.set(PEERS6, at);
    at = writeDecimal(b, at + PEERS6.length, n6 * 18);
    b[at++] = 0x3a;
    for (let i = 0; i < peers.length; i++) {
      if (families[i] !== 6) continue;
      const v6 = peers[i]!.v6!;
      const addr = v6.addr;
      // Byte by byte: Buffer#write is a native call per peer (most of this function's time).
      for (let k = 0; k < 16; k++) b[at + k] = addr.charCodeAt(k);
      at = b.writeUInt16BE(v6.port, at + 16);
    }
  }
  b[at++] = 0x65; // 'e' ends the dictionary
  const body = Buffer.allocUnsafe(at);
  b.copy(body, 0, 0, at);
  return body;
}

/** dictAnswer with `announce.ipv6` on: one `peers` list, `ip` an IPv4 or IPv6 address as text. */
function dictAnswerDual(head: string, peers: Peer[], families: ReadonlyArray<4 | 6>, noPeerId: boolean): Buffer {
  let out = `${head}5:peersl`;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i]!;
    const v6 = families[i] === 6 ? peer.v6! : undefined;
    out += `d2:ip${bstr(v6 === undefined ? ipToString(peer.ip) : ipv6Text(v6.addr))}`;
    if (!noPeerId) out += `7:peer id${bstr(peerIdOf(peer))}`;
    out += `4:porti${v6 === undefined ? peer.port : v6.port}ee`;
  }
  return Buffer.from(`${out}ee`, 'latin1');
}

/** `...5:peersl d2:ip..7:peer id20:..4:porti..e e ... e e`, keys in bencode order. */
function dictAnswer(head: string, peers: Peer[], noPeerId: boolean): Buffer {
  let out = `${head}5:peersl`;
  for (const peer of peers) {
    out += `d2:ip${bstr(ipToString(peer.ip))}`;
    if (!noPeerId) out += `7:peer id${bstr(peerIdOf(peer))}`;
    out += `4:porti${peer.port}ee`;
  }
  return Buffer.from(`${out}ee`, 'latin1');
}
