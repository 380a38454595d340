import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBytes, hash, peerIdOf } from './helpers/announce.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { eventually } from './helpers/tracker.js';

const USERS = 40;
const STEP = 1_000;
const passkey = (uid: number) => `sigterm${String(uid).padStart(25, '0')}`;

/** One GET over a keep-alive agent; rejects on any socket error (an unanswered request). */
function announceOnce(agent: Agent, port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('SIGTERM under load', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    const users = Array.from({ length: USERS }, (_, i) => `(${i + 1}, '1', '${passkey(i + 1)}')`);
    await db.conn.query(`INSERT INTO users_main (ID, Enabled, torrent_pass) VALUES ${users.join(',')}`);
    await db.conn.query("INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES (1, 1, 'anime', ?)", [hash(1)]);
    await db.conn.query("INSERT INTO approved_clients (id, peer_id) VALUES (1, '-TR')");
    dir = mkdtempSync(join(tmpdir(), 'hayate-sigterm-'));
  });
  afterAll(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers what is in flight, flushes every queue, writes the cache and exits 0: every answered byte is in MariaDB', async () => {
    const port = await freePort();
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        database: { dsn: db.dsn },
        http: { addr: `127.0.0.1:${port}` },
        // Nothing is flushed on the timer: only capacity or the shutdown flush writes.
        intervals: { flush: 3600 },
        log_flushes: false,
      }),
    );
    const child = spawn(process.execPath, [join(process.cwd(), 'dist/cmd/hayate.js'), '-c', 'config.json'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = once(child, 'exit');
    await eventually(() => (output.includes('"listening"') ? true : undefined), 20_000, 'the tracker to listen');

    const agent = new Agent({ keepAlive: true, maxSockets: USERS });
    // Per user: one peer, counters growing by STEP each announce; remember what was sent and answered.
    const sent = new Array<number>(USERS + 1).fill(0);
    const answered = new Array<number>(USERS + 1).fill(0);
    let total = 0;
    let signalled = false;
    const loop = async (uid: number): Promise<void> => {
      for (let n = 0; ; n++) {
        const up = n * STEP;
        const path =
          `/${passkey(uid)}/announce?info_hash=${encodeBytes(hash(1))}&peer_id=${encodeBytes(peerIdOf('-TR3000-', uid))}` +
          `&port=6881&uploaded=${up}&downloaded=${up * 2}&left=${n === 0 ? 1000 : 500}&numwant=5`;
        sent[uid] = up;
        try {
          const body = await announceOnce(agent, port, path);
          expect(body).toMatch(/^d8:complete/);
          answered[uid] = up;
          total++;
        } catch {
          return; // the server stopped accepting: this request was not answered
        }
        if (signalled && n > 1000) return;
      }
    };
    const loops = Array.from({ length: USERS }, (_, i) => loop(i + 1));
    await eventually(() => (total >= 2_000 ? true : undefined), 30_000, '2,000 answered announces');
    signalled = true;
    child.kill('SIGTERM');
    await Promise.all(loops);
    agent.destroy();
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(output).toContain('shutdown complete');

    // Each peer's first announce is its baseline; every later answered delta must be in users_main.
    // A request cut off by the shutdown may or may not have been counted, so each user's sum is
    // either what was answered or what was sent — never less than answered, never anything else.
    const [rows] = await db.conn.query<RowDataPacket[]>('SELECT ID, rawup, rawdl, Uploaded, Downloaded FROM users_main ORDER BY ID');
    let bytes = 0;
    for (const row of rows) {
      const uid = Number(row['ID']);
      const rawup = Number(row['rawup']);
      expect([answered[uid], sent[uid]], `user ${uid}`).toContain(rawup);
      expect(Number(row['rawdl'])).toBe(rawup * 2);
      expect(Number(row['Uploaded'])).toBe(rawup);
      bytes += rawup * 3;
    }
    expect(bytes).toBeGreaterThan(0);
    const [history] = await db.conn.query<RowDataPacket[]>('SELECT SUM(uploaded) AS up FROM transfer_history');
    expect(Number(history[0]!['up'])).toBe(rows.reduce((s, r) => s + Number(r['rawup']), 0));
    const [ips] = await db.conn.query<RowDataPacket[]>('SELECT SUM(uploaded) AS up FROM transfer_ips');
    expect(Number(ips[0]!['up'])).toBe(rows.reduce((s, r) => s + Number(r['rawup']), 0));
    // The shutdown also wrote the cache files.
    expect(output).toContain('cache files written');
  });
});
