/**
 * What the crash journal costs per announce (docs/crash-safety.md): the announce
 * path without the network (as announce-micro), accounting to a sink that drops
 * it, with the journal off, on, and on with fdatasync. Each "turn" of TURN
 * announces ends with the journal's one write (and sync), as the event loop's
 * turn does under load. Modes interleave, ROUNDS times (the shared machine drifts).
 *   node dist/bench/journal-cost.js [seconds=4] [turn=16] [rounds=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../src/config/config.js';
import { Journal } from '../src/journal/index.js';
import { silentLogger } from '../src/log.js';
import { noRecorder } from '../src/recorder/recorder.js';
import { createContext } from '../src/tracker/context.js';
import { prng } from './loadgen.js';
import { announceNext, droppedAccounting as dropped, microPeers, microStore } from './micro-site.js';

const seconds = Number(process.argv[2] ?? 4);
const TURN = Number(process.argv[3] ?? 16);
const ROUNDS = Number(process.argv[4] ?? 3);
const users = 10_000;
const torrents = 10_000;
const store = microStore(users, torrents);
const config = defaultConfig();
const random = prng(7);
const peers = microPeers(users, torrents, random);
const dir = mkdtempSync(join(tmpdir(), 'hayate-journal-cost-'));

type Mode = 'off' | 'journal' | 'journal+fdatasync';

function measure(mode: Mode, round: number): Record<string, number | string> {
  const journal =
    mode === 'off'
      ? undefined
      : new Journal(dropped, {
          dir: join(dir, `${mode}-${round}`),
          fdatasync: mode === 'journal+fdatasync',
          segmentBytes: 1 << 30,
          logger: silentLogger(),
        });
  journal?.start(1);
  const ctx = createContext({ store, config, accounting: journal ?? dropped, recorder: noRecorder });
  let i = 0;
  const once = (): void => {
    announceNext(ctx, peers[i % peers.length]!, random, 1_700_000_000 + (i >> 12), '127.0.0.1');
    i++;
  };
  for (let k = 0; k < 50_000; k++) once(); // warm up
  journal?.writeNow();
  const stats0 = { ...journal?.stats };
  const n0 = i;
  const cpu0 = process.cpuUsage();
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < deadline) {
    for (let k = 0; k < TURN; k++) once();
    journal?.writeNow(); // the turn's one write (+ fdatasync)
  }
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const n = i - n0;
  const bytes = (journal?.stats.bytesWritten ?? 0) - (stats0.bytesWritten ?? 0);
  journal?.close();
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    mode,
    announces: n,
    cpuUsPerAnnounce: Math.round((cpuSeconds / n) * 1e8) / 100,
    wallUsPerAnnounce: Math.round((wall / n) * 1e8) / 100,
    bytesPerAnnounce: Math.round((bytes / n) * 10) / 10,
    writesPerSecond: Math.round(((journal?.stats.writes ?? 0) - (stats0.writes ?? 0)) / wall),
    syncsPerSecond: Math.round(((journal?.stats.syncs ?? 0) - (stats0.syncs ?? 0)) / wall),
  };
}

const rows: Record<string, number | string>[] = [];
for (let round = 0; round < ROUNDS; round++)
  for (const mode of ['off', 'journal', 'journal+fdatasync'] as Mode[]) rows.push(measure(mode, round));
for (const row of rows) process.stdout.write(`${JSON.stringify({ turn: TURN, ...row })}\n`);
rmSync(dir, { recursive: true, force: true });
