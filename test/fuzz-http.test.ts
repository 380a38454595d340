import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { decodeBencode, isDict } from '../src/bencode/codec.js';
import { peerIdOf } from './helpers/announce.js';
import { bodyOf, rawExchange } from './helpers/raw-http.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';

/**
 * Property tests of the HTTP surface with hostile input (issue 8). Whatever a
 * broken client, scanner or attacker sends, the answer is a bencoded tracker
 * answer (failure or not) or a 4xx — never a 5xx — and the tracker stays up and
 * keeps answering real announces. Runs are bounded so the file takes seconds.
 */

const live = infoHashBytes(torrents.live);
const PASSKEY = users.normal.passkey;

// ---- pieces of hostile requests -------------------------------------------------------------

const paramNames = ['info_hash', 'peer_id', 'port', 'uploaded', 'downloaded', 'left', 'numwant', 'event', 'compact', 'no_peer_id', 'ip'];

/** A parameter name: a real one in random case, percent-encoded now and then, or junk. */
const nameArb = fc.oneof(
  fc.tuple(fc.constantFrom(...paramNames), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 })).map(([name, upper]) =>
    // eslint-disable-next-line @typescript-eslint/no-misused-spread -- ASCII parameter names
    [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''),
  ),
  fc.constantFrom(...paramNames).map((n) => percentEncodeBytes(Buffer.from(n))),
  fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom('', '=', '&', '%', '%zz', 'info_hash[]', 'info%5Fhash'),
);

/** A parameter value: bytes of every length, broken escapes, numbers of every size and sign. */
const valueArb = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 41 }).map((b) => percentEncodeBytes(b)),
  fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => percentEncodeBytes(b)),
  fc.constantFrom('%', '%g', '%4', '%%', '%zz', '%0', '%C3%28', '%FF%FE', '%%41', '%4%31', '+', '%2B', '%00'),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.constantFrom(
    '9007199254740991',
    '9007199254740992',
    '18446744073709551615',
    '-1',
    '-0',
    '0x10',
    '1e3',
    '1.5',
    ' 1',
    '01',
    'NaN',
    'Infinity',
  ),
  fc.double().map(String),
  fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s)),
  // Raw characters as the bytes they are (spaces and control bytes break the request line: a 400).
  fc.string({ unit: 'binary-ascii', maxLength: 20 }),
);

const pairArb = fc.tuple(nameArb, fc.option(valueArb, { nil: undefined }));
const queryArb = fc.array(pairArb, { maxLength: 14 }).map((pairs) => pairs.map(([n, v]) => (v === undefined ? n : `${n}=${v}`)).join('&'));

/** A valid announce with a few parameters replaced, repeated or dropped: reaches the deep paths. */
const mutatedAnnounceArb = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom(...paramNames), fc.constantFrom('drop', 'repeat', 'replace'), valueArb), { maxLength: 4 }),
    fc.integer({ min: 0, max: 50 }),
  )
  .map(([mutations, peer]) => {
    const params = new Map<string, string[]>([
      ['info_hash', [percentEncodeBytes(live)]],
      ['peer_id', [percentEncodeBytes(Buffer.from(peerIdOf('-TR3000-', peer)))]],
      ['port', ['51413']],
      ['uploaded', ['0']],
      ['downloaded', ['0']],
      ['left', ['100']],
    ]);
    for (const [name, action, value] of mutations) {
      if (action === 'drop') params.delete(name);
      else if (action === 'repeat') params.set(name, [...(params.get(name) ?? []), value]);
      else params.set(name, [value]);
    }
    return [...params].flatMap(([n, vs]) => vs.map((v) => `${n}=${v}`)).join('&');
  });

const passkeyArb = fc.oneof(
  fc.constant(PASSKEY),
  fc.constantFrom(users.disabled.passkey, users.banned.passkey, '', '.', '..', '%', '%zz', '%00', 'a%2Fb', PASSKEY.toUpperCase()),
  fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)),
  fc.integer({ min: 33, max: 3000 }).map((n) => 'k'.repeat(n)),
  fc.uint8Array({ maxLength: 40 }).map((b) => percentEncodeBytes(b)),
);

