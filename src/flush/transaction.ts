import type { Pool, PoolConnection } from 'mysql2/promise';

export interface WriteOptions {
  /**
   * Seconds a flush statement waits for a row lock before failing with 1205
   * (`SET STATEMENT innodb_lock_wait_timeout = N FOR …`); undefined keeps the server's.
   */
  lockWaitTimeout?: number | undefined;
  /** Client-side limit on one statement, so a hung server cannot hold a flusher for ever. */
  statementTimeoutMs: number;
}

/** MariaDB's "deadlock found" and "lock wait timeout exceeded": worth retrying as they are. */
export function isLockConflict(err: unknown): boolean {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return errno === 1213 || errno === 1205;
}

/** The COMMIT was sent but its answer never came: the batch may or may not be in the database. */
export class CommitOutcomeUnknown extends Error {
  override name = 'CommitOutcomeUnknown';
  constructor(override readonly cause: unknown) {
    super(`commit outcome unknown: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/**
 * Runs one statement in its own transaction on a pooled connection. Either the
 * whole statement is committed or (on any error before COMMIT) nothing is. A
 * connection that saw an error it could not roll back is destroyed, not reused.
 * Returns the affected-row count.
 */
export async function writeInTransaction(pool: Pool, sql: string, options: WriteOptions): Promise<number> {
  const conn: PoolConnection = await pool.getConnection();
  let reusable = false;
  try {
    await conn.query({ sql: 'BEGIN', timeout: options.statementTimeoutMs });
    const text =
      options.lockWaitTimeout === undefined
        ? sql
        : `SET STATEMENT innodb_lock_wait_timeout = ${Math.max(1, Math.floor(options.lockWaitTimeout))} FOR ${sql}`;
    const [result] = await conn.query({ sql: text, timeout: options.statementTimeoutMs });
    try {
      await conn.query({ sql: 'COMMIT', timeout: options.statementTimeoutMs });
    } catch (err) {
      // A server-side refusal of COMMIT rolls back; a lost connection leaves us not knowing.
      if ((err as { fatal?: boolean }).fatal || (err as { code?: string }).code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
        throw new CommitOutcomeUnknown(err);
      }
      throw err;
    }
    reusable = true;
    return (result as { affectedRows?: number }).affectedRows ?? 0;
  } catch (err) {
    if (!(err instanceof CommitOutcomeUnknown) && !(err as { fatal?: boolean }).fatal) {
      try {
        await conn.query({ sql: 'ROLLBACK', timeout: options.statementTimeoutMs });
        reusable = true;
      } catch {
        // the connection is unusable; destroyed below
      }
    }
    throw err;
  } finally {
    if (reusable) conn.release();
    else conn.destroy();
  }
}
