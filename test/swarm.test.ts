import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipToString, newPeer, peerIdOf, peerKey, type Peer } from '../src/store/peer.js';
import { EMPTY_SWARM, Swarm } from '../src/store/swarm.js';
import { newTorrent, swarmToAdd } from '../src/store/types.js';
import { UserSet } from '../src/tracker/peer-choice.js';

function peer(userId: number, n: number): Peer {
  return newPeer(peerKey(userId, `-TR3000-${String(n).padStart(12, '0')}`), userId, 0xc0000201, 6881, 1, 1, 1);
}

type Counters = readonly [uploaded: number, downloaded: number, left: number];

/** Every peer is found by its key, sits at its slot, and nothing else is found. */
function expectConsistent(swarm: Swarm, model: Map<string, Peer>): void {
  expect(swarm.size).toBe(model.size);
  swarm.peers.forEach((p, i) => expect(p.slot).toBe(i));
  for (const [key, p] of model) expect(swarm.get(key)).toBe(p);
  expect(new Set(swarm.peers)).toEqual(new Set(model.values()));
  // hasUser agrees with the peers held, scanned while small and counted once big.
  for (let user = 1; user <= 7; user++) {
    expect(swarm.hasUser(user)).toBe([...model.values()].some((p) => p.userId === user));
  }
}

/** Each peer's counters are the ones last given for it, wherever it has moved. */
function expectCounters(swarm: Swarm, counters: Map<string, Counters>): void {
  for (const p of swarm.peers) {
    expect([swarm.uploaded(p), swarm.downloaded(p), swarm.left(p)]).toEqual(counters.get(p.key));
  }
  const snapshot = swarm.countersSnapshot();
  expect(snapshot.length).toBe(3 * swarm.size);
  swarm.peers.forEach((p, i) => expect([snapshot[3 * i], snapshot[3 * i + 1], snapshot[3 * i + 2]]).toEqual(counters.get(p.key)));
}

/** Counters past 2^31 and up to 2^53 (byte counts of big torrents), as well as small ones. */
const counter = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.maxSafeNat());

describe('Swarm', () => {
  it('finds, replaces and removes peers by key while growing past the scan limit and shrinking back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ add: fc.boolean(), user: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 0, max: 12 }) }), {
          maxLength: 300,
        }),
        (ops) => {
          const swarm = new Swarm();
          const model = new Map<string, Peer>();
          for (const op of ops) {
            const p = peer(op.user, op.n);
            if (op.add) {
              swarm.add(p, 0, 0, 0);
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

  // 100 runs of up to hundreds of operations, each checked against the model: ~30 s alone on the
  // 2-core machine, more beside the rest of the suite.
  it("keeps each peer's counters with it through add, replace, delete and swap across the scan limit", { timeout: 240_000 }, () => {
    // Adds weighted up so most runs grow past the 16-peer scan limit (into the doubled array) and back.
    let pastLimit = 0;
    const op = fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant('add' as const),
          user: fc.integer({ min: 1, max: 6 }),
          n: fc.integer({ min: 0, max: 8 }),
          counters: fc.tuple(counter, counter, counter),
        }),
        weight: 3,
      },
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), counters: fc.tuple(counter, counter, counter) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 100, maxLength: 300 }), (ops) => {
        const swarm = new Swarm();
        const model = new Map<string, Peer>();
        const counters = new Map<string, Counters>();
        let biggest = 0;
        for (const o of ops) {
          const size = swarm.size;
          if (o.kind === 'add') {
            const p = peer(o.user, o.n);
            swarm.add(p, ...o.counters);
            model.set(p.key, p);
            counters.set(p.key, o.counters);
          } else if (size === 0) {
            continue;
          } else if (o.kind === 'set') {
            const p = swarm.peers[o.at % size]!;
            swarm.setCounters(p, ...o.counters);
            counters.set(p.key, o.counters);
          } else if (o.kind === 'delete') {
            const p = swarm.peers[o.at % size]!;
            expect(swarm.delete(p.key)).toBe(p);
            model.delete(p.key);
            counters.delete(p.key);
          } else {
            swarm.swap(o.i % size, o.j % size);
          }
          expectConsistent(swarm, model);
          expectCounters(swarm, counters);
          biggest = Math.max(biggest, swarm.size);
        }
        if (biggest > 16) pastLimit++;
      }),
      { numRuns: 100 },
    );
    expect(pastLimit).toBeGreaterThan(10);
  });

  it('a big swarm emptied and refilled stays consistent', () => {
    const swarm = new Swarm();
    const model = new Map<string, Peer>();
    for (let n = 0; n < 100; n++) {
      const p = peer(1 + (n % 7), n);
      swarm.add(p, 0, 0, 0);
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
    swarm.add(again, 2 ** 40, 1, 2);
    expect(swarm.get(again.key)).toBe(again);
    expect([swarm.uploaded(again), swarm.downloaded(again), swarm.left(again)]).toEqual([2 ** 40, 1, 2]);
  });

  it('a peer keeps its address as a small integer and its peer_id in its key', () => {
    const p = peer(7, 1);
    expect(p.ip).toBe(0xc0000201 | 0);
    expect(ipToString(p.ip)).toBe('192.0.2.1');
    expect(peerIdOf(p)).toBe('-TR3000-000000000001');
    expect(p.key).toBe(peerKey(7, '-TR3000-000000000001'));
  });
});

describe('UserSet (one seeder per user in an answer)', () => {
  it('adds each ID once per generation, forgets all on clear, and grows for big answers', () => {
    const set = new UserSet();
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 3000 }), { maxLength: 5 }), (rounds) => {
        for (const ids of rounds) {
          set.clear(ids.length);
          const seen = new Set<number>();
          for (const id of ids) {
            const fresh = !seen.has(id);
            seen.add(id);
            expect(set.add(id)).toBe(fresh);
          }
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe("swarms made on a torrent's first peer", () => {
  const torrent = (id: number) =>
    newTorrent({
      id,
      infoHash: String(id).padEnd(20, '.'),
      groupId: 1,
      type: 'anime',
    });

  it('start on the shared empty swarm, get their own on the first add, never share peers', () => {
    const a = torrent(1);
    const b = torrent(2);
    expect(a.seeders).toBe(EMPTY_SWARM);
    expect(a.leechers).toBe(EMPTY_SWARM);
    swarmToAdd(a, true).add(peer(7, 1), 0, 0, 0);
    expect(a.seeders).not.toBe(EMPTY_SWARM);
    expect([a.seeders.size, a.leechers.size, b.seeders.size, b.leechers.size, EMPTY_SWARM.size]).toEqual([1, 0, 0, 0, 0]);
    expect(swarmToAdd(a, true)).toBe(a.seeders);
    expect(a.leechers).toBe(EMPTY_SWARM);
  });

  it('refuse a peer added to the shared empty swarm directly', () => {
    expect(() => EMPTY_SWARM.add(peer(7, 2), 0, 0, 0)).toThrow(/swarmToAdd/);
    expect(EMPTY_SWARM.size).toBe(0);
  });
});
