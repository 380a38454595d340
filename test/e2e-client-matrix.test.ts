/**
 * The clients private-tracker users run (issue 14): for each of qBittorrent, Deluge,
 * rTorrent and libtorrent-rasterbar, a seeder and a leecher of two site users move a file
 * through hayate, the leecher is paused and resumed (all but rTorrent: see below) and restarted
 * mid-download, and then
 * the database must show each byte once: credited and raw transfer per multiplier, one
 * snatch, both peers stopped and gone, seeders and leechers back to 0. What each client
 * really sends is recorded and checked to be handled. (aria2 and Transmission:
 * e2e-clients.test.ts.)
 *
 * Every swarm runs on this machine's own interface address, not loopback: libtorrent
 * refuses trackers on 127.0.0.1 whose path is not /announce, and the clients are set to
 * keep to the tracker (no DHT, LSD, PEX). scripts/test.sh installs the clients from Debian.
 *
 * rTorrent 0.9.8 seeds to rTorrent without a pause or a restart: stopped and started again
 * (d.stop, d.start) or restarted from its session mid-download, it announces event=started
 * with the right `left` and is handed its seeder, but an rTorrent seeder does not take back
 * a leecher that left it (not within three minutes, the longest tried), and a libtorrent
 * seeder drops it ("upload to upload connection": it tells its peers it has nothing to
 * download). The tracker's side of a pause or a restart is the same for every client and is
 * covered by the other three; rTorrent's own trait that matters here, never saying
 * `completed`, is covered.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTrackerQuery } from '../src/protocol/query.js';
import { nonLoopbackIPv4 } from './helpers/bt-clients.js';
import { FAMILY_BINARIES, startClient, type ClientFamily, type RunningClient } from './helpers/bt-drivers.js';
import {
  expectAccounted,
  expectParametersHandled,
  leecherUser,
  publish,
  seederUser,
  startSite,
  swarmOf,
  type OnFinished,
  type Site,
  type SiteUser,
} from './helpers/e2e-site.js';
import { eventually } from './helpers/tracker.js';

/** The first `event=` in `announces` of `user` from index `from` on (undefined: none yet). */
function indexOfEvent(s: Site, user: SiteUser, event: string, from: number): number | undefined {
  for (let i = from; i < s.announces.length; i++) {
    const a = s.announces[i]!;
    if (a.passkey === user.passkey && a.params.get('event') === event) return i;
  }
  return undefined;
}

