import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { CsvRecorder, eventFileName } from '../src/recorder/csv-recorder.js';
import { ipFromString } from '../src/store/peer.js';

const HEADER = 'TorrentID,UserID,Addr,Event,Uploaded,Downloaded,Left';
/** 2024-05-01 10:59:59 UTC and the second after it, in unix seconds. */
const AT_10_59_59 = Date.UTC(2024, 4, 1, 10, 59, 59) / 1000;
const AT_11_00_00 = AT_10_59_59 + 1;
const FILE_10 = 'events_2024-05-01T10.csv';
const FILE_11 = 'events_2024-05-01T11.csv';
const IP = ipFromString('10.1.2.3');

let tmp: string;
let metrics: Metrics;
const recorders: CsvRecorder[] = [];

function newRecorder(dir: string, extra: { flushIntervalMs?: number; maxBufferedRows?: number } = {}): CsvRecorder {
  // A long interval by default: tests drive writes with flush()/close(), not the timer.
  const recorder = new CsvRecorder({ dir, logger: silentLogger(), metrics, flushIntervalMs: 3_600_000, ...extra });
  recorders.push(recorder);
  return recorder;
}

async function lines(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

async function counter(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values[0]?.value ?? 0;
}

async function waitFor(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'hayate-recorder-'));
  metrics = new Metrics({ defaultMetrics: false });
});

