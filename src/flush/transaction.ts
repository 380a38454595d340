import type { Pool, PoolConnection } from 'mysql2/promise';
import { closeConnection, connectionUnless, noAnswerInTime } from '../database/pool.js';

export interface WriteOptions {
  /**
   * Seconds a flush statement waits for a row lock before failing with 1205
   * (`SET STATEMENT innodb_lock_wait_timeout = N FOR …`); undefined keeps the server's.
   */
  lockWaitTimeout?: number | undefined;
  /** Client-side limit on one statement, so a hung server cannot hold a flusher for ever. */
  statementTimeoutMs: number;
  /** Where rounds take and register the connection they write on, so a stop at its deadline can close it. */
  rounds?: OpenRounds | undefined;
}

/**
 * The connections flush rounds are writing on. A stop that reaches its deadline with a round
 * still waiting on the database (frozen, or a table lock) closes them: the server rolls those
 * transactions back, the rounds fail and their records are reported as not written (with the
 * crash journal, the next start writes them).
 */
export class OpenRounds {
  private readonly open = new Set<PoolConnection>();
  private closing = false;
  private giveUp = OpenRounds.signal();

  /** A promise closeAll() rejects, to end a round's wait for a new connection (frozen: up to connectTimeout). */
  private static signal(): { promise: Promise<never>; reject: (err: Error) => void } {
    let reject!: (err: Error) => void;
    const promise = new Promise<never>((_, no) => (reject = no));
    promise.catch(() => undefined); // raced only while a round waits for a connection
    return { promise, reject };
  }

  /**
   * A connection from `pool` for a round, registered until release(). Fails (code
   * HAYATE_STOP_DEADLINE) once closeAll() was called, also while it waits for the
   * pool; a connection that comes after that goes back to the pool unused.
   */
  async acquire(pool: Pool): Promise<PoolConnection> {
    if (this.closing) throw gaveUp();
    const conn = await connectionUnless(pool, this.giveUp.promise);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- closeAll() may have run while the pool answered
    if (this.closing) {
      conn.release();
      throw gaveUp();
    }
    this.open.add(conn);
    return conn;
  }

  /** The round is done with `conn` (its caller releases or closes it). */
  release(conn: PoolConnection): void {
    this.open.delete(conn);
  }

  /** Closes every connection a round is writing on, and fails every acquire() until reopen(). */
  closeAll(): void {
    this.closing = true;
    this.giveUp.reject(gaveUp());
    for (const conn of this.open) closeConnection(conn);
    this.open.clear();
  }

  reopen(): void {
    if (!this.closing) return;
    this.closing = false;
    this.giveUp = OpenRounds.signal();
  }
}

function gaveUp(): Error {
  return Object.assign(new Error('the stop reached its deadline with this round still waiting on the database'), {
    code: 'HAYATE_STOP_DEADLINE',
    fatal: true,
  });
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
 * COMMIT, nothing is. A connection that saw an error it could not roll back, or
 * a statement not answered in time, is closed, not reused (a ROLLBACK sent on it
 * would wait behind the unanswered statement, with no limit). Throws
 * CommitOutcomeUnknown when COMMIT was sent and its answer lost. Returns the
 * affected-row count of the statements.
 */
export async function writeRound(pool: Pool, round: RoundStatements, options: WriteOptions): Promise<number> {
  const conn: PoolConnection = options.rounds === undefined ? await pool.getConnection() : await options.rounds.acquire(pool);
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
      if ((err as { fatal?: boolean }).fatal || noAnswerInTime(err)) {
        throw new CommitOutcomeUnknown(err);
      }
      throw err;
    }
    if (COMMIT_PAUSE !== undefined) await testPause('after');
    reusable = true;
    return affected;
  } catch (err) {
    if (!(err instanceof CommitOutcomeUnknown) && !(err as { fatal?: boolean }).fatal && !noAnswerInTime(err)) {
      try {
        await conn.query({ sql: 'ROLLBACK', timeout: options.statementTimeoutMs });
        reusable = true;
      } catch {
        // the connection is unusable; destroyed below
      }
    }
    throw err;
  } finally {
    options.rounds?.release(conn);
    if (reusable) conn.release();
    else closeConnection(conn);
  }
}

/** One statement in its own transaction (writeRound with one statement). Returns the affected-row count. */
export function writeInTransaction(pool: Pool, sql: string, options: WriteOptions): Promise<number> {
  return writeRound(pool, { count: 1, statement: () => sql }, options);
}
