import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFixtures } from '../fixtures/load.js';
import { infoHashBytes, torrents, users } from '../fixtures/site.js';
import { decodeBencode, isDict } from '../src/bencode/codec.js';
import { ipv6Text } from '../src/protocol/ipv6.js';
import { ipToString } from '../src/store/peer.js';
import { announceQuery, peerIdOf, type AnnounceParams } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { exampleConfigFor, selfSignedCertificate, startNginx, type RunningNginx } from './helpers/nginx.js';
import { freePorts } from './helpers/net.js';
import { startTracker, type RunningTracker } from './helpers/tracker.js';

const example = readFileSync(new URL('../deploy/nginx/hayate.conf', import.meta.url), 'utf8');
const migration = readFileSync(new URL('../database/migrations/002-transfer-ips6.sql', import.meta.url), 'utf8').replace(/^\s*--.*$/gm, '');

/** `ip:port` of the compact IPv4 peers and `[ip]:port` of the IPv6 ones in an answer. */
function peersOf(body: Buffer): string[] {
  const d = decodeBencode(body);
  if (!isDict(d)) throw new Error(`not a dict: ${body.toString('latin1')}`);
  const get = (key: string): Buffer =>
    Buffer.from((d.entries.find(([k]) => Buffer.from(k).toString('latin1') === key)?.[1] as Uint8Array) ?? []);
  const out: string[] = [];
  const v4 = get('peers');
  for (let i = 0; i < v4.length; i += 6) out.push(`${ipToString(v4.readUInt32BE(i))}:${v4.readUInt16BE(i + 4)}`);
  const v6 = get('peers6');
  for (let i = 0; i < v6.length; i += 18) out.push(`[${ipv6Text(v6.toString('latin1', i, i + 16))}]:${v6.readUInt16BE(i + 16)}`);
  return out.sort();
}

describe('IPv6 behind nginx with the example config (listening on both families, X-Real-IP)', () => {
  let t: RunningTracker;
  let db: TestDatabase;
  let nginx: RunningNginx;
  let dir: string;
  let httpPort: number;
  let httpsPort: number;

  /** An announce through nginx, from `from` (a loopback address of either family) to nginx on `to`. */
  function announce(scheme: 'http' | 'https', to: string, from: string, passkey: string, params: AnnounceParams): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const options = {
        host: to,
        localAddress: from,
        path: `/${passkey}/announce${announceQuery(params)}`,
        agent: false as const,
        headers: { Host: 'tracker.example' },
      };
      const done = (res: import('node:http').IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      };
      const req =
        scheme === 'http'
          ? httpRequest({ ...options, port: httpPort }, done)
          : httpsRequest({ ...options, port: httpsPort, rejectUnauthorized: false }, done);
      req.on('error', reject);
      req.end();
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    await loadFixtures(db.conn);
    for (const statement of migration.split(';')) if (statement.trim() !== '') await db.conn.query(statement);
    t = await startTracker({
      db,
      configure: (c) => {
        c.http.proxy_header = 'X-Real-IP';
        c.announce.ipv6 = true;
        c.intervals.flush = 3600;
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'hayate-nginx6-'));
    [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    const config = exampleConfigFor(example, { upstream: t.port, http: httpPort, https: httpsPort, ...selfSignedCertificate(dir) });
    expect(config).toContain(`listen [::1]:${httpPort};`);
    nginx = await startNginx(dir, config, httpsPort);
  });
  afterAll(async () => {
    await nginx?.stop();
    await t?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gives IPv6 clients their ::1 address from X-Real-IP, in peers6 and transfer_ips6', async () => {
    const live = infoHashBytes(torrents.live);
    const dual = { infoHash: live, peerId: peerIdOf('-TR4000-', 1), left: 1000, port: 50001 };
    // users.normal's client announces over IPv6 (http) and over IPv4 (https), the same peer.
    expect((await announce('http', '::1', '::1', users.normal.passkey, dual)).toString('latin1')).not.toContain('failure');
    await announce('https', '127.0.0.1', '127.0.0.2', users.normal.passkey, { ...dual, uploaded: 4096 });
    // users.other's client: IPv6 only, over TLS.
    const other = await announce('https', '::1', '::1', users.other.passkey, {
      infoHash: live,
      peerId: peerIdOf('-qB4650-', 2),
      left: 1000,
      port: 50002,
    });
    expect(peersOf(other)).toEqual(['[::1]:50001']);
    // The dual-stack client gets the IPv6-only peer whichever family it announces over.
    expect(peersOf(await announce('http', '127.0.0.1', '127.0.0.2', users.normal.passkey, { ...dual, uploaded: 4096 }))).toEqual([
      '[::1]:50002',
    ]);

    const swarm = t.tracker.store.torrents.get(live.toString('latin1'))!;
    const mine = swarm.leechers.peers.find((p) => p.userId === users.normal.id)!;
    expect([ipToString(mine.ip >>> 0), ipv6Text(mine.v6!.addr)]).toEqual(['127.0.0.2', '::1']);

    expect((await t.tracker.accounting.flushNow()).ok).toBe(true);
    const [v6rows] = await db.conn.query<RowDataPacket[]>(
      'SELECT uid, INET6_NTOA(ip) AS ip, port FROM transfer_ips6 WHERE fid = ? ORDER BY uid',
      [torrents.live.id],
    );
    expect(v6rows.map((r) => [Number(r['uid']), r['ip'], Number(r['port'])])).toEqual([
      [users.normal.id, '::1', 50001],
      [users.other.id, '::1', 50002],
    ]);
    const [v4rows] = await db.conn.query<RowDataPacket[]>('SELECT uid, ip, uploaded FROM transfer_ips WHERE fid = ?', [torrents.live.id]);
    expect(v4rows.map((r) => [Number(r['uid']), ipToString(Number(r['ip'])), Number(r['uploaded'])])).toEqual([
      [users.normal.id, '127.0.0.2', 4096],
    ]);
  });
});
