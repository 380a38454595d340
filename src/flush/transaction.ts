import type { Pool, PoolConnection } from 'mysql2/promise';
import { closeConnection } from '../database/pool.js';

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
    super(`commit outcome unknown: ${(cause as Partial<Error> | null | undefined)?.message ?? String(cause)}`);
  }
}

/** What one flush round writes: `count` statements made on demand, then an optional last one. */
export interface RoundStatements {
  count: number;
  /** Statement i (0 ≤ i < count); built when it is about to be sent (the builders share one buffer). */
  statement(i: number): string;
  /** Sent last, in the same transaction (the journal position the round covers), if any. */
  last?: string | undefined;
  /** Awaited before COMMIT is sent (the journal records the round covers are on disk). */
  beforeCommit?: (() => Promise<void>) | undefined;
}

/**
 * Test hook, HAYATE_TEST_COMMIT_PAUSE=before:<file> or after:<file>: just before
 * COMMIT is sent (or once it has been answered), write `file` and never go on, so
 * a test can SIGKILL the tracker with a round's transaction open on the server
 * (rolled back when the connection dies) or committed without the tracker knowing
 * (what a lost COMMIT answer leaves). Unset in production: one lookup per round.
 */
const COMMIT_PAUSE = process.env['HAYATE_TEST_COMMIT_PAUSE'];

async function testPause(at: 'before' | 'after'): Promise<void> {
  const value = COMMIT_PAUSE;
  if (value === undefined || !value.startsWith(`${at}:`)) return;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(value.slice(at.length + 1), String(process.pid));
  await new Promise(() => {});
}

/**
 * Runs a round's statements in one transaction on a pooled connection: either
 * everything (with the position row) is committed or, on any error before
 * COMMIT, nothing is. A connection that saw an error it could not roll back is
 * destroyed, not reused. Throws CommitOutcomeUnknown when COMMIT was sent and
 * its answer lost. Returns the affected-row count of the statements.
 */
export async function writeRound(pool: Pool, round: RoundStatements, options: WriteOptions): Promise<number> {
  const conn: PoolConnection = await pool.getConnection();
  let reusable = false;
  try {
    await conn.query({ sql: 'BEGIN', timeout: options.statementTimeoutMs });
    let affected = 0;
    for (let i = 0; i < round.count; i++) {
      const sql = round.statement(i);
      const text =
        options.lockWaitTimeout === undefined
          ? sql
          : `SET STATEMENT innodb_lock_wait_timeout = ${Math.max(1, Math.floor(options.lockWaitTimeout))} FOR ${sql}`;
      const [result] = await conn.query({ sql: text, timeout: options.statementTimeoutMs });
      affected += (result as { affectedRows?: number }).affectedRows ?? 0;
    }
    if (round.last !== undefined) await conn.query({ sql: round.last, timeout: options.statementTimeoutMs });
    if (round.beforeCommit !== undefined) await round.beforeCommit();
    if (COMMIT_PAUSE !== undefined) await testPause('before');
    try {
      await conn.query({ sql: 'COMMIT', timeout: options.statementTimeoutMs });
    } catch (err) {
      // A server-side refusal of COMMIT rolls back; a lost connection leaves us not knowing.
      if ((err as { fatal?: boolean }).fatal || (err as { code?: string }).code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
        throw new CommitOutcomeUnknown(err);
      }
      throw err;
    }
    if (COMMIT_PAUSE !== undefined) await testPause('after');
    reusable = true;
    return affected;
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
    else closeConnection(conn);
  }
}

/** One statement in its own transaction (writeRound with one statement). Returns the affected-row count. */
export function writeInTransaction(pool: Pool, sql: string, options: WriteOptions): Promise<number> {
  return writeRound(pool, { count: 1, statement: () => sql }, options);
}