const routeArb = fc.constantFrom('announce', 'scrape', 'announce/', 'ANNOUNCE', 'scrape/x', '', 'metrics', 'alive');

const pathArb = fc.oneof(
  fc.tuple(passkeyArb, routeArb).map(([p, r]) => `/${p}/${r}`),
  fc.constantFrom(
    '/',
    '//',
    '/announce',
    '/alive',
    '/metrics',
    '/alive/',
    '*',
    'http://example.com/alive',
    '/../../etc/passwd',
    '/%2e%2e/%2e%2e/x',
  ),
);

function request(method: string, target: string, headers: string[] = []): string {
  return `${method} ${target} HTTP/1.1\r\nHost: tracker\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
}

/** The SPEC's promise: a 4xx, or a 200 whose body is a bencoded tracker answer (or /alive's JSON). */
function checkAnswer(target: string, answer: { status: number | undefined; bytes: Buffer }): void {
  const status = answer.status;
  if (status === undefined) {
    // Closing without a word is allowed only for bytes that are not a complete HTTP request.
    return;
  }
  expect(status, `${target.slice(0, 200)} → ${answer.bytes.toString('latin1', 0, 200)}`).toBeLessThan(500);
  if (status !== 200) {
    expect(status, target.slice(0, 200)).toBeGreaterThanOrEqual(400);
    return;
  }
  const body = bodyOf(answer.bytes);
  const path = target.split('?')[0]!;
  if (/\/(announce|scrape)$/.test(path)) {
    const decoded = decodeBencode(body);
    expect(isDict(decoded), target.slice(0, 200)).toBe(true);
    const keys = isDict(decoded) ? decoded.entries.map(([k]) => Buffer.from(k).toString('latin1')) : [];
    expect(
      keys.includes('failure reason') || keys.includes('interval') || keys.includes('files'),
      `${target}: ${body.toString('latin1')}`,
    ).toBe(true);
  }
}

describe('HTTP surface under hostile input (property tests)', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker({
      configure: (c) => {
        c.enable_metrics = true;
        c.http.proxy_header = 'X-Real-IP';
      },
    });
  });
  afterAll(() => t.close());

  /** A valid announce from a fresh peer, answered as a normal (non-failure) announce. */
  async function validAnnounceWorks(n: number): Promise<void> {
    const peerId = percentEncodeBytes(Buffer.from(peerIdOf('-qB4650-', 900_000 + n)));
    const res = await t.get(
      `/${PASSKEY}/announce?info_hash=${percentEncodeBytes(live)}&peer_id=${peerId}&port=6881&uploaded=0&downloaded=0&left=0&ip=8.8.8.8`,
    );
    expect(res.status).toBe(200);
    expect(res.body.toString('latin1')).toMatch(
      /^d8:completei\d+e10:downloadedi\d+e10:incompletei\d+e8:intervali\d+e12:min intervali900e5:peers/,
    );
  }

  it('random and malformed query strings on any path: a bencoded answer or a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(pathArb, fc.oneof(queryArb, mutatedAnnounceArb), async (path, query) => {
        const target = `${path}?${query}`;
        checkAnswer(target, await rawExchange(t.port, request('GET', target)));
      }),
      { numRuns: 400 },
    );
    await validAnnounceWorks(1);
  });

  it('valid announces with mutated parameters never fail internally and their accounting reaches the database', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedAnnounceArb, async (query) => {
        const target = `/${PASSKEY}/announce?${query}`;
        checkAnswer(target, await rawExchange(t.port, request('GET', target)));
      }),
      { numRuns: 300 },
    );
    await validAnnounceWorks(2);
    expect(t.tracker.metrics.requests.errors).toBe(0);
    const flushed = await t.tracker.accounting.flushNow();
    expect(flushed.ok).toBe(true);
  });

  it('odd methods, odd proxy headers and header floods: 4xx (or a tracker answer for GET/HEAD)', async () => {
    const methodArb = fc.oneof(
      fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'get', 'G E T', ''),
      fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 10 }),
    );
    const headerArb = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('X-Real-IP', 'x-real-ip', 'Host', 'Content-Length', 'Transfer-Encoding', 'Expect', 'Upgrade', 'Connection'),
          fc.string({ unit: 'binary-ascii', maxLength: 40 }),
        )
        .map(([n, v]) => `${n}: ${v}`),
      fc.constantFrom(
        'X-Real-IP: 8.8.8.8',
        'X-Real-IP: ::ffff:1.2.3.4',
        'X-Real-IP: 999.1.1.1',
        'X-Real-IP: 1.1.1.1, 2.2.2.2',
        'Content-Length: -1',
        'Content-Length: 99999999999999999999',
        'Transfer-Encoding: chunked',
        'Expect: 100-continue',
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 60 }),
    );
    const validTarget = `/${PASSKEY}/announce?info_hash=${percentEncodeBytes(live)}&peer_id=${percentEncodeBytes(Buffer.from(peerIdOf('-TR3000-', 7)))}&port=6881&uploaded=0&downloaded=0&left=5`;
    await fc.assert(
      fc.asyncProperty(
        methodArb,
        fc.constantFrom(validTarget, '/alive', '/metrics', `/${PASSKEY}/scrape`),
        fc.array(headerArb, { maxLength: 6 }),
        async (method, target, headers) => {
          const answer = await rawExchange(t.port, request(method, target, headers));
          if (answer.status !== undefined) expect(answer.status, `${method} ${target} ${headers.join(' | ')}`).toBeLessThan(500);
        },
      ),
      { numRuns: 250 },
    );

    // Floods: many headers, one huge header, a huge URL. Node answers 431 (headers over 8 KiB).
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`);
    expect((await rawExchange(t.port, request('GET', '/alive', many))).status).toBe(431);
    expect((await rawExchange(t.port, request('GET', '/alive', [`X-Big: ${'a'.repeat(64 * 1024)}`]))).status).toBe(431);
    const hugeUrl = `/${PASSKEY}/announce?info_hash=${'%41'.repeat(200_000)}`;
    const huge = await rawExchange(t.port, request('GET', hugeUrl));
    expect(huge.status).toBe(431);
    // A bencoded failure a client can show, not fastify's JSON.
    expect(bodyOf(huge.bytes).toString('latin1')).toBe(
      'd14:failure reason60:Malformed request - request line and headers over 8192 bytese',
    );
    const manyHashes = `/${PASSKEY}/scrape?${Array.from({ length: 300 }, () => `info_hash=${percentEncodeBytes(live)}`).join('&')}`;
    checkAnswer(manyHashes, await rawExchange(t.port, request('GET', manyHashes)));
    await validAnnounceWorks(3);
  });

  it('bytes that are not HTTP: closed or a 400, and the tracker keeps serving', async () => {
    const junkArb = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((b) => Buffer.from(b)),
      fc
        .constantFrom(
          'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
          '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', // TLS ClientHello start
          'SSH-2.0-OpenSSH_9.6\r\n',
          'GET / HTTP/9.9\r\n\r\n',
          'GET /alive HTTP/1.1\r\n\r\n'.repeat(50),
          'GET /alive\r\n\r\n',
          'GET /alive HTTP/1.1\nHost: x\n\n',
          'GET /alive HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
          'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
          '\r\n\r\n\r\n',
          '\x00'.repeat(1000),
        )
        .map((s) => Buffer.from(s, 'latin1')),
    );
    await fc.assert(
      fc.asyncProperty(junkArb, async (junk) => {
        const answer = await rawExchange(t.port, junk);
        if (answer.status !== undefined) expect(answer.status, junk.toString('latin1', 0, 80)).toBeLessThan(500);
      }),
      { numRuns: 150 },
    );
    await validAnnounceWorks(4);
    expect(t.tracker.metrics.requests.errors).toBe(0);
  });
});
