import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { announceQuery, failure, peerIdOf } from './helpers/announce.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';

/** SPEC §4: only 20-byte info_hash values count; more than one of those is refused (chihaya's rule). */
describe('repeated info_hash in an announce, over HTTP', () => {
  let t: RunningTracker;
  const live = infoHashBytes(torrents.live);
  beforeAll(async () => {
    t = await startTracker();
  });
  afterAll(() => t.close());

  const announce = (extra: string) =>
    t.get(
      `/${users.normal.passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', 42), left: 0, numwant: 0, ip: '8.8.8.8', extra })}`,
    );

  it('one valid info_hash beside one of another length is that announce (either order)', async () => {
    const short = await announce(`info_hash=${'%01'.repeat(19)}`);
    expect(short.body.toString('latin1')).toMatch(/^d8:completei1e10:downloadedi12e/);
    const long = await t.get(
      `/${users.normal.passkey}/announce?info_hash=${'%02'.repeat(21)}&${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', 42), left: 0, numwant: 0, ip: '8.8.8.8' }).slice(1)}`,
    );
    expect(long.body.toString('latin1')).toMatch(/^d8:completei1e10:downloadedi12e/);
  });

  it('two valid ones are "can only announce singular info_hash"', async () => {
    const two = await announce(`info_hash=${percentEncodeBytes(infoHashBytes(torrents.liveMusic))}`);
    expect(two.body.toString('latin1')).toBe(failure('Malformed request - can only announce singular info_hash', 3600));
    const same = await announce(`info_hash=${percentEncodeBytes(live)}`);
    expect(same.body.toString('latin1')).toBe(failure('Malformed request - can only announce singular info_hash', 3600));
  });
});
