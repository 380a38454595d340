import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, percentEncodeBytes, torrents, users } from '../fixtures/site.js';
import { peerIdOf } from './helpers/announce.js';
import { eventually, startTracker, type RunningTracker } from './helpers/tracker.js';

/**
 * Slowloris-style clients (issue 8): hundreds of connections that dribble their
 * headers, send nothing, or dribble a body, must be cut off by the server
 * (http.timeout.read) while real announces keep being answered. Asserts what
 * happens, not how fast.
 */

const live = infoHashBytes(torrents.live);
const PASSKEY = users.normal.passkey;

interface Attacker {
  socket: Socket;
  closed: boolean;
  /** What the server sent before closing (a 408 is fine, so is nothing). */
  received: string;
  timer?: NodeJS.Timeout;
}

function attacker(port: number, opening: string, dribble?: string): Attacker {
  const socket = connect({ host: '127.0.0.1', port });
  const a: Attacker = { socket, closed: false, received: '' };
  socket.on('error', () => undefined);
  socket.on('data', (c: Buffer) => (a.received += c.toString('latin1')));
  socket.on('close', () => {
    a.closed = true;
    clearInterval(a.timer);
  });
  socket.on('connect', () => {
    if (opening) socket.write(opening);
    if (dribble !== undefined) {
      // One more header line (or body byte) every 50 ms, for ever: only the server can end this.
      a.timer = setInterval(() => {
        if (!socket.destroyed) socket.write(dribble);
      }, 50);
    }
  });
  return a;
}

describe('slow clients', () => {
  let t: RunningTracker;
  beforeAll(async () => {
    t = await startTracker();
  });
  afterAll(() => t.close());

  it('closes connections that dribble headers, send nothing or dribble a body, while announces are answered', async () => {
    const attackers: Attacker[] = [];
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) attackers.push(attacker(t.port, `GET /${PASSKEY}/announce?info_hash=`, 'a'));
      else if (i % 3 === 1) attackers.push(attacker(t.port, 'GET /alive HTTP/1.1\r\nHost: x\r\n', `X-Slow-${i}: 1\r\n`));
      else if (i % 5 === 0) attackers.push(attacker(t.port, ''));
      else attackers.push(attacker(t.port, 'GET /alive HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', 'b'));
    }
    try {
      // Real announces interleaved with the attack, each from a new peer: all answered normally.
      let answered = 0;
      for (let n = 0; n < 40; n++) {
        const peerId = percentEncodeBytes(Buffer.from(peerIdOf('-TR3000-', 500 + n)));
        const res = await t.get(
          `/${PASSKEY}/announce?info_hash=${percentEncodeBytes(live)}&peer_id=${peerId}&port=6881&uploaded=0&downloaded=0&left=0&ip=8.8.8.8`,
        );
        expect(res.status).toBe(200);
        expect(res.body.toString('latin1')).toMatch(/^d8:completei\d+e/);
        answered++;
      }
      expect(answered).toBe(40);
      // The server, not the attackers, ends every one of those connections.
      await eventually(() => (attackers.every((a) => a.closed) ? true : undefined), 20_000, 'the server to close every slow connection');
      // Closed with a 408/400, or silently; the GET whose body never ends was answered first (a GET
      // route does not wait for a body) and then cut off. Never a 5xx.
      for (const a of attackers)
        expect(a.received === '' || /^HTTP\/1\.1 (200|4\d\d)/.test(a.received), a.received.slice(0, 60)).toBe(true);
      // And the tracker still serves afterwards.
      const after = await t.get('/alive');
      expect(after.status).toBe(200);
    } finally {
      for (const a of attackers) {
        clearInterval(a.timer);
        a.socket.destroy();
      }
    }
  });

  it('a client that never reads its answers cannot pile them up: the connection is cut', async () => {
    // Pipelined scrapes whose answers the client never reads: once the socket's send buffer is full,
    // writes stall and the write timeout (http.timeout.write) ends the connection.
    const socket = connect({ host: '127.0.0.1', port: t.port });
    socket.on('error', () => undefined);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.pause();
    const scrape = `GET /${PASSKEY}/scrape?${Array.from({ length: 50 }, () => `info_hash=${percentEncodeBytes(live)}`).join('&')} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const burst = scrape.repeat(200);
    let writes = 0;
    const writer = setInterval(() => {
      if (socket.destroyed || writes++ > 200) return;
      socket.write(burst);
    }, 10);
    try {
      await eventually(() => (closed ? true : undefined), 30_000, 'the server to cut a client that never reads');
    } finally {
      clearInterval(writer);
      socket.destroy();
    }
    expect((await t.get('/alive')).status).toBe(200);
  });
});
