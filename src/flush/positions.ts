/**
 * hayate's own table on the site's database: per accounting queue, the journal
 * position its last committed flush round covers (see docs/crash-safety.md).
 *
 * A flush round commits its rows and `position = P` in one transaction, so the
 * database itself says which journal records it holds: after a crash, records
 * up to P are skipped and those after it are queued again; after a COMMIT whose
 * answer was lost, reading the row says whether it happened. chihaya's tables
 * are untouched; this one is added by database/migrations/001-hayate-journal-positions.sql.
 */
import type { Pool } from 'mysql2/promise';
import { ConfigError } from '../config/config.js';
import { queueNames, type QueueName } from './tables.js';

export const POSITIONS_TABLE = 'hayate_journal_positions';
export const POSITIONS_MIGRATION = 'database/migrations/001-hayate-journal-positions.sql';

/** The migration's statement (kept identical to the .sql file; a test checks). */
export const CREATE_POSITIONS_TABLE =
  `CREATE TABLE IF NOT EXISTS ${POSITIONS_TABLE} (\n` +
  '  queue VARCHAR(32) NOT NULL,\n' +
  '  position BIGINT UNSIGNED NOT NULL,\n' +
  '  PRIMARY KEY (queue)\n' +
  ') ENGINE=InnoDB DEFAULT CHARSET=ascii';

/**
 * What a flusher needs from the journal: the position its queue's contents
 * reach, and a wait for those records to be on disk before COMMIT.
 */
export interface JournalPositionSource {
  /** Sequence number of the last record appended (0: none yet). Every record up to it has reached the queues. */
  appended(): number;
  /** Resolves once records up to `position` are written (and fdatasync'ed, when the journal syncs). */
  durable(position: number): Promise<void>;
}

/**
 * The statement that ends a round's transaction: the queue's row moves to
 * `position` (never backwards: a queue marked idle concurrently may have written a
 * smaller one).
 */
export function positionStatement(queue: QueueName, position: number): string {
  return (
    `INSERT INTO ${POSITIONS_TABLE} (queue, position) VALUES ('${queue}', ${Math.floor(position)}) ` +
    'ON DUPLICATE KEY UPDATE position = GREATEST(position, VALUES(position))'
  );
}

/** Every queue's stored position (0 for a queue without a row). Throws on a database error. */
export async function readPositions(pool: Pool): Promise<Map<QueueName, number>> {
  const [rows] = await pool.query(`SELECT queue, position FROM ${POSITIONS_TABLE}`);
  const out = new Map<QueueName, number>();
  for (const row of rows as { queue: QueueName; position: number | string }[]) out.set(row.queue, Number(row.position));
  return out;
}

/** One queue's stored position (0 without a row). Throws on a database error. */
export async function readPosition(pool: Pool, queue: QueueName): Promise<number> {
  const [rows] = await pool.query(`SELECT position FROM ${POSITIONS_TABLE} WHERE queue = ?`, [queue]);
  const row = (rows as { position: number | string }[])[0];
  return row === undefined ? 0 : Number(row.position);
}

/**
 * The positions table is missing and may not be made: this database user may not create
 * it, or the journal holds announces the database cannot account for. The operator's to
 * settle (a configuration error: one line, exit 78, not restarted).
 */
export class PositionsTableMissing extends ConfigError {
  override name = 'PositionsTableMissing';
}

/** What the journal folder holds at start, for ensurePositionsTable. */
export interface JournalAtStart {
  /** The folder, as the operator should be told it. */
  dir: string;
  /** Records its segments have room for, and the last one's sequence number (journalExtent). */
  records: number;
  lastSeq: number;
  /** The position a clean stop's checkpoint says every queue was flushed through; undefined without one. */
  cleanThrough: number | undefined;
}

const NO_JOURNAL: JournalAtStart = { dir: '', records: 0, lastSeq: 0, cleanThrough: undefined };

/** MariaDB's "no privilege" answers: the user may not create the table (1142 on the table, 1044 on the database). */
const NO_PRIVILEGE = new Set([1142, 1044]);

/**
 * Makes sure the table exists, creating it when missing (CREATE TABLE IF NOT EXISTS, which
 * needs the CREATE privilege). When it is missing while `journal` holds announces, a new,
 * empty table would say none was ever flushed and every one would be credited again (twice
 * over where this database, a copy or one whose table was dropped, already has them):
 * - after a clean stop whose checkpoint covers every record, all were flushed before the
 *   stop; the table is made with every queue at that position, in one statement (CREATE ...
 *   SELECT: a crash cannot leave it made without its rows), and nothing is replayed;
 * - otherwise nothing tells which of them the database has: PositionsTableMissing, saying what
 *   to do, and no table is made.
 * Throws PositionsTableMissing too when the user may not create it; any other database error
 * is thrown as it is (the caller retries). Resolves with what it found or did.
 */
export async function ensurePositionsTable(
  pool: Pool,
  journal: JournalAtStart = NO_JOURNAL,
): Promise<'existed' | 'created' | 'created at the clean stop'> {
  try {
    await pool.query(`SELECT 1 FROM ${POSITIONS_TABLE} LIMIT 0`);
    return 'existed';
  } catch (err) {
    if ((err as { errno?: number }).errno !== 1146) throw err; // 1146: no such table; anything else is the database's own trouble
  }
  let statement = CREATE_POSITIONS_TABLE;
  if (journal.records > 0) {
    const through = journal.cleanThrough;
    if (through === undefined || through < journal.lastSeq) {
      throw new PositionsTableMissing(
        `table ${POSITIONS_TABLE} is missing but ${journal.dir} holds up to ${journal.records} announces not known to be flushed: ` +
          'this database cannot say which of them it already has, and crediting them all could count them twice. ' +
          `If this is a new or replaced database, move ${journal.dir} away and start again; if the table was dropped, ` +
          'restore it with the data it was backed up with',
      );
    }
    statement += ` SELECT ${queueNames.map((q) => `'${q}' AS queue, ${Math.floor(through)} AS position`).join(' UNION ALL SELECT ')}`;
  }
  try {
    await pool.query(statement);
  } catch (err) {
    if (!NO_PRIVILEGE.has((err as { errno?: number }).errno ?? 0)) throw err;
    throw new PositionsTableMissing(
      `table ${POSITIONS_TABLE} is missing and could not be created (${(err as Error).message}): ` +
        `run ${POSITIONS_MIGRATION} as the database owner, or set journal.enabled to false`,
    );
  }
  return journal.records > 0 ? 'created at the clean stop' : 'created';
}
