import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { loadFixtures } from '../fixtures/load.js';
import { ipToString } from '../src/store/peer.js';
import { announceQuery, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { spawnHayate, type TrackerProcess } from './helpers/process.js';
import { bodyOf } from './helpers/raw-http.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';
import { SITE_PASSWORD, updatePath } from './helpers/update.js';

const live = infoHashBytes(torrents.live);

/** One GET over the Unix socket at `path` on a connection of its own. */
function getUnix(path: string, target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: target, method: 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends the requests one after another on one connection and returns the answers' bodies. */
function exchangeUnix(path: string, requests: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const bodies: string[] = [];
    let pending = Buffer.alloc(0);
    const next = (): void => {
      if (bodies.length === requests.length) {
        socket.destroy();
        resolve(bodies);
      } else socket.write(requests[bodies.length]!);
    };
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const end = pending.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(pending.toString('latin1', 0, end))?.[1]);
      if (pending.length < end + 4 + length) return;
      bodies.push(bodyOf(pending.subarray(0, end + 4 + length)).toString('latin1'));
      pending = pending.subarray(end + 4 + length);
      next();
    });
    socket.on('error', reject);
    socket.on('connect', next);
  });
}

const announcePath = (passkey: string, n: number, extra: Record<string, unknown> = {}): string =>
  `/${passkey}/announce${announceQuery({ infoHash: live, peerId: peerIdOf('-TR3000-', n), left: 1000, port: 50_000 + n, ...extra })}`;

describe('listening on a Unix socket (http.addr unix:/path), as nginx on the same host reaches it', () => {
  let t: RunningTracker;
  let dir: string;
  let socketPath: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hayate-unix-'));
    socketPath = join(dir, 'hayate.sock');
    t = await startTracker({
      listen: { path: socketPath },
      configure: (c) => {
        c.site_password = SITE_PASSWORD;
        // Not this host's: over the socket the file's permissions decide, not this list.
        c.site_addresses = ['10.9.9.9'];
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the socket file with http.socket_mode (0660 by default)', () => {
    const stat = statSync(socketPath);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o660);
  });

  it("gives peers the address nginx passes in X-Real-Ip or X-Forwarded-For, on the socket path and Node's", async () => {
    const handedOver = t.tracker.metrics.requests.connectionsHandedOver;
    const first = await getUnix(socketPath, announcePath(users.normal.passkey, 1), { 'X-Real-IP': '127.0.0.2' });
    expect(first).toMatchObject({ status: 200 });
    expect(first.body).not.toContain('failure');
    const second = await getUnix(socketPath, announcePath(users.other.passkey, 2), { 'X-Forwarded-For': '10.0.0.1, 8.8.4.4' });
    expect(second.body).not.toContain('failure');
    // An announce Node answers (after /alive on the same connection, and with an escaped passkey).
    const escaped = `/${users.normal.passkey.replace(/^./, (c) => `%${c.charCodeAt(0).toString(16)}`)}`;
    const viaNode = await exchangeUnix(socketPath, [
      'GET /alive HTTP/1.1\r\nHost: t\r\n\r\n',
      `GET ${escaped}${announcePath('', 3).slice(1)} HTTP/1.1\r\nHost: t\r\nX-Real-IP: 127.0.0.4\r\n\r\n`,
    ]);
    expect(viaNode[1]).not.toContain('failure');
    const swarm = t.tracker.store.torrents.get(live.toString('latin1'))!;
    expect(swarm.leechers.peers.map((p) => `${ipToString(p.ip)}:${p.port}`).sort()).toEqual([
      '127.0.0.2:50001',
      '127.0.0.4:50003',
      '8.8.4.4:50002',
    ]);
    expect(t.tracker.metrics.requests.requestsHandedOver).toBeGreaterThan(0);
    expect(t.tracker.metrics.requests.connectionsHandedOver).toBe(handedOver);
  });

  it('fails an announce that carries no address header: the socket has no client address to fall back on', async () => {
    const answer = await getUnix(socketPath, announcePath(users.normal.passkey, 5));
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('failure reason');
    expect(answer.body).toContain('Invalid IPv4 address');
    // The `ip` parameter still counts when it is a public address (SPEC §4).
    const withIp = await getUnix(socketPath, announcePath(users.normal.passkey, 6, { ip: '9.9.9.9' }));
    expect(withIp.body).not.toContain('failure');
  });

  it("answers the site's update API over the socket with the password, whatever site_addresses lists", async () => {
    expect(await getUnix(socketPath, updatePath('reload'))).toEqual({ status: 200, body: 'success' });
    const wrong = await getUnix(socketPath, updatePath('reload', '', 'not-the-password'));
    expect(wrong.status).toBe(403);
  });
});

