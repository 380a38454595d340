import { MemoryAccounting } from '../../src/accounting/sink.js';
import { defaultConfig, type Config } from '../../src/config/config.js';
import { parseTrackerQuery } from '../../src/protocol/query.js';
import type { AnnounceRecorder } from '../../src/recorder/recorder.js';
import { Store } from '../../src/store/store.js';
import { newTorrent, type Torrent, type User } from '../../src/store/types.js';
import { announce, type AnnounceResult } from '../../src/tracker/announce.js';
import { createContext, type TrackerContext } from '../../src/tracker/context.js';
import { scrape } from '../../src/tracker/scrape.js';

/** Percent-encodes every byte: what a careful client sends for binary values. */
export function encodeBytes(bytes: Buffer | string): string {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  let out = '';
  for (const b of buf) out += `%${b.toString(16).padStart(2, '0')}`;
  return out;
}

export function hash(n: number): Buffer {
  const buf = Buffer.alloc(20, 0xab);
  buf.writeUInt32BE(n, 16);
  return buf;
}

export function peerIdOf(prefix: string, n: number): string {
  const suffix = String(n).padStart(20 - prefix.length, '0');
  return prefix + suffix;
}

export interface AnnounceParams {
  infoHash?: Buffer | null;
  peerId?: string | null;
  port?: number | string | null;
  uploaded?: number | string | null;
  downloaded?: number | string | null;
  left?: number | string | null;
  event?: string;
  numwant?: number;
  compact?: string;
  noPeerId?: boolean;
  ip?: string;
  extra?: string;
}

/** Builds `?info_hash=...&...`; a null field is left out. */
export function announceQuery(p: AnnounceParams): string {
  const parts: string[] = [];
  if (p.infoHash !== null) parts.push(`info_hash=${encodeBytes(p.infoHash ?? hash(1))}`);
  if (p.peerId !== null) parts.push(`peer_id=${encodeBytes(p.peerId ?? '-TR3000-000000000001')}`);
  if (p.port !== null) parts.push(`port=${p.port ?? 51413}`);
  if (p.uploaded !== null) parts.push(`uploaded=${p.uploaded ?? 0}`);
  if (p.downloaded !== null) parts.push(`downloaded=${p.downloaded ?? 0}`);
  if (p.left !== null) parts.push(`left=${p.left ?? 0}`);
  if (p.event !== undefined) parts.push(`event=${p.event}`);
  if (p.numwant !== undefined) parts.push(`numwant=${p.numwant}`);
  if (p.compact !== undefined) parts.push(`compact=${p.compact}`);
  if (p.noPeerId) parts.push('no_peer_id=1');
  if (p.ip !== undefined) parts.push(`ip=${p.ip}`);
  if (p.extra !== undefined) parts.push(p.extra);
  return `?${parts.join('&')}`;
}

export const PASSKEY = 'p'.repeat(32);

export interface Harness {
  store: Store;
  config: Config;
  accounting: MemoryAccounting;
  recorded: unknown[][];
  ctx: TrackerContext;
  user: User;
  torrent: Torrent;
  addUser(id: number, fields?: Partial<User>): User;
  addTorrent(id: number, fields?: Partial<Torrent>): Torrent;
  announce(params: AnnounceParams, options?: { passkey?: string; now?: number; socket?: string; proxy?: string }): AnnounceResult;
  scrape(rawQuery: string, passkey?: string): Buffer;
}

/** A store with one user (ID 1, PASSKEY), one live torrent (ID 1, hash(1)) and the real clients' prefixes. */
export function harness(configure: (config: Config) => void = () => undefined, random: () => number = Math.random): Harness {
  const store = new Store();
  // As after a first database load: an unknown passkey is then invalid, not "not ready".
  store.loadedFrom = 'database';
  const config = defaultConfig();
  configure(config);
  const accounting = new MemoryAccounting();
  const recorded: unknown[][] = [];
  const recorder: AnnounceRecorder = { record: (...args) => void recorded.push(args) };
  const ctx = createContext({ store, config, accounting, recorder, random });
  store.approvedClients = [
    { id: 1, prefix: '-TR' },
    { id: 2, prefix: '-qB' },
    { id: 3, prefix: '-DE' },
    { id: 4, prefix: '-lt' },
    { id: 5, prefix: 'A2-' },
  ];
  const addUser = (id: number, fields: Partial<User> = {}): User => {
    const user: User = {
      id,
      passkey: id === 1 ? PASSKEY : `user${id}`.padEnd(32, 'x'),
      upMultiplier: 1,
      downMultiplier: 1,
      disableDownload: false,
      trackerHide: false,
      ...fields,
    };
    store.users.set(user.passkey, user);
    return user;
  };
  const addTorrent = (id: number, fields: Partial<Torrent> = {}): Torrent => {
    const torrent = newTorrent({
      id,
      infoHash: hash(id).toString('latin1'),
      groupId: 100 + id,
      type: 'anime',
      ...fields,
    });
    store.torrents.set(torrent.infoHash, torrent);
    return torrent;
  };
  const user = addUser(1);
  const torrent = addTorrent(1);
  return {
    store,
    config,
    accounting,
    recorded,
    ctx,
    user,
    torrent,
    addUser,
    addTorrent,
    announce: (params, options = {}) =>
      announce(
        ctx,
        {
          passkey: options.passkey ?? PASSKEY,
          query: parseTrackerQuery(`/${options.passkey ?? PASSKEY}/announce${announceQuery(params)}`),
          proxyAddress: options.proxy,
          socketAddress: options.socket ?? '8.8.4.4',
        },
        options.now ?? 1_700_000_000,
      ),
    scrape: (rawQuery, passkey = PASSKEY) => scrape(ctx, passkey, parseTrackerQuery(`/x/scrape${rawQuery}`)).body,
  };
}

export const text = (body: Buffer): string => body.toString('latin1');

/** The bencoded failure a client must get, spelled out by hand (interval left out when 0). */
export const failure = (reason: string, interval: number): string =>
  `d14:failure reason${reason.length}:${reason}${interval ? `8:intervali${interval}e` : ''}e`;
