import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipToString, newPeer, peerIdOf, peerKey, type Peer } from '../src/store/peer.js';
import { Swarm } from '../src/store/swarm.js';

function peer(userId: number, n: number): Peer {
  return newPeer(peerKey(userId, `-TR3000-${String(n).padStart(12, '0')}`), userId, 0xc0000201, 6881, 0, 0, 0, 1, 1, 1);
}

/** Every peer is found by its key, sits at its slot, and nothing else is found. */
function expectConsistent(swarm: Swarm, model: Map<string, Peer>): void {
  expect(swarm.size).toBe(model.size);
  swarm.peers.forEach((p, i) => expect(p.slot).toBe(i));
  for (const [key, p] of model) expect(swarm.get(key)).toBe(p);
  expect(new Set(swarm.peers)).toEqual(new Set(model.values()));
}

describe('Swarm', () => {
  it('finds, replaces and removes peers by key while growing past the scan limit and shrinking back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ add: fc.boolean(), user: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 0, max: 12 }) }), { maxLength: 300 }),
        (ops) => {
          const swarm = new Swarm();
          const model = new Map<string, Peer>();
          for (const op of ops) {
            const p = peer(op.user, op.n);
            if (op.add) {
              swarm.add(p);
              model.set(p.key, p);
            } else {
              expect(swarm.delete(p.key)).toBe(model.get(p.key));
              model.delete(p.key);
            }
            expectConsistent(swarm, model);
          }
          expect(swarm.get(peerKey(99, '-TR3000-nobody000000'))).toBeUndefined();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a big swarm emptied and refilled stays consistent', () => {
    const swarm = new Swarm();
    const model = new Map<string, Peer>();
    for (let n = 0; n < 100; n++) {
      const p = peer(1 + (n % 7), n);
      swarm.add(p);
      model.set(p.key, p);
    }
    expectConsistent(swarm, model);
    for (let n = 0; n < 100; n += 2) {
      swarm.delete(peer(1 + (n % 7), n).key);
      model.delete(peer(1 + (n % 7), n).key);
    }
    expectConsistent(swarm, model);
    for (let n = 1; n < 100; n += 2) {
      swarm.delete(peer(1 + (n % 7), n).key);
      model.delete(peer(1 + (n % 7), n).key);
      expectConsistent(swarm, model);
    }
    expect(swarm.size).toBe(0);
    const again = peer(3, 5);
    swarm.add(again);
    expect(swarm.get(again.key)).toBe(again);
  });

  it('a peer keeps its address as a small integer and its peer_id in its key', () => {
    const p = peer(7, 1);
    expect(p.ip).toBe(0xc0000201 | 0);
    expect(ipToString(p.ip)).toBe('192.0.2.1');
    expect(peerIdOf(p)).toBe('-TR3000-000000000001');
    expect(p.key).toBe(peerKey(7, '-TR3000-000000000001'));
  });
});
