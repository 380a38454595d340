import type { RowDataPacket } from 'mysql2/promise';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { AccountingQueues, AccountingThread } from '../src/flush/index.js';
import { createLogger } from '../src/log.js';
import { announceQuery, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';

const live = infoHashBytes(torrents.live);

/**
 * The accounting thread (src/flush/accounting-thread.ts): the queues live on a thread that
 * reads the journal's files. What it must keep: every announce's bytes credited once,
 * whatever happens to the thread, and calls made on the main thread applied in order.
 */
describe('accounting on its own thread', () => {
  let t: RunningTracker | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const announce = async (tracker: RunningTracker, params: AnnounceParams): Promise<void> => {
    const res = await tracker.get(`/${users.normal.passkey}/announce${announceQuery(params)}`);
    expect(res.body.toString('latin1')).not.toContain('failure reason');
  };

  async function rawUp(tracker: RunningTracker): Promise<number> {
    const [rows] = await tracker.db.conn.query<RowDataPacket[]>('SELECT rawup FROM users_main WHERE ID = ?', [users.normal.id]);
    return Number(rows[0]!['rawup']);
  }

  /** The thread itself (to end it as a bug would); undefined between a lost one and its replacement. */
  function threadOf(tracker: RunningTracker): Worker | undefined {
    const accounting = tracker.tracker.accounting;
    expect(accounting).toBeInstanceOf(AccountingThread);
    return (accounting as unknown as { worker: Worker | undefined }).worker;
  }

  /** Ends the running thread and waits for the one that replaces it (after 1 s). */
  async function loseThread(tracker: RunningTracker, meanwhile: () => Promise<void>): Promise<void> {
    const lost = threadOf(tracker)!;
    await lost.terminate();
    await meanwhile();
    await eventually(
      () => {
        const next = threadOf(tracker);
        return next !== undefined && next !== lost ? true : undefined;
      },
      10_000,
      'a new accounting thread',
    );
  }

  it('is what the tracker runs with the journal on (the default)', async () => {
    t = await startTracker();
    expect(t.tracker.accounting).toBeInstanceOf(AccountingThread);
  });

  it('with journal.accounting_thread off, the queues run on the main thread and credit the same bytes', async () => {
    t = await startTracker({ configure: (c) => void (c.journal.accounting_thread = false) });
    const tracker = t;
    expect(tracker.tracker.accounting).toBeInstanceOf(AccountingQueues);
    const start = await rawUp(tracker);
    const peerId = peerIdOf('-TR3000-', 31);
    await announce(tracker, { infoHash: live, peerId, left: 100, uploaded: 0, ip: '8.8.4.4' });
    await announce(tracker, { infoHash: live, peerId, left: 100, uploaded: 7_000, ip: '8.8.4.4' });
    expect((await tracker.tracker.accounting.flushNow()).ok).toBe(true);
    expect(await rawUp(tracker)).toBe(start + 7_000);
  });

  it('credits every byte once when the thread is lost between and during rounds', async () => {
    // No background rounds: only flushNow() and the replacement thread write.
    t = await startTracker({ configure: (c) => void (c.intervals.flush = 3600) });
    const tracker = t;
    await tracker.tracker.accounting.flushNow();
    const start = await rawUp(tracker);
    const peerId = peerIdOf('-TR3000-', 41);
    let uploaded = 0;
    const step = async (bytes: number): Promise<void> => {
      uploaded += bytes;
      await announce(tracker, { infoHash: live, peerId, left: 100, uploaded, ip: '8.8.4.1' });
    };
    await step(0);
    await step(1_000);
    expect((await tracker.tracker.accounting.flushNow()).ok).toBe(true);
    expect(await rawUp(tracker)).toBe(start + 1_000);

    // Lost with records queued and not flushed: the new thread reads them again from the journal.
    await step(20_000);
    await eventually(() => (tracker.tracker.accounting.depths().users === 1 ? true : undefined), 10_000, 'the thread read the announce');
    // The replacement reads on from the positions the database holds.
    await loseThread(tracker, () => step(300_000));
    expect((await tracker.tracker.accounting.flushNow()).ok).toBe(true);
    expect(await rawUp(tracker)).toBe(start + 321_000);

    // Lost again right after a flush committed: nothing it wrote is written twice.
    await step(4_000_000);
    expect((await tracker.tracker.accounting.flushNow()).ok).toBe(true);
    await loseThread(tracker, () => step(50_000_000));
    expect((await tracker.tracker.accounting.flushNow()).ok).toBe(true);
    expect(await rawUp(tracker)).toBe(start + 54_321_000);
  });

  it('logs an SQL error met on the thread as the main thread would (type, message, code), then that writing works again; the bytes once', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info' }, { write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    t = await startTracker({ configure: (c) => void (c.intervals.flush = 3600), tracker: { logger } });
    const tracker = t;
    await tracker.tracker.accounting.flushNow();
    const start = await rawUp(tracker);
    const historyUp = async (): Promise<number> => {
      const [rows] = await tracker.db.conn.query<RowDataPacket[]>(
        'SELECT COALESCE(SUM(uploaded), 0) AS up FROM transfer_history WHERE uid = ? AND fid = ?',
        [users.normal.id, torrents.live.id],
      );
      return Number(rows[0]!['up']);
    };
    const historyStart = await historyUp();
    const peerId = peerIdOf('-TR3000-', 61);
    await tracker.db.conn.query('RENAME TABLE transfer_history TO transfer_history_away');
    try {
      await announce(tracker, { infoHash: live, peerId, left: 100, uploaded: 0, ip: '8.8.4.5' });
      await announce(tracker, { infoHash: live, peerId, left: 100, uploaded: 5_000, ip: '8.8.4.5' });
      await eventually(
        () => (tracker.tracker.accounting.depths().transfer_history === 1 ? true : undefined),
        10_000,
        'the thread read the announces',
      );
      expect((await tracker.tracker.accounting.flushNow()).ok).toBe(false);
      const failed = await eventually(
        () => lines.find((l) => l['msg'] === 'flush failed; records stay queued' && l['queue'] === 'transfer_history'),
        10_000,
        'the failure logged',
      );
      // Forwarded from the thread: not {"type":"Object", "stack":""}, and the code kept.
      expect(failed['err']).toEqual({
        type: 'Error',
        message: expect.stringContaining('transfer_history') as unknown,
        code: 'ER_NO_SUCH_TABLE',
        errno: 1146,
        sqlState: '42S02',
      });
      expect(failed['level']).toBe(50);
    } finally {
      await tracker.db.conn.query('RENAME TABLE transfer_history_away TO transfer_history');
    }
    expect((await tracker.tracker.accounting.flushNow()).ok).toBe(true);
    await eventually(
      () => lines.find((l) => String(l['msg']).startsWith('flush: writing again') && l['queue'] === 'transfer_history'),
      10_000,
      'the recovery logged',
    );
    expect(await historyUp()).toBe(historyStart + 5_000);
    expect(await rawUp(tracker)).toBe(start + 5_000);
  });

  it("applies the purge's torrent counts after the announces made before it", async () => {
    t = await startTracker({ configure: (c) => void (c.intervals.flush = 3600) });
    const tracker = t;
    await tracker.tracker.accounting.flushNow();
    await announce(tracker, { infoHash: live, peerId: peerIdOf('-TR3000-', 51), left: 0, ip: '8.8.4.2' });
    await announce(tracker, { infoHash: live, peerId: peerIdOf('-TR3000-', 52), left: 10, ip: '8.8.4.3' });
    // Both announces queued Seeders/Leechers = 1/1 for the torrent; the purge (every peer
    // inactive by then) queues 0/0 after them, and the last value must win.
    const later = Math.floor(Date.now() / 1000) + tracker.tracker.config.intervals.peer_inactivity + 60;
    expect((await tracker.tracker.purge.runOnce(later)).purgedPeers).toBe(2);
    expect((await tracker.tracker.accounting.flushNow()).ok).toBe(true);
    const [rows] = await tracker.db.conn.query<RowDataPacket[]>('SELECT Seeders, Leechers FROM torrents WHERE ID = ?', [torrents.live.id]);
    expect(rows.map((r) => [Number(r['Seeders']), Number(r['Leechers'])])).toEqual([[0, 0]]);
  });
});
