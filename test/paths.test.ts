import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { trackerPath, TrackerPath, type PathMatch } from '../src/protocol/path.js';
import { decodeComponent, decodeQueryComponent, parseTrackerQuery } from '../src/protocol/query.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { bodyOf, rawExchange } from './helpers/raw-http.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';

/** SPEC §4 "Paths": the last two segments name the request; slashes collapse; '#' ends the query. */

const P = users.normal.passkey;

describe('trackerPath', () => {
  const route = (target: string): [TrackerPath, string] | TrackerPath => {
    const out: PathMatch = { passkey: '' };
    const r = trackerPath(target, out);
    return r === TrackerPath.None ? r : [r, out.passkey];
  };

  it('names announce and scrape by the last two segments, after collapsing slashes, dots and escapes', () => {
    const announce = (passkey: string) => [TrackerPath.Announce, passkey];
    expect(route(`/${P}/announce`)).toEqual(announce(P));
    expect(route(`/${P}/announce?info_hash=x/y//z`)).toEqual(announce(P));
    expect(route(`//${P}/announce`)).toEqual(announce(P));
    expect(route(`/${P}//announce?a=b`)).toEqual(announce(P));
    expect(route(`/tracker/${P}/announce`)).toEqual(announce(P));
    expect(route(`/a/b//c/${P}/announce`)).toEqual(announce(P));
    expect(route(`/${P}/./announce`)).toEqual(announce(P));
    expect(route(`/x/../${P}/announce`)).toEqual(announce(P));
    expect(route(`/../${P}/announce`)).toEqual(announce(P));
    expect(route(`/%6c8ffo9gsj2sicxragkhwyucdvqwrr3ic/%61nnounce`)).toEqual(announce(P));
    expect(route(`/${P}/announce#frag?x=1`)).toEqual(announce(P));
    expect(route(`/${P}/scrape`)).toEqual([TrackerPath.Scrape, P]);
    expect(route(`/tracker//${P}//scrape?info_hash=x`)).toEqual([TrackerPath.Scrape, P]);
  });

  it('names nothing else', () => {
    for (const target of [
      '/announce',
      '//announce',
      '/announce?x',
      `/${P}/announce/`,
      `/${P}/announce/.`,
      `/${P}/ANNOUNCE`,
      `/${P}/announce.php`,
      `/${P}`,
      `/${P}/`,
      '/',
      '',
      '*',
      `${P}/announce`,
      `/${P}/announce/..`,
      '/alive',
      '/metrics',
      `/${P}/update`,
    ]) {
      expect(route(target), target).toBe(TrackerPath.None);
    }
  });

  it("a raw '+' in a query value is a space (form encoding, as chihaya reads it); %2B is a '+'; a path's '+' stays", () => {
    const q = parseTrackerQuery('/p/announce?info_hash=%00+%2B&peer_id=-TR3000-+a%2Bb&event=start+d');
    expect(q.infoHashes).toEqual(['\x00 +']);
    expect(q.peerId).toBe('-TR3000- a+b');
    expect(q.event).toBe('start d');
    expect(decodeComponent('a+b%2B', 0, 6)).toBe('a+b+');
    expect(decodeQueryComponent('a+b%2B', 0, 6)).toBe('a b+');
    expect(decodeQueryComponent('x+\u0100%41', 0, 6)).toBe('x \u0100A');
  });

  it("the query ends at '#', and a '#' before the '?' leaves no query", () => {
    expect(parseTrackerQuery('/p/announce?left=0#x&left=5').left).toBe(0);
    expect(parseTrackerQuery('/p/announce?port=1&event=started#frag').event).toBe('started');
    expect(parseTrackerQuery('/p/announce#frag?left=0').left).toBeUndefined();
  });
});

describe('path forms over HTTP (socket path and Node/fastify path)', () => {
  let t: RunningTracker;
  const hash = infoHashBytes(torrents.live);
  beforeAll(async () => {
    t = await startTracker();
  });
  afterAll(() => t.close());

  const query = (n: number) => announceQuery({ infoHash: hash, peerId: peerIdOf('-TR3000-', 300 + n), left: 0, numwant: 0, ip: '8.8.8.8' });
  const get = async (target: string, version: '1.1' | '1.0') => {
    const answer = await rawExchange(t.port, `GET ${target} HTTP/${version}\r\nHost: t\r\nConnection: close\r\n\r\n`);
    return { status: answer.status, body: bodyOf(answer.bytes).toString('latin1') };
  };
  const handedOver = () => t.tracker.metrics.requests.connectionsHandedOver;

  let n = 0;
  for (const version of ['1.1', '1.0'] as const) {
    const where = version === '1.1' ? 'socket path' : 'Node and fastify';
    for (const form of ['//P/announce', '/P//announce', '/tracker/P/announce', '/a//b/P/./announce', '/P/%61nnounce']) {
      it(`${form} is an announce (${where})`, async () => {
        const before = handedOver();
        const res = await get(`${form.replace('P', P)}${query(++n)}`, version);
        expect(res.status).toBe(200);
        expect(res.body).toMatch(/^d8:completei\d+e10:downloadedi12e/);
        // HTTP/1.1 heads stay on the socket path; HTTP/1.0 ones are Node's.
        expect(handedOver() - before).toBe(version === '1.1' ? 0 : 1);
      });
    }

    it(`a fragment is not part of the query (${where})`, async () => {
      // Without the fragment rule, left=5 would make this seeder a leecher (incomplete 1).
      const res = await get(`/${P}/announce${query(++n)}#&left=5&numwant=50`, version);
      expect(res.body).toMatch(/^d8:completei\d+e10:downloadedi12e10:incompletei0e/);
      expect(res.body).not.toContain('5:peers');
    });

    it(`scrapes by the same rule (${where})`, async () => {
      const res = await get(`/tracker//${P}//scrape?info_hash=${percentEncodeBytes(hash)}#x`, version);
      expect(res.status).toBe(200);
      expect(res.body).toMatch(/^d5:filesd20:/);
    });

    it(`paths naming nothing stay 404 (${where})`, async () => {
      for (const target of [`/${P}/announce/${query(0)}`, `/announce${query(0)}`, `/${P}/ANNOUNCE${query(0)}`]) {
        expect((await get(target, version)).status, target).toBe(404);
      }
    });
  }
});
