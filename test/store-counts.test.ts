import { describe, expect, it } from 'vitest';
import { newPeer, peerKey } from '../src/store/peer.js';
import { Store } from '../src/store/store.js';
import { newTorrent, swarmToAdd } from '../src/store/types.js';

describe('Store.peerCountsYielding (the peers gauge)', () => {
  it('counts what peerCounts counts, letting other work run while it walks', async () => {
    const store = new Store();
    for (let id = 1; id <= 20_000; id++) {
      const t = newTorrent({
        id,
        infoHash: `h${id}`.padEnd(20, '.'),
        groupId: 1,
        type: 'anime',
      });
      for (let p = 0; p < id % 4; p++) {
        const peer = newPeer(peerKey(p + 1, `-TR3000-${String(id).padStart(12, '0')}`), p + 1, 0x08080808, 6881, 0, 0, 1);
        swarmToAdd(t, p % 2 === 0).add(peer, 0, 0, p % 2 === 0 ? 0 : 1);
      }
      store.torrents.set(t.infoHash, t);
    }
    let ranMeanwhile = 0;
    const ticker = setInterval(() => ranMeanwhile++, 0);
    try {
      // A zero slice yields every 4,096 torrents: other callbacks run before the count is done.
      const counted = await store.peerCountsYielding(0);
      expect(counted).toEqual(store.peerCounts());
      expect(counted.seeders + counted.leechers).toBe(30_000);
      expect(ranMeanwhile).toBeGreaterThan(0);
    } finally {
      clearInterval(ticker);
    }
  });
});
