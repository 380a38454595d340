import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadFixtures, runCli } from '../fixtures/load.js';
import { serverAddress } from './helpers/server-address.js';
import { approvedClients, groupFreeleech, infoHashBytes, torrents, transferHistory, users } from '../fixtures/site.js';

const root = new URL(inject('dbRootUrl'));
const server = serverAddress(inject('dbRootUrl'));
const schemaPath = fileURLToPath(new URL('../database/schema.sql', import.meta.url));

/** Feeds database/schema.sql to the plain `mariadb` command-line client, as an operator would. */
function mariadbClient(database: string): Promise<{ code: number | null; stderr: string }> {
  const args = ['-h', server.host, '-P', String(server.port), '-u', server.user, database];
  if (server.password) args.splice(4, 0, `-p${server.password}`);
  const stdin = openSync(schemaPath, 'r');
  return new Promise((resolve, reject) => {
    const child = spawn('mariadb', args, { stdio: [stdin, 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      closeSync(stdin);
      resolve({ code, stderr });
    });
  });
}

async function rows<T = RowDataPacket>(conn: Connection, sql: string, params: unknown[] = []): Promise<T[]> {
  const [result] = await conn.query(sql, params);
  return result as T[];
}

describe('database/schema.sql with the mariadb client, then the fixtures', () => {
  const name = `hayate_schema_${inject('testRunId')}_${randomBytes(4).toString('hex')}`;
  let conn: Connection;

  beforeAll(async () => {
    const admin = await createConnection(server);
    await admin.query(`CREATE DATABASE \`${name}\``);
    await admin.end();
    conn = await createConnection({ ...server, database: name, supportBigNumbers: true });
  });
  afterAll(async () => {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await conn.end();
  });

  it('loads into a fresh empty database', async () => {
    const { code, stderr } = await mariadbClient(name);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const tables = await rows<{ t: string }>(conn, 'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ?', [name]);
    expect(tables.map((r) => r.t).sort()).toEqual([
      'approved_clients',
      'mod_core',
      'torrent_group_freeleech',
      'torrents',
      'transfer_history',
      'transfer_ips',
      'users_main',
    ]);
  });

  it('takes the fixtures', async () => {
    await loadFixtures(conn);
    const [count] = await rows<{ n: number }>(conn, 'SELECT COUNT(*) AS n FROM users_main');
    expect(count!.n).toBe(Object.keys(users).length);
  });

  it('keeps info_hash as the 20 raw bytes, awkward ones included', async () => {
    const [row] = await rows<{ ID: number; info_hash: Buffer }>(conn, 'SELECT ID, info_hash FROM torrents WHERE info_hash = ?', [
      infoHashBytes(torrents.liveMusic),
    ]);
    expect(row!.ID).toBe(torrents.liveMusic.id);
    expect(row!.info_hash.toString('hex')).toBe(torrents.liveMusic.infoHashHex);
    expect(row!.info_hash.length).toBe(20);
  });

  it('has the users as site.ts describes them', async () => {
    const list = await rows<{
      ID: number;
      Enabled: string;
      torrent_pass: string;
      UpMultiplier: number;
      DownMultiplier: number;
      DisableDownload: number;
      TrackerHide: number;
    }>(conn, 'SELECT ID, Enabled, torrent_pass, UpMultiplier, DownMultiplier, DisableDownload, TrackerHide FROM users_main ORDER BY ID');
    expect(list.filter((u) => u.Enabled === '1').map((u) => u.ID)).toEqual([1, 2, 5, 6, 7]);
    expect(new Set(list.map((u) => u.torrent_pass)).size).toBe(list.length);
    expect(list.every((u) => /^[a-z0-9]{32}$/.test(u.torrent_pass))).toBe(true);
    const multiplied = list.find((u) => u.ID === users.multiplied.id)!;
    expect([multiplied.UpMultiplier, multiplied.DownMultiplier]).toEqual([2, 0.5]);
    expect(list.find((u) => u.ID === users.noDownload.id)!.DisableDownload).toBe(1);
    expect(list.find((u) => u.ID === users.hidden.id)!.TrackerHide).toBe(1);
  });

  it('has torrents of every status, a freeleech group and a hit-and-run', async () => {
    const statuses = await rows<{ Status: number; n: number }>(
      conn,
      'SELECT Status, COUNT(*) AS n FROM torrents GROUP BY Status ORDER BY Status',
    );
    expect(statuses.map((s) => s.Status)).toEqual([0, 1, 2]);
    const [freeleech] = await rows<{ ID: number }>(
      conn,
      'SELECT t.ID FROM torrents t JOIN torrent_group_freeleech g ON g.GroupID = t.GroupID AND g.Type = t.TorrentType WHERE g.DownMultiplier = 0',
    );
    expect(freeleech!.ID).toBe(torrents.groupFreeleech.id);
    expect(groupFreeleech.anime10.groupId).toBe(torrents.sameGroupOtherType.groupId);
    const hnr = await rows<{ uid: number; fid: number }>(conn, 'SELECT uid, fid FROM transfer_history WHERE hnr = 1');
    expect(hnr).toEqual([{ uid: transferHistory.hitAndRun.uid, fid: transferHistory.hitAndRun.fid }]);
  });

  it('approves the real clients and archives one', async () => {
    const clients = await rows<{ peer_id: string; archived: number }>(conn, 'SELECT peer_id, archived FROM approved_clients ORDER BY id');
    expect(clients).toEqual(Object.values(approvedClients).map((c) => ({ peer_id: c.peerId, archived: c.archived ? 1 : 0 })));
    const [setting] = await rows<{ mod_setting: number }>(conn, "SELECT mod_setting FROM mod_core WHERE mod_option = 'global_freeleech'");
    expect(setting!.mod_setting).toBe(0);
  });

  it("rejects TorrentType 'internal' (why the fixtures have no internal torrent)", async () => {
    await expect(
      conn.query("INSERT INTO torrents (GroupID, TorrentType, info_hash) VALUES (99, 'internal', ?)", [randomBytes(20)]),
    ).rejects.toThrow(/TorrentType/);
  });
});

describe('fixtures/load.js command line', () => {
  const name = `hayate_cli_${inject('testRunId')}_${randomBytes(4).toString('hex')}`;
  const url = `${root.protocol}//${root.username}:${root.password}@${root.host}/${name}`;
  const messages: string[] = [];
  const out = (line: string): void => void messages.push(line);

  afterAll(async () => {
    const admin = await createConnection(server);
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
  });

  it('--recreate makes the database, loads the schema when tables are missing, then the fixtures', async () => {
    expect(await runCli(['--recreate', url], out)).toBe(0);
    expect(messages.join('\n')).toContain('loaded database/schema.sql');
    const conn = await createConnection({ ...server, database: name });
    try {
      const [result] = await conn.query('SELECT torrent_pass FROM users_main WHERE ID = ?', [users.normal.id]);
      expect((result as Array<{ torrent_pass: string }>)[0]!.torrent_pass).toBe(users.normal.passkey);
    } finally {
      await conn.end();
    }
  });

  it('refuses to load twice into the same database without --recreate', async () => {
    messages.length = 0;
    expect(await runCli([url], out)).toBe(1);
    expect(messages.join('\n')).toContain('already has rows; use --recreate');
  });

  it('loads again with --recreate', async () => {
    expect(await runCli(['--recreate', url], out)).toBe(0);
  });

  it('explains its usage when called wrongly', async () => {
    messages.length = 0;
    expect(await runCli([], out)).toBe(2);
    expect(await runCli(['--force', url], out)).toBe(2);
    expect(messages[0]).toMatch(/^usage: /);
  });
});