describe('the socket file across starts (the built tracker)', () => {
  let db: TestDatabase;
  let dir: string;
  const children: TrackerProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    await loadFixtures(db.conn);
    dir = mkdtempSync(join(tmpdir(), 'hayate-unix-cmd-'));
    // Two working directories (each tracker locks its own), one socket path.
    for (const sub of ['a', 'b']) {
      mkdirSync(join(dir, sub));
      writeFileSync(
        join(dir, sub, 'config.json'),
        JSON.stringify({ database: { dsn: db.dsn }, http: { addr: `unix:${join(dir, 'hayate.sock')}` }, log_flushes: false }),
      );
    }
  });
  afterAll(async () => {
    for (const c of children) c.child.kill('SIGKILL');
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  const spawn = (sub: 'a' | 'b' = 'a'): TrackerProcess => {
    const p = spawnHayate(join(dir, sub), ['-c', 'config.json']);
    children.push(p);
    return p;
  };
  const socketPath = (): string => join(dir, 'hayate.sock');

  it('refuses a second tracker on a live socket, replaces the file a killed one left, removes it on a clean stop', async () => {
    const first = spawn();
    await first.waitForLog('listening');
    expect(first.lines().find((l) => l.msg === 'listening')?.['address']).toBe(socketPath());

    const second = spawn('b');
    expect(await second.exited).toBe(78);
    expect(second.stderr()).toBe(`hayate: http.addr: another process is listening on ${socketPath()}\n`);
    expect((await getUnix(socketPath(), '/alive')).status).toBe(200);

    // Without a header the announce fails, and the operator is told why, once.
    for (let n = 1; n <= 2; n++) expect((await getUnix(socketPath(), announcePath(users.normal.passkey, n))).body).toContain('failure');
    const warnings = first.lines().filter((l) => l.msg.startsWith('an announce over the Unix socket carried no X-Real-Ip'));
    expect(warnings).toHaveLength(1);

    first.child.kill('SIGKILL');
    await first.exited;
    expect(statSync(socketPath()).isSocket()).toBe(true);
    const third = spawn();
    await third.waitForLog('listening');
    const answer = await getUnix(socketPath(), announcePath(users.normal.passkey, 3), { 'X-Real-IP': '127.0.0.9' });
    expect(answer.body).not.toContain('failure');
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    expect(() => statSync(socketPath())).toThrow(/ENOENT/);
  });

  it('removes the file when stopped while the start waits for the database', async () => {
    // A database port nothing listens on: the start listens early and answers "starting up".
    const sub = join(dir, 'waiting');
    mkdirSync(sub);
    const dsn = `mysql://root:@127.0.0.1:${await freePort()}/${db.name}`;
    writeFileSync(
      join(sub, 'config.json'),
      JSON.stringify({ database: { dsn }, http: { addr: `unix:${socketPath()}` }, log_flushes: false }),
    );
    const p = spawnHayate(sub, ['-c', 'config.json']);
    children.push(p);
    await p.waitForLog(/^listening while waiting for the database/);
    expect((await getUnix(socketPath(), announcePath(users.normal.passkey, 4), { 'X-Real-IP': '127.0.0.9' })).body).toContain(
      'Tracker is starting up',
    );
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.lines().some((l) => l.msg === 'stopped during start-up: nothing accounted yet, nothing to save')).toBe(true);
    expect(() => statSync(socketPath())).toThrow(/ENOENT/);
    expect(p.stderr()).toBe('');
  });

  it('refuses to replace a file that is not a socket, in one line', async () => {
    writeFileSync(socketPath(), 'not a socket');
    const p = spawn();
    expect(await p.exited).toBe(78);
    expect(p.stderr()).toBe(`hayate: http.addr: ${socketPath()} exists and is not a socket (hayate will not replace it)\n`);
    rmSync(socketPath());
  });
});
