/**
 * The announce path without the network: parse the raw target, announce,
 * encode — what a request costs in the tracker's own code. Accounting goes to a
 * sink that drops it (the queues are measured end to end by run.ts).
 *   node dist/bench/announce-micro.js [seconds=5] [ipv6]
 * `ipv6`: announce.ipv6 on, every peer a dual-stack client whose announces alternate
 * between an IPv4 and an IPv6 address (docs/ipv6.md).
 */
import { defaultConfig } from '../src/config/config.js';
import { noRecorder } from '../src/recorder/recorder.js';
import { createContext } from '../src/tracker/context.js';
import { prng } from './loadgen.js';
import { announceNext, droppedAccounting, microPeers, microStore } from './micro-site.js';

const seconds = Number(process.argv[2] ?? 5);
const users = 10_000;
const torrents = 10_000;
const store = microStore(users, torrents);
const ipv6 = process.argv[3] === 'ipv6';
const config = defaultConfig();
config.announce.ipv6 = ipv6;
const ctx = createContext({ store, config, accounting: droppedAccounting, recorder: noRecorder });
const random = prng(7);
const peers = microPeers(users, torrents, random);

/** With `ipv6`, peer k announces from 2a00:1234::k on every other pass over the peers, from 127.0.0.1 on the others. */
const ipv6Addresses = peers.map((_, k) => `2a00:1234::${k.toString(16)}`);

function once(i: number): number {
  const from = ipv6 && ((i / peers.length) | 0) % 2 === 1 ? ipv6Addresses[i % peers.length]! : '127.0.0.1';
  return announceNext(ctx, peers[i % peers.length]!, random, 1_700_000_000 + (i >> 12), from);
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
