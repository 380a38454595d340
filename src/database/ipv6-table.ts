import type { Pool } from 'mysql2/promise';

/** The migration that makes the table IPv6 address history goes to (SPEC §13). */
export const IPV6_MIGRATION = 'database/migrations/002-transfer-ips6.sql';

/**
 * With `announce.ipv6` on, IPv6 announces are written to transfer_ips6, a table chihaya's
 * schema does not have. Resolves 'present' or 'missing' (the database said the table does
 * not exist: MariaDB error 1146), or 'unknown' when the database could not be asked (it is
 * down at start: the tracker starts as it does without IPv6, and a missing table then shows
 * as SQL errors of the transfer_ips6 queue, whose records stay queued).
 */
export async function transferIps6Table(pool: Pool): Promise<'present' | 'missing' | 'unknown'> {
  try {
    await pool.query('SELECT 1 FROM transfer_ips6 LIMIT 0');
    return 'present';
  } catch (err) {
    return (err as { errno?: number }).errno === 1146 ? 'missing' : 'unknown';
  }
}
