/**
 * The announce path without the network: parse the raw target, announce,
 * encode — what a request costs in the tracker's own code. Accounting goes to a
 * sink that drops it (the queues are measured end to end by run.ts).
 *   node dist/bench/announce-micro.js [seconds=5] [ipv6]
 * `ipv6`: announce.ipv6 on, every peer a dual-stack client whose announces alternate
 * between an IPv4 and an IPv6 address (docs/ipv6.md).
 */
import type { AccountingSink } from '../src/accounting/sink.js';
import { defaultConfig } from '../src/config/config.js';
import { parseTrackerQuery } from '../src/protocol/query.js';
import { noRecorder } from '../src/recorder/recorder.js';
import { Store } from '../src/store/store.js';
import { newTorrent } from '../src/store/types.js';
import { announce } from '../src/tracker/announce.js';
import { createContext } from '../src/tracker/context.js';
import { makePeers, nextRequest, prng } from './loadgen.js';
import { BENCH_CLIENTS, infoHashOf, passkeyOf } from './site.js';

const seconds = Number(process.argv[2] ?? 5);
const users = 10_000;
const torrents = 10_000;
const store = new Store();
for (let id = 1; id <= users; id++) {
  const passkey = passkeyOf(id);
  store.users.set(passkey, { id, passkey, upMultiplier: 1, downMultiplier: 1, disableDownload: false, trackerHide: false });
}
for (let id = 1; id <= torrents; id++) {
  const t = newTorrent({
    id,
    infoHash: infoHashOf(id).toString('latin1'),
    groupId: id,
    type: 'anime',
  });
  store.torrents.set(t.infoHash, t);
}
store.approvedClients = BENCH_CLIENTS.map((prefix, i) => ({ id: i + 1, prefix }));
const noop = (): void => undefined;
const accounting: AccountingSink = {
  user: noop,
  torrent: noop,
  transferHistory: noop,
  transferIp: noop,
  transferIp6: noop,
  snatch: noop,
  revive: noop,
};
const ipv6 = process.argv[3] === 'ipv6';
const config = defaultConfig();
config.announce.ipv6 = ipv6;
const ctx = createContext({ store, config, accounting, recorder: noRecorder });
const random = prng(7);
const peers = makePeers(
  {
    host: '',
    port: 0,
    paths: 'passkey',
    connections: 1,
    warmup: 0,
    duration: 0,
    users,
    torrents,
    peers: 20_000,
    hotShare: 0.5,
    scrapeShare: 0,
    seed: 1,
  },
  random,
);

/** With `ipv6`, peer k announces from 2a00:1234::k on every other pass over the peers, from 127.0.0.1 on the others. */
const ipv6Addresses = peers.map((_, k) => `2a00:1234::${k.toString(16)}`);

function once(i: number): number {
  const raw = nextRequest(peers[i % peers.length]!, random);
  const target = raw.slice(4, raw.indexOf(' HTTP/1.1'));
  const passkey = target.slice(1, 33);
  const result = announce(
    ctx,
    {
      passkey,
      query: parseTrackerQuery(target),
      proxyAddress: undefined,
      socketAddress: ipv6 && ((i / peers.length) | 0) % 2 === 1 ? ipv6Addresses[i % peers.length]! : '127.0.0.1',
    },
    1_700_000_000 + (i >> 12),
  );
  if (result.failed) throw new Error(result.body.toString('latin1'));
  return result.body.length;
}

for (let i = 0; i < 200_000; i++) once(i); // warm up, fill the swarms
let n = 0;
const cpu0 = process.cpuUsage();
const started = process.hrtime.bigint();
const deadline = started + BigInt(seconds * 1e9);
while (process.hrtime.bigint() < deadline) for (let k = 0; k < 1000; k++) once(n++);
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
// CPU time, not wall time: on a shared machine the wall clock also counts other processes.
process.stdout.write(
  `${JSON.stringify({ announces: n, seconds: elapsed, cpuSeconds, perCpuSecond: Math.round(n / cpuSeconds), cpuUsPerAnnounce: Math.round((cpuSeconds / n) * 1e7) / 10, peers: store.peerCount() })}\n`,
);
