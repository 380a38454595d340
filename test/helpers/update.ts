import type { Connection } from 'mysql2/promise';

/** The site password the update API tests configure. */
export const SITE_PASSWORD = 'site_PW-0123456789abcdef.~';

/**
 * PHP's rawurlencode: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper case), which
 * is how Gazelle encodes the info hashes it pushes.
 */
export function rawurlencode(bytes: Buffer | string): string {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  let out = '';
  for (const b of buf) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** 20 bytes with every byte a careless decoder trips on: NUL, % + & # space = ? / CR LF, 0x80, UTF-8 é, DEL, \ " ' and 0xFF. */
export function awkwardHash(n: number): Buffer {
  const b = Buffer.from([
    0x00, 0x25, 0x2b, 0x26, 0x23, 0x20, 0xff, 0x3d, 0x3f, 0x2f, 0x0d, 0x0a, 0x80, 0xc3, 0xa9, 0x7f, 0x5c, 0x22, 0x27, 0x00,
  ]);
  b[19] = n & 0xff;
  return b;
}

/** The update path for `action` and its already-encoded `params` (`k=v&…`). */
export function updatePath(action: string, params = '', password = SITE_PASSWORD): string {
  return `/${password}/update?action=${action}${params === '' ? '' : `&${params}`}`;
}

/** A 32-character passkey for generated user `n`. */
export function passkeyOf(n: number): string {
  return `gen${String(n).padStart(29, '0')}`;
}

/** Inserts enabled users `first`..`first + count - 1` with passkeyOf(ID), in multi-row statements. */
export async function insertUsers(conn: Connection, first: number, count: number): Promise<void> {
  for (let at = 0; at < count; at += 1000) {
    const rows: string[] = [];
    for (let id = first + at; id < first + Math.min(count, at + 1000); id++) rows.push(`(${id}, '${passkeyOf(id)}', '1')`);
    await conn.query(`INSERT INTO users_main (ID, torrent_pass, Enabled) VALUES ${rows.join(',')}`);
  }
}

/** 20 bytes for generated torrent `n` (distinct for n < 2^32). */
export function generatedHash(n: number): Buffer {
  const b = Buffer.alloc(20, 0x26); // '&' everywhere: every byte must be percent-decoded
  b.writeUInt32BE(n, 0);
  return b;
}

/** Inserts live anime torrents `first`..`first + count - 1` (group = ID) with generatedHash(ID). */
export async function insertTorrents(conn: Connection, first: number, count: number): Promise<void> {
  for (let at = 0; at < count; at += 1000) {
    const rows: string[] = [];
    for (let id = first + at; id < first + Math.min(count, at + 1000); id++) {
      rows.push(`(${id}, ${id}, 'anime', x'${generatedHash(id).toString('hex')}')`);
    }
    await conn.query(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash) VALUES ${rows.join(',')}`);
  }
}
