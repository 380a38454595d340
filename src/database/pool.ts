import { format } from 'mysql2';
import { createPool, type Pool, type PoolConnection, type PoolOptions, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { parseDsn } from '../config/dsn.js';

/**
 * mysql2 runs every query text through its placeholder formatter, which scans the
 * whole text even when there are no values; the accounting flush sends ~60 KB
 * statements without values many times a second. Text without values goes out
 * as it is (what the formatter would return after its scan); text with values is
 * formatted exactly as mysql2 would.
 */
function queryFormat(this: { config: { stringifyObjects?: boolean } }, sql: string, values: unknown, timezone?: unknown): string {
  if (values === undefined || values === null || (Array.isArray(values) && values.length === 0)) return sql;
  return format(sql, values as Parameters<typeof format>[1], this.config.stringifyObjects, timezone as Parameters<typeof format>[3]);
}

/** A mysql2 pool for the configured DSN. Numbers stay numbers; BIGINTs past 2^53 come back as strings. */
export function openPool(dsn: string, options: Partial<PoolOptions> = {}): Pool {
  const address = parseDsn(dsn);
  return createPool({
    ...address,
    connectionLimit: 8,
    waitForConnections: true,
    // A flush that cannot get a connection must fail (and be retried later), not hang for ever.
    connectTimeout: 5_000,
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    multipleStatements: false,
    enableKeepAlive: true,
    queryFormat: queryFormat as PoolOptions['queryFormat'],
    // No async call-site capture (an Error.captureStackTrace per query); errors keep their
    // message, code and errno, which is what the logs and the retry logic use.
    trace: false,
    ...options,
  });
}

/**
 * MariaDB answers that no retry can change: wrong user or password, no rights on
 * the database, unknown database, missing tables (schema not loaded). A tracker
 * that gets one of these at start exits with a one-line message instead of
 * serving nothing for ever; a refused or timed-out connection is not one of
 * them (the server may be starting).
 */
const REFUSALS = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_NO_SUCH_TABLE',
  'ER_BAD_FIELD_ERROR',
]);

/** True for a database error that means the configuration can never work (see REFUSALS; SQLSTATE 28000 is any refused login). */
export function isConfigurationRefusal(err: unknown): boolean {
  const { code, sqlState } = (err ?? {}) as { code?: unknown; sqlState?: unknown };
  return (typeof code === 'string' && REFUSALS.has(code)) || sqlState === '28000';
}

/**
 * A reload page the database has not answered in this long fails its pass (ms). A page is a
 * keyset read of a thousand rows by primary key, answered in milliseconds: a page that waits
 * this long waits on a frozen server, a lost network or a table lock (LOCK TABLES … WRITE).
 * The pass then fails (code PROTOCOL_SEQUENCE_TIMEOUT, mysql2's for a query timeout), so
 * /health and hayate_database_reachable say so, and the next pass starts on schedule on a
 * new connection.
 */
export const RELOAD_PAGE_TIMEOUT_MS = 30_000;

/**
 * Closes a connection that cannot be reused, socket and all, failing what it still waits for.
 * mysql2's destroy() alone only ends its side of the socket and marks it closing: against a
 * server that neither answers nor closes (frozen, a lost network) the socket would stay open
 * until TCP gave up, and a statement waiting on it would wait for its own time limit. The socket
 * is destroyed with an error first, which mysql2 hands to the waiting statement as a fatal one.
 */
export function closeConnection(conn: PoolConnection): void {
  const stream = (conn as unknown as { connection?: { stream?: { destroy?: (err?: Error) => void } } }).connection?.stream;
  stream?.destroy?.(
    Object.assign(new Error('connection closed by hayate (no answer in time, or the stop gave up)'), { code: 'HAYATE_CONNECTION_CLOSED' }),
  );
  conn.destroy();
}

/**
 * Runs one read-only prepared statement (`params` bound in order) and returns its rows as
 * arrays, failing with code PROTOCOL_SEQUENCE_TIMEOUT when the whole read takes over
 * `timeoutMs`: getting a connection from the pool (which other callers may hold, busy on a
 * frozen server), preparing the statement (which mysql2's own `timeout` does not cover) and
 * reading the rows. A connection that timed out, or failed fatally, is closed: it would still
 * be waiting for its answer when handed to the next read. One that comes from the pool after
 * the deadline goes back to it unused.
 */
export async function readRows(pool: Pool, sql: string, params: readonly (string | number)[], timeoutMs: number): Promise<unknown[][]> {
  const rows = await withDeadline(pool, timeoutMs, (conn) =>
    conn.execute<RowDataPacket[]>({ sql, rowsAsArray: true }, params as (string | number)[]),
  );
  return rows as unknown as unknown[][];
}

/**
 * Runs one statement (`params` bound in order, as a prepared statement) within `timeoutMs`
 * as readRows does, and returns its affected-row count.
 */
export async function runStatement(pool: Pool, sql: string, params: readonly (string | number)[], timeoutMs: number): Promise<number> {
  const result = await withDeadline(pool, timeoutMs, (conn) => conn.execute<ResultSetHeader>(sql, params as (string | number)[]));
  return result.affectedRows;
}

/** mysql2's code for a statement not answered within its `timeout`; hayate's own deadlines use it too. */
const NO_ANSWER = 'PROTOCOL_SEQUENCE_TIMEOUT';

/**
 * The error says a statement got no answer in time: its connection is still waiting for that
 * answer, so it must be closed (closeConnection), not reused nor sent a ROLLBACK.
 */
export function noAnswerInTime(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === NO_ANSWER;
}

/**
 * A connection from `pool`, unless `giveUp` rejects first: then its error is thrown, and a
 * connection the pool hands over later goes back to it unused.
 */
export async function connectionUnless(pool: Pool, giveUp: Promise<never>): Promise<PoolConnection> {
  const acquiring = pool.getConnection();
  try {
    return await Promise.race([acquiring, giveUp]);
  } catch (err) {
    acquiring.then(
      (late) => late.release(),
      () => undefined,
    );
    throw err;
  }
}

/** `use` on a pooled connection, all of it (the wait for the connection too) within `timeoutMs`; see readRows. */
async function withDeadline<T>(pool: Pool, timeoutMs: number, use: (conn: PoolConnection) => Promise<[T, unknown]>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(Object.assign(new Error(`the database did not answer in ${timeoutMs / 1000} s`), { code: NO_ANSWER }));
    }, timeoutMs);
  });
  let conn: PoolConnection;
  try {
    conn = await connectionUnless(pool, timedOut);
  } catch (err) {
    clearTimeout(timer);
    throw err;
  }
  let reusable = false;
  try {
    const [result] = await Promise.race([use(conn), timedOut]);
    reusable = true;
    return result;
  } catch (err) {
    reusable = !noAnswerInTime(err) && (err as { fatal?: unknown }).fatal !== true;
    throw err;
  } finally {
    clearTimeout(timer);
    if (reusable) conn.release();
    else closeConnection(conn);
  }
}