afterEach(async () => {
  for (const r of recorders.splice(0)) await r.close();
  metrics.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('eventFileName', () => {
  it('names the UTC hour', () => {
    expect(eventFileName(Math.floor(AT_10_59_59 / 3600))).toBe(FILE_10);
    expect(eventFileName(0)).toBe('events_1970-01-01T00.csv');
  });
});

describe('CsvRecorder', () => {
  it('writes the header then one row per announce, creating the folder', async () => {
    const dir = join(tmp, 'events');
    const recorder = newRecorder(dir);
    recorder.record(AT_10_59_59, 7, 42, IP, 51413, 'started', 100, 0, 5000);
    recorder.record(AT_10_59_59, 8, 43, ipFromString('255.255.255.255'), 1, '', 0, 2048, 0);
    recorder.record(AT_10_59_59, 9, 44, ipFromString('0.0.0.1'), 65535, 'completed', 1, 1, 0);
    await recorder.close();

    expect(await readdir(dir)).toEqual([FILE_10]);
    expect(await lines(join(dir, FILE_10))).toEqual([
      HEADER,
      '7,42,10.1.2.3:51413,started,100,0,5000',
      '8,43,255.255.255.255:1,,0,2048,0',
      '9,44,0.0.0.1:65535,completed,1,1,0',
    ]);
    expect(await counter(metrics.recorderRows)).toBe(3);
    expect(await counter(metrics.recorderErrors)).toBe(0);
  });

  it('records nothing for announces without traffic', async () => {
    const recorder = newRecorder(tmp);
    recorder.record(AT_10_59_59, 7, 42, IP, 51413, 'started', 0, 0, 5000);
    recorder.record(AT_10_59_59, 7, 42, IP, 51413, '', 0, 0, 0);
    expect(recorder.buffered()).toBe(0);
    await recorder.close();
    expect(await readdir(tmp)).toEqual([]);
    expect(await counter(metrics.recorderRows)).toBe(0);
  });

  it('puts each row in the file of its announce hour, each file with its header', async () => {
    const recorder = newRecorder(tmp);
    recorder.record(AT_10_59_59, 1, 1, IP, 1000, '', 10, 0, 0);
    recorder.record(AT_11_00_00, 2, 2, IP, 1000, '', 20, 0, 0);
    // Written together, later: still split by the hour the announce happened in.
    recorder.record(AT_10_59_59, 3, 3, IP, 1000, 'stopped', 30, 0, 0);
    await recorder.close();

    expect((await readdir(tmp)).sort()).toEqual([FILE_10, FILE_11]);
    expect(await lines(join(tmp, FILE_10))).toEqual([HEADER, '1,1,10.1.2.3:1000,,10,0,0', '3,3,10.1.2.3:1000,stopped,30,0,0']);
    expect(await lines(join(tmp, FILE_11))).toEqual([HEADER, '2,2,10.1.2.3:1000,,20,0,0']);
  });

  it('appends after a restart within the hour, with one header', async () => {
    const first = newRecorder(tmp);
    first.record(AT_10_59_59 - 60, 1, 1, IP, 1000, 'started', 1, 0, 0);
    await first.close();

    const second = newRecorder(tmp);
    second.record(AT_10_59_59, 2, 2, IP, 1000, '', 2, 0, 0);
    await second.close();

    expect(await lines(join(tmp, FILE_10))).toEqual([HEADER, '1,1,10.1.2.3:1000,started,1,0,0', '2,2,10.1.2.3:1000,,2,0,0']);
  });

  it('writes a header into an empty file left by an earlier run', async () => {
    await writeFile(join(tmp, FILE_10), '');
    const recorder = newRecorder(tmp);
    recorder.record(AT_10_59_59, 1, 1, IP, 1000, '', 1, 0, 0);
    await recorder.close();
    expect(await lines(join(tmp, FILE_10))).toEqual([HEADER, '1,1,10.1.2.3:1000,,1,0,0']);
  });

  it('loses no row recorded while a write is in flight, and close() writes them all', async () => {
    const recorder = newRecorder(tmp);
    const rows = 25_000; // more than one write's worth
    for (let i = 0; i < rows / 2; i++) recorder.record(AT_10_59_59, i, 1, IP, 1000, '', 1, 0, 0);
    const inFlight = recorder.flush();
    for (let i = rows / 2; i < rows; i++) recorder.record(AT_11_00_00, i, 1, IP, 1000, '', 1, 0, 0);
    await recorder.close();
    expect(await inFlight).toBe(true);

    const ten = await lines(join(tmp, FILE_10));
    const eleven = await lines(join(tmp, FILE_11));
    expect(ten[0]).toBe(HEADER);
    expect(eleven[0]).toBe(HEADER);
    const ids = [...ten.slice(1), ...eleven.slice(1)].map((line) => Number(line.split(',')[0]));
    expect(ids).toEqual(Array.from({ length: rows }, (_, i) => i));
    expect(await counter(metrics.recorderRows)).toBe(rows);
    expect(recorder.buffered()).toBe(0);
  });

  it('drains in the background without being asked', async () => {
    const recorder = newRecorder(tmp, { flushIntervalMs: 10 });
    recorder.record(AT_10_59_59, 1, 1, IP, 1000, '', 1, 0, 0);
    await waitFor(() => recorder.buffered() === 0, 'the timer to write the row');
    expect(await lines(join(tmp, FILE_10))).toEqual([HEADER, '1,1,10.1.2.3:1000,,1,0,0']);
  });

  it('counts a failing write, keeps the rows and writes them once the folder works', async () => {
    // The events folder's parent is a regular file: mkdir fails (ENOTDIR), even for root.
    const blocker = join(tmp, 'blocker');
    await writeFile(blocker, 'not a folder');
    const dir = join(blocker, 'events');
    const recorder = newRecorder(dir);
    recorder.record(AT_10_59_59, 1, 1, IP, 1000, 'started', 1, 0, 0);
    recorder.record(AT_11_00_00, 2, 2, IP, 1000, '', 2, 0, 0);

    expect(await recorder.flush()).toBe(false);
    expect(await recorder.flush()).toBe(false);
    expect(await counter(metrics.recorderErrors)).toBe(2);
    expect(await counter(metrics.recorderRows)).toBe(0);
    expect(recorder.buffered()).toBe(2);

    await unlink(blocker);
    await mkdir(blocker);
    expect(await recorder.flush()).toBe(true);
    expect(await lines(join(dir, FILE_10))).toEqual([HEADER, '1,1,10.1.2.3:1000,started,1,0,0']);
    expect(await lines(join(dir, FILE_11))).toEqual([HEADER, '2,2,10.1.2.3:1000,,2,0,0']);
    expect(await counter(metrics.recorderRows)).toBe(2);
    expect(await counter(metrics.recorderErrors)).toBe(2);
  });

  it('survives a full disk (ENOSPC) and writes the rows once there is space', async () => {
    if (!existsSync('/dev/full')) return;
    // The hour's file is a link to /dev/full: open and stat work, every write fails with ENOSPC.
    await symlink('/dev/full', join(tmp, FILE_10));
    const recorder = newRecorder(tmp);
    recorder.record(AT_10_59_59, 1, 1, IP, 1000, '', 1, 0, 0);
    expect(await recorder.flush()).toBe(false);
    expect(await counter(metrics.recorderErrors)).toBe(1);

    await unlink(join(tmp, FILE_10));
    recorder.record(AT_10_59_59, 2, 2, IP, 1000, '', 2, 0, 0);
    await recorder.close();
    expect(await lines(join(tmp, FILE_10))).toEqual([HEADER, '1,1,10.1.2.3:1000,,1,0,0', '2,2,10.1.2.3:1000,,2,0,0']);
  });

  it('bounds the buffer while writes fail, counting the rows it drops', async () => {
    const blocker = join(tmp, 'blocker');
    await writeFile(blocker, '');
    const dir = join(blocker, 'events');
    const recorder = newRecorder(dir, { maxBufferedRows: 3 });
    for (let i = 1; i <= 5; i++) recorder.record(AT_10_59_59, i, 1, IP, 1000, '', 1, 0, 0);
    expect(recorder.buffered()).toBe(3);
    expect(await counter(metrics.recorderDropped)).toBe(2);

    await unlink(blocker);
    await recorder.close();
    const written = await lines(join(dir, FILE_10));
    expect(written.slice(1).map((line) => line.split(',')[0])).toEqual(['1', '2', '3']);
  });

  it('counts rows recorded after close() as dropped', async () => {
    const recorder = newRecorder(tmp);
    await recorder.close();
    recorder.record(AT_10_59_59, 1, 1, IP, 1000, '', 1, 0, 0);
    expect(recorder.buffered()).toBe(0);
    expect(await counter(metrics.recorderDropped)).toBe(1);
  });
});
