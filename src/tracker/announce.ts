import type { TrackerQuery } from '../protocol/query.js';
import { ipToString, newPeer, peerIdOf, peerKey, type Peer } from '../store/peer.js';
import { swarmToAdd, type Torrent, type User } from '../store/types.js';
import type { Swarm } from '../store/swarm.js';
import { writeDecimal, writeInteger } from '../decimal.js';
import { bstr } from './bencode.js';
import type { TrackerContext } from './context.js';
import { clientNotApproved, Failure, notIPv4, torrentGone, unregisteredTorrent, wellKnownPort } from './failures.js';
import { choosePeers } from './peer-choice.js';
import { counterDelta, credited } from './counters.js';

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
  for (const candidate of q.infoHashes) if (candidate.length === 20) infoHash = candidate;
  if (infoHash === undefined) return fail(ctx, Failure.missingInfoHash);
  if (q.infoHashes.length > 1) return fail(ctx, Failure.multipleInfoHash);
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

  const address = ctx.addresses.resolve(q.ip, request.proxyAddress, request.forwardedFor, request.socketAddress);
  if (address.ip < 0) return failOnce(ctx, notIPv4(address.text));

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

  return updateSwarm(ctx, user, torrent, q, clientId, address.ip, now);
}

function updateSwarm(
  ctx: TrackerContext,
  user: User,
  torrent: Torrent,
  q: TrackerQuery,
  clientId: number,
  ip: number,
  now: number,
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
  const seeding = left === 0;
  const to = swarmToAdd(torrent, seeding);
  let snatches = 0;
  let rawUp = 0;
  let rawDown = 0;
  const isNew = peer === undefined;
  const knownLeecher = !isNew && from === torrent.leechers;
  if (peer === undefined) {
    // A new peer's counters are its baseline: no credit for what it reports on arrival.
    peer = newPeer(key, user.id, ip, port, now, now, clientId);
    to.add(peer, uploaded, downloaded, left);
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
  const down = store.globalFreeleech
    ? 0
    : credited(rawDown, user.downMultiplier, group?.downMultiplier ?? 1, torrent.downMultiplier);

  const sinceLast = now - peer.lastAnnounce;
  const deltaTime = sinceLast > config.intervals.peer_inactivity || sinceLast < 0 ? 0 : sinceLast;
  const deltaSeedTime = seeding ? deltaTime : 0;

  peer.lastAnnounce = now;
  peer.ip = ip | 0; // signed: a small integer, never a boxed double
  peer.port = port;
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
    userSeeds ? 0 : left,
    now,
    peer.startTime,
    active,
  );
  if (rawUp !== 0 || rawDown !== 0 || up !== 0 || down !== 0) accounting.user(user.id, rawUp, rawDown, up, down);
  accounting.transferIp(
    user.id,
    torrent.id,
    user.trackerHide ? HIDDEN_IP : ip,
    clientId,
    rawUp,
    rawDown,
    port,
    now,
    peer.startTime,
  );
  if (uploaded > 0 || downloaded > 0) {
    ctx.recorder.record(now, torrent.id, user.id, ip, port, event, uploaded, downloaded, left);
  }

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
    for (const peer of peers) {
      at = b.writeInt32BE(peer.ip, at); // peer.ip is the address as a signed int32
      at = b.writeUInt16BE(peer.port, at);
    }
  }
  b[at++] = 0x65; // 'e' ends the dictionary
  const body = Buffer.allocUnsafe(at);
  b.copy(body, 0, 0, at);
  return body;
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
