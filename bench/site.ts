/**
 * A generated benchmark site in MariaDB: N users and M torrents whose passkeys
 * and info hashes are pure functions of their IDs, so the load generator (and
 * opentracker's whitelist) can compute them without reading the database.
 *
 * Rows are made inside the server from MariaDB's sequence engine
 * (INSERT ... SELECT FROM seq_1_to_N): a million rows take seconds, not minutes.
 */
import { createHash } from 'node:crypto';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { schemaStatements } from '../fixtures/load.js';

export interface SiteSize {
  users: number;
  torrents: number;
}

/** Peer-id prefixes the site approves (the generator uses the first). */
export const BENCH_CLIENTS = ['-qB', '-TR'] as const;

const SALT = 'hayate-bench-';

/** The passkey of user `id`: md5 hex, 32 chars (same expression as the SQL below). */
export function passkeyOf(id: number): string {
  return createHash('md5').update(`${SALT}${id}`).digest('hex');
}

/** The raw 20-byte info_hash of torrent `id`. */
export function infoHashOf(id: number): Buffer {
  return createHash('sha1').update(`${SALT}${id}`).digest();
}

async function count(conn: Connection, table: string): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(rows[0]!['n']);
}

/**
 * Makes sure `database` holds a site of exactly this size (reusing one that
 * does), and empties the tables the tracker writes so each run starts alike.
 * `rootUrl` is a mysql:// URL without a database.
 */
export async function ensureSite(
  rootUrl: string,
  database: string,
  size: SiteSize,
  recreate = false,
): Promise<{ created: boolean; seconds: number }> {
  const started = Date.now();
  const conn = await createConnection({ uri: rootUrl, multipleStatements: false });
  try {
    let created = false;
    const [dbs] = await conn.query<RowDataPacket[]>('SHOW DATABASES LIKE ?', [database]);
    let reuse = dbs.length > 0 && !recreate;
    if (reuse) {
      await conn.query(`USE \`${database}\``);
      try {
        reuse = (await count(conn, 'users_main')) === size.users && (await count(conn, 'torrents')) === size.torrents;
      } catch {
        reuse = false;
      }
    }
    if (!reuse) {
      created = true;
      await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await conn.query(`CREATE DATABASE \`${database}\``);
      await conn.query(`USE \`${database}\``);
      for (const statement of schemaStatements()) await conn.query(statement);
      await conn.query('SET SESSION unique_checks = 0, foreign_key_checks = 0');
      await conn.query(
        `INSERT INTO users_main (ID, Enabled, torrent_pass)
           SELECT seq, '1', MD5(CONCAT(?, seq)) FROM seq_1_to_${size.users}`,
        [SALT],
      );
      await conn.query(
        `INSERT INTO torrents (ID, GroupID, TorrentType, info_hash, Status)
           SELECT seq, seq DIV 3, IF(seq % 5 = 0, 'music', 'anime'), UNHEX(SHA1(CONCAT(?, seq))), 0 FROM seq_1_to_${size.torrents}`,
        [SALT],
      );
      await conn.query('INSERT INTO approved_clients (id, peer_id, archived) VALUES ?', [BENCH_CLIENTS.map((p, i) => [i + 1, p, 0])]);
      await conn.query("INSERT INTO mod_core (mod_option, mod_setting) VALUES ('global_freeleech', 0)");
    }
    // What the tracker writes: start every run from the same state.
    for (const table of ['transfer_history', 'transfer_ips']) await conn.query(`TRUNCATE TABLE ${table}`);
    if (!created) await conn.query('UPDATE torrents SET Seeders = 0, Leechers = 0, Snatched = 0, last_action = 0');
    return { created, seconds: (Date.now() - started) / 1000 };
  } finally {
    await conn.end();
  }
}