async function throughPauseAndRestart(onFinished: OnFinished, family: ClientFamily): Promise<void> {
  const host = nonLoopbackIPv4();
  if (host === undefined) throw new Error('no non-loopback IPv4 interface for the clients to announce on');
  const startedAt = Math.floor(Date.now() / 1000);
  const clients: RunningClient[] = [];
  onFinished(async () => {
    for (const c of clients) await c.kill();
  });
  const s = await startSite(onFinished, host, FAMILY_BINARIES[family]);
  const published = await publish(s);
  const torrent = () => swarmOf(s, published.infoHash);
  const infoHash = published.infoHash.toString('hex');

  // The seeder is throttled so that the download lasts long enough to pause and restart it.
  const seeder = await startClient(family, {
    name: `${family} seeder`,
    home: join(s.dir, 'seeder-home'),
    saveDir: published.seedDir,
    torrentFile: published.seederTorrent,
    infoHash,
    uploadLimitKiB: 64,
  });
  clients.push(seeder);
  await eventually(() => (torrent().seeders.size === 1 ? true : undefined), 60_000, `the ${family} seeder in the swarm`);

  const leecher = await startClient(family, {
    name: `${family} leecher`,
    home: join(s.dir, 'leecher-home'),
    saveDir: published.leechDir,
    torrentFile: published.leecherTorrent,
    infoHash,
    uploadLimitKiB: 0,
  });
  clients.push(leecher);
  const size = published.payload.length;
  /**
   * rTorrent's user stops the torrent (^S: event=stopped), then quits. Quitting with the
   * torrent running also announces the stop, but rTorrent gives that request only a moment
   * before it exits, which a loaded machine may not meet. The driver sends the stop once
   * rTorrent runs the torrent with its finish confirmed: a stop during rTorrent's check of a
   * just-finished download is never announced (see the driver's `stoppable`).
   */
  const stopThenQuit = async (client: RunningClient, user: SiteUser): Promise<void> => {
    const mark = s.announces.length;
    await client.pause();
    await eventually(() => indexOfEvent(s, user, 'stopped', mark), 60_000, `${client.name}: event=stopped`);
    await client.quit();
  };
  const progressAbove = (fraction: number, what: string) =>
    eventually(async () => ((await leecher.progress()) > fraction ? true : undefined), 180_000, `${family} leecher: ${what}`);

  // Pause and resume mid-download: event=stopped takes the peer out, event=started brings it back.
  await progressAbove(0.1, 'a tenth downloaded');
  if (family !== 'rtorrent') await pauseAndResume();
  async function pauseAndResume(): Promise<void> {
    const mark = s.announces.length;
    await leecher.pause();
    const stoppedAt = await eventually(
      () => indexOfEvent(s, leecherUser, 'stopped', mark),
      60_000,
      `${family} leecher: event=stopped on pause`,
    );
    const pausedLeft = Number(parseTrackerQuery(s.announces[stoppedAt]!.url).left!);
    expect(pausedLeft).toBeGreaterThan(0);
    expect(pausedLeft).toBeLessThan(size);
    // The relay sees a request before the tracker has answered it: wait for the tracker.
    await eventually(() => (torrent().leechers.size === 0 ? true : undefined), 30_000, `${family} leecher out of the swarm after its stop`);
    await leecher.resume();
    await eventually(() => indexOfEvent(s, leecherUser, 'started', stoppedAt), 60_000, `${family} leecher: event=started on resume`);
  }

  // Restart mid-download: the client quits (event=stopped) and starts again on its folders;
  // its counters start again from where its new session says.
  if (family !== 'rtorrent') await restartMidDownload();
  async function restartMidDownload(): Promise<void> {
    await progressAbove(0.4, 'two fifths downloaded');
    const beforeQuit = s.announces.length;
    await leecher.quit();
    const quitAt = indexOfEvent(s, leecherUser, 'stopped', beforeQuit);
    expect(quitAt, `${family} leecher announced event=stopped when quitting`).toBeDefined();
    const quitLeft = Number(parseTrackerQuery(s.announces[quitAt!]!.url).left!);
    expect(quitLeft).toBeGreaterThan(0);
    await leecher.restart();
    await eventually(
      () => indexOfEvent(s, leecherUser, 'started', quitAt! + 1),
      60_000,
      `${family} leecher: event=started after the restart`,
    );
  }

  // Done: the leecher has the whole file, and reaches left=0 at the tracker (said with
  // `completed` or not): a seeder and one snatch.
  await progressAbove(0.9999, 'the whole file');
  expect(readFileSync(join(published.leechDir, 'payload.bin')).equals(published.payload)).toBe(true);
  if (family === 'rtorrent') {
    // rTorrent 0.9.8 queues its `completed` and says nothing until its next update (half an
    // hour away) or its stop, which carries left=0: the snatch is counted on the stop. (It asks
    // for `completed` while the torrent is closed for its check on completion, and starts it
    // again without a tracker request.)
    expect(torrent().snatched).toBe(0);
    await stopThenQuit(leecher, leecherUser);
    expect(
      s.announces
        .filter((a) => a.passkey === leecherUser.passkey)
        .map((a) => [a.params.get('event'), a.params.get('left')])
        .at(-1),
    ).toEqual(['stopped', '0']);
    expect(s.announces.some((a) => a.passkey === leecherUser.passkey && a.params.get('event') === 'completed')).toBe(false);
    await eventually(() => (torrent().snatched === 1 ? true : undefined), 30_000, 'the snatch counted on the stop with left=0');
  } else {
    await eventually(
      () => (torrent().seeders.size === 2 && torrent().leechers.size === 0 ? true : undefined),
      60_000,
      `${family} leecher: left=0`,
    );
    expect(torrent().snatched).toBe(1);
    await leecher.quit();
  }
  if (family === 'rtorrent') await stopThenQuit(seeder, seederUser);
  else await seeder.quit();
  await eventually(
    () => (torrent().seeders.size === 0 && torrent().leechers.size === 0 ? true : undefined),
    30_000,
    `${family}: both peers announced event=stopped`,
  );
  await expectAccounted(s, published, startedAt, { restarted: true });

  expectParametersHandled(s, family);
}

describe.concurrent('the clients private-tracker users run move a file through hayate', () => {
  for (const family of ['qbittorrent', 'deluge', 'rtorrent', 'libtorrent'] as const) {
    const story =
      family === 'rtorrent'
        ? 'seeder to leecher, completion said only by the stop'
        : 'seeder to leecher, the leecher paused, resumed and restarted mid-download';
    it(`${family}: ${story}`, { timeout: 300_000 }, async ({ onTestFinished }) => {
      await throughPauseAndRestart(onTestFinished, family);
    });
  }
});
