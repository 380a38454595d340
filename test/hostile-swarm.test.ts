import { describe, expect, it } from 'vitest';
import { examineLimit } from '../src/tracker/peer-choice.js';
import { harness, peerIdOf } from './helpers/announce.js';

/**
 * One user filling a swarm with thousands of peer_ids (or a swarm of many
 * seeders from few users) must not make every announce on that torrent walk the
 * whole swarm: a CPU amplification an attacker could use against everyone.
 * Counted by the calls to the injected random source (one per peer examined),
 * not by timing.
 */
describe('peer choice in a hostile swarm', () => {
  it('examines a bounded number of peers however many ineligible ones the swarm holds', () => {
    let calls = 0;
    const h = harness(undefined, () => {
      calls++;
      return 0.5;
    });
    const attacker = h.addUser(2);
    // 20,000 seeders of one user (distinct peer_ids), then one leecher of another user.
    for (let n = 0; n < 20_000; n++) {
      const res = h.announce({ peerId: peerIdOf('-TR3000-', n), left: 0, numwant: 0 }, { passkey: attacker.passkey, socket: '8.8.8.8' });
      expect(res.failed).toBe(false);
    }
    expect(h.torrent.seeders.size).toBe(20_000);

    // The attacker's own leecher: every seeder is its own, none eligible.
    calls = 0;
    h.announce({ peerId: peerIdOf('-qB4650-', 1), left: 10 }, { passkey: attacker.passkey, socket: '8.8.8.8' });
    expect(calls).toBeLessThanOrEqual(examineLimit(25) + 2); // + its own leecher swarm, + the interval drift

    // Another user's leecher: one seeder per user, so one seeder, found without walking 20,000.
    calls = 0;
    const answer = h.announce({ peerId: peerIdOf('-qB4650-', 2), left: 10, compact: '0' });
    expect(calls).toBeLessThanOrEqual(2 * examineLimit(25) + 1);
    expect(answer.body.toString('latin1')).toMatch(/5:peersld2:ip7:8\.8\.8\.8/);
  });

  it('still finds eligible peers among many ineligible ones (sampling stays uniform over the swarm)', () => {
    const h = harness();
    const attacker = h.addUser(2);
    for (let n = 0; n < 2000; n++)
      h.announce({ peerId: peerIdOf('-TR3000-', n), left: 5, numwant: 0 }, { passkey: attacker.passkey, socket: '8.8.8.8' });
    // Five leechers of other users hidden among the attacker's 2,000.
    for (let u = 3; u < 8; u++) {
      const user = h.addUser(u);
      h.announce({ peerId: peerIdOf('-TR3000-', 10_000 + u), left: 5, numwant: 0 }, { passkey: user.passkey, socket: `9.9.9.${u}` });
    }
    // The attacker asks repeatedly: over a few announces it is handed each of the five.
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 5; i++) {
      const body = h
        .announce({ peerId: peerIdOf('-TR3000-', 0), left: 5, compact: '0' }, { passkey: attacker.passkey, socket: '8.8.8.8' })
        .body.toString('latin1');
      for (const m of body.matchAll(/2:ip7:(9\.9\.9\.\d)/g)) seen.add(m[1]!);
    }
    expect(seen.size).toBe(5);
  });
});
