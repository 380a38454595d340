import { EMPTY_SWARM, Swarm } from './swarm.js';

export interface User {
  id: number;
  /** torrent_pass, 32 chars. */
  passkey: string;
  upMultiplier: number;
  downMultiplier: number;
  disableDownload: boolean;
  trackerHide: boolean;
  /** The reload pass that last saw this user in the database (reloader bookkeeping). */
  reloadMark?: number;
}

export type TorrentType = string; // 'anime' | 'music' in the schema; kept open for the cache format

export interface Torrent {
  id: number;
  /** 20 raw bytes, latin1. */
  infoHash: string;
  groupId: number;
  type: TorrentType;
  snatched: number;
  /** 0 live, 1 pruned (revived by a seeder), other: gone. */
  status: number;
  lastAction: number;
  upMultiplier: number;
  downMultiplier: number;
  seeders: Swarm;
  leechers: Swarm;
  /** The reload pass that last saw this torrent in the database (reloader bookkeeping). */
  reloadMark?: number;
}

export interface GroupFreeleech {
  upMultiplier: number;
  downMultiplier: number;
}

export interface ApprovedClient {
  id: number;
  /** peer_id prefix, latin1. */
  prefix: string;
}

/**
 * A torrent with no swarm yet. Fields left out take a new row's values: group 0, type '',
 * Snatched 0, Status 0 (active), last_action 0, multipliers 1.
 */
export function newTorrent(
  f: Pick<Torrent, 'id' | 'infoHash'> & Partial<Omit<Torrent, 'id' | 'infoHash' | 'seeders' | 'leechers' | 'reloadMark'>>,
): Torrent {
  // Spelled out, not `{ ...f, … }`: V8 builds a spread with extra keys as a
  // dictionary-mode object (~520 bytes, hash lookups on every field access); a
  // literal is a fast object of 120 bytes with one hidden class for all torrents.
  return {
    id: f.id,
    infoHash: f.infoHash,
    groupId: f.groupId ?? 0,
    type: f.type ?? '',
    snatched: f.snatched ?? 0,
    status: f.status ?? 0,
    lastAction: f.lastAction ?? 0,
    upMultiplier: f.upMultiplier ?? 1,
    downMultiplier: f.downMultiplier ?? 1,
    seeders: EMPTY_SWARM,
    leechers: EMPTY_SWARM,
    reloadMark: 0,
  };
}

export function groupKey(type: string, groupId: number): string {
  return `${type}:${groupId}`;
}

export function hnrKey(userId: number, torrentId: number): string {
  return `${userId}:${torrentId}`;
}

/** The torrent's seeders (or leechers) to add a peer to: its own swarm, made on its first peer. */
export function swarmToAdd(torrent: Torrent, seeding: boolean): Swarm {
  if (seeding) {
    if (torrent.seeders === EMPTY_SWARM) torrent.seeders = new Swarm();
    return torrent.seeders;
  }
  if (torrent.leechers === EMPTY_SWARM) torrent.leechers = new Swarm();
  return torrent.leechers;
}
