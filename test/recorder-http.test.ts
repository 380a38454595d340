import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { announceQuery, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { startTracker } from './helpers/tracker.js';

/** 2024-06-01T13:05:00Z: the tracker's clock, so the rows belong to events_2024-06-01T13.csv. */
const AT = Date.UTC(2024, 5, 1, 13, 5, 0);
const FILE = 'events_2024-06-01T13.csv';

describe('announce recorder wired into the tracker (record_announces)', () => {
  it('writes a row per announce with traffic to the hour file, none for announces without', async () => {
    const t = await startTracker({
      configure: (c) => (c.record_announces = true),
      tracker: { clock: () => AT },
    });
    const live = infoHashBytes(torrents.live);
    const music = infoHashBytes(torrents.liveMusic);
    const announce = async (passkey: string, params: AnnounceParams): Promise<string> =>
      (await t.get(`/${passkey}/announce${announceQuery(params)}`)).body.toString('latin1');
    try {
      // No traffic yet: no rows.
      expect(
        await announce(users.normal.passkey, {
          infoHash: live,
          peerId: peerIdOf('-TR3000-', 1),
          left: 1000,
          event: 'started',
          ip: '8.8.8.8',
          port: 51413,
        }),
      ).not.toContain('failure');
      expect(
        await announce(users.other.passkey, { infoHash: music, peerId: peerIdOf('-qB4650-', 2), left: 0, ip: '9.9.9.9', port: 6881 }),
      ).not.toContain('failure');
      // Traffic: rows.
      expect(
        await announce(users.normal.passkey, {
          infoHash: live,
          peerId: peerIdOf('-TR3000-', 1),
          left: 600,
          uploaded: 100,
          downloaded: 400,
          ip: '8.8.8.8',
          port: 51413,
        }),
      ).not.toContain('failure');
      expect(
        await announce(users.other.passkey, {
          infoHash: music,
          peerId: peerIdOf('-qB4650-', 2),
          left: 0,
          uploaded: 2048,
          ip: '9.9.9.9',
          port: 6881,
        }),
      ).not.toContain('failure');
      expect(
        await announce(users.normal.passkey, {
          infoHash: live,
          peerId: peerIdOf('-TR3000-', 1),
          left: 0,
          uploaded: 150,
          downloaded: 1000,
          event: 'completed',
          ip: '8.8.8.8',
          port: 51413,
        }),
      ).not.toContain('failure');
      // A failed announce with traffic (unknown passkey) is not recorded.
      expect(await announce('x'.repeat(32), { infoHash: live, uploaded: 5, downloaded: 5 })).toContain('failure');
      // Before stop, the file may or may not be written yet (a timer drains the buffer); stop writes the rest.
      await t.tracker.stop(10_000);
      const events = join(t.dir, 'events');
      expect(readdirSync(events)).toEqual([FILE]);
      expect(readFileSync(join(events, FILE), 'utf8').split('\n')).toEqual([
        'TorrentID,UserID,Addr,Event,Uploaded,Downloaded,Left',
        `${torrents.live.id},${users.normal.id},8.8.8.8:51413,,100,400,600`,
        `${torrents.liveMusic.id},${users.other.id},9.9.9.9:6881,,2048,0,0`,
        `${torrents.live.id},${users.normal.id},8.8.8.8:51413,completed,150,1000,0`,
        '',
      ]);
    } finally {
      await t.close();
    }
  });

  it('writes no file when record_announces is off', async () => {
    const t = await startTracker({ tracker: { clock: () => AT } });
    try {
      const body = await t.get(
        `/${users.normal.passkey}/announce${announceQuery({ infoHash: infoHashBytes(torrents.live), left: 10, uploaded: 1, ip: '8.8.8.8' })}`,
      );
      expect(body.body.toString('latin1')).not.toContain('failure');
      expect(t.tracker.recorder).toBeUndefined();
      await t.tracker.stop(10_000);
      expect(existsSync(join(t.dir, 'events'))).toBe(false);
    } finally {
      await t.close();
    }
  });
});
