/**
 * The differential suite: the real chihaya (CHIHAYA_BIN, or ../shared/reference/chihaya/
 * chihaya beside the repo) and hayate (dist/) run side by side on two databases loaded
 * with the same schema and fixtures, get the same raw requests (test/differential/steps.ts)
 * one after the other, are stopped with SIGTERM (both flush), and then are compared:
 * answers (failure reasons, counts, peer sets — chihaya randomises the interval's drift and
 * the peers' order, so those are checked as rules), every column of users_main, torrents,
 * transfer_history and transfer_ips, the events CSVs, and the cache files; then each is
 * restarted on the other's cache files and asked again.
 *
 * A documented difference (README "Differences from chihaya") is a step with `documented`:
 * its check asserts each side's own behaviour. Anything else that differs fails the suite.
 * Skipped, with a message, where the chihaya binary is absent.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadFixtures } from '../../fixtures/load.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { CHIHAYA_BIN, haveChihaya, missingMessage } from '../helpers/chihaya.js';
import { normalise, type Normalised } from './answers.js';
import { diffCaches, diffTables, readEvents, readTables } from './state.js';
import { phaseOne, phaseTwo, type Step } from './steps.js';
import { chihayaDsn, TrackerProcess } from './trackers.js';

if (!haveChihaya) console.warn(`differential suite ${missingMessage('tracker binary', CHIHAYA_BIN)}`);

const INTERVALS = { announce: 1800, drift: 300, minAnnounce: 900 };

interface Side {
  db: TestDatabase;
  dir: string;
  tracker: TrackerProcess;
}

/** Sends every step to chihaya then hayate; returns one line per difference found. */
async function run(steps: Step[], chihaya: TrackerProcess, hayate: TrackerProcess): Promise<string[]> {
  const found: string[] = [];
  for (const step of steps) {
    const c = normalise(await chihaya.send(step.target, step.headers), INTERVALS);
    const h = normalise(await hayate.send(step.target, step.headers), INTERVALS);
    for (const [side, n] of [['chihaya', c], ['hayate', h]] as const) {
      for (const b of n.broken ?? []) found.push(`${step.label}: ${side}: ${b}`);
    }
    if (step.documented) {
      try {
        step.documented(c, h);
      } catch (err) {
        found.push(`${step.label}: not as documented: ${(err as Error).message.split('\n')[0]} (chihaya ${show(c)}, hayate ${show(h)})`);
      }
    } else if (show(c) !== show(h)) {
      found.push(`${step.label}: chihaya ${show(c)} hayate ${show(h)}`);
    }
  }
  return found;
}

function show(n: Normalised): string {
  const { broken: _broken, ...rest } = n;
  return JSON.stringify(rest);
}

describe.skipIf(!haveChihaya)('differential: chihaya and hayate on the same requests', () => {
  const sides = {} as Record<'chihaya' | 'hayate', Side>;

  beforeAll(async () => {
    const rootUrl = inject('dbRootUrl');
    for (const name of ['chihaya', 'hayate'] as const) {
      const db = await createTestDatabase(`hayate_diff_${name}`);
      await loadFixtures(db.conn);
      const dir = await mkdtemp(join(tmpdir(), `hayate-diff-${name}-`));
      sides[name] = { db, dir, tracker: new TrackerProcess(name, dir, chihayaDsn(rootUrl, db.name)) };
    }
    await Promise.all([sides.chihaya.tracker.start(), sides.hayate.tracker.start()]);
  });

  afterAll(async () => {
    for (const side of Object.values(sides)) {
      await side.tracker.stop().catch(() => undefined);
      await side.db.drop().catch(() => undefined);
      await rm(side.dir, { recursive: true, force: true });
    }
  });

  const stopBoth = async () => {
    const codes = await Promise.all([sides.chihaya.tracker.stop(), sides.hayate.tracker.stop()]);
    expect(codes, `exit codes; hayate's output:\n${sides.hayate.tracker.output}`).toEqual([0, 0]);
  };

  it(`phase 1: ${phaseOne().length} requests get the same answers`, async () => {
    expect(await run(phaseOne(), sides.chihaya.tracker, sides.hayate.tracker)).toEqual([]);
  });

  it('phase 1: after SIGTERM, the same rows in users_main, torrents, transfer_history, transfer_ips', async () => {
    await stopBoth();
    expect(diffTables(await readTables(sides.chihaya.db.conn), await readTables(sides.hayate.db.conn))).toEqual([]);
  });

  it('phase 1: the same events CSV rows', async () => {
    const c = await readEvents(sides.chihaya.dir);
    const h = await readEvents(sides.hayate.dir);
    expect(c.rows.length).toBeGreaterThan(10);
    expect(h.headers).toEqual(c.headers);
    expect(h.rows).toEqual(c.rows);
  });

  it('phase 1: the same cache files', async () => {
    expect(await diffCaches(sides.chihaya.dir, sides.hayate.dir)).toEqual([]);
  });

  it(`phase 2: each restarted on the other's cache files (global freeleech on): ${phaseTwo().length} requests get the same answers`, async () => {
    for (const file of ['torrent-cache.bin', 'user-cache.bin']) {
      await copyFile(join(sides.chihaya.dir, file), join(sides.chihaya.dir, `${file}.own`));
      await copyFile(join(sides.hayate.dir, file), join(sides.chihaya.dir, file));
      await copyFile(join(sides.chihaya.dir, `${file}.own`), join(sides.hayate.dir, file));
    }
    for (const side of Object.values(sides)) await side.db.conn.query("UPDATE mod_core SET mod_setting = 1 WHERE mod_option = 'global_freeleech'");
    await Promise.all([sides.chihaya.tracker.start(), sides.hayate.tracker.start()]);
    expect(await run(phaseTwo(), sides.chihaya.tracker, sides.hayate.tracker)).toEqual([]);
  });

  it('phase 2: after SIGTERM, the same rows and events again', async () => {
    await stopBoth();
    expect(diffTables(await readTables(sides.chihaya.db.conn), await readTables(sides.hayate.db.conn))).toEqual([]);
    const c = await readEvents(sides.chihaya.dir);
    expect((await readEvents(sides.hayate.dir)).rows).toEqual(c.rows);
  });
});
