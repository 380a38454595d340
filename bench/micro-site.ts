/**
 * The in-process site the announce micro-benchmarks share (announce-micro, journal-cost):
 * a store of generated users and torrents, the load generator's virtual peers, and one
 * announce of theirs through the tracker's own code (no network).
 */
import type { AccountingSink } from '../src/accounting/sink.js';
import { parseTrackerQuery } from '../src/protocol/query.js';
import { Store } from '../src/store/store.js';
import { newTorrent } from '../src/store/types.js';
import { announce } from '../src/tracker/announce.js';
import type { TrackerContext } from '../src/tracker/context.js';
import { makePeers, nextRequest, type VirtualPeer } from './loadgen.js';
import { BENCH_CLIENTS, infoHashOf, passkeyOf } from './site.js';

const noop = (): void => undefined;

/** Accounting that goes nowhere: the queues are measured end to end by run.ts. */
export const droppedAccounting: AccountingSink = {
  user: noop,
  torrent: noop,
  transferHistory: noop,
  transferIp: noop,
  transferIp6: noop,
  snatch: noop,
  revive: noop,
};

/** `users` users and `torrents` torrents as bench/site.ts generates them, with the bench's approved clients. */
export function microStore(users: number, torrents: number): Store {
  const store = new Store();
  for (let id = 1; id <= users; id++) {
    const passkey = passkeyOf(id);
    store.users.set(passkey, { id, passkey, upMultiplier: 1, downMultiplier: 1, disableDownload: false, trackerHide: false });
  }
  for (let id = 1; id <= torrents; id++) {
    const t = newTorrent({ id, infoHash: infoHashOf(id).toString('latin1'), groupId: id, type: 'anime' });
    store.torrents.set(t.infoHash, t);
  }
  store.approvedClients = BENCH_CLIENTS.map((prefix, i) => ({ id: i + 1, prefix }));
  return store;
}

/** The load generator's 20,000 virtual peers over that site (half of them in the hottest torrents). */
export function microPeers(users: number, torrents: number, random: () => number): VirtualPeer[] {
  const options = {
    host: '',
    port: 0,
    paths: 'passkey',
    connections: 1,
    warmup: 0,
    duration: 0,
    scrapeShare: 0,
    rate: 0,
    seed: 1,
  } as const;
  return makePeers({ ...options, users, torrents, peers: 20_000, hotShare: 0.5 }, random);
}

/** `peer`'s next announce, answered at unix second `now` from `socketAddress`; throws on a failure answer. Returns the body's length (bytes). */
export function announceNext(ctx: TrackerContext, peer: VirtualPeer, random: () => number, now: number, socketAddress: string): number {
  const raw = nextRequest(peer, random);
  const target = raw.slice(4, raw.indexOf(' HTTP/1.1'));
  const result = announce(
    ctx,
    { passkey: target.slice(1, 33), query: parseTrackerQuery(target), proxyAddress: undefined, socketAddress },
    now,
  );
  if (result.failed) throw new Error(result.body.toString('latin1'));
  return result.body.length;
}
