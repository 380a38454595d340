import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** The levels HAYATE_LOG_LEVEL may name (pino's). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** A bad HAYATE_LOG_LEVEL: the CLI prints its message as one line. */
export class LogLevelError extends Error {
  override name = 'LogLevelError';
}

/** The level named by HAYATE_LOG_LEVEL (default info); throws LogLevelError naming the value. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const value = env['HAYATE_LOG_LEVEL'];
  if (value === undefined || value === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new LogLevelError(`HAYATE_LOG_LEVEL: unknown level ${JSON.stringify(value)} (one of ${LOG_LEVELS.join(', ')})`);
  }
  return value;
}

/**
 * The path segment before announce, scrape or update is a secret (a user's passkey,
 * the site's password): matched wherever a URL or path appears in a line.
 */
const SECRET_SEGMENT = /\/[^/\s"'?#\\]+(\/+(?:announce|scrape|update)(?![A-Za-z0-9_]))/g;

/**
 * Hides passkeys in a log line: `/<passkey>/announce?…` becomes `/***\/announce?…`
 * (also for scrape and the site's /<password>/update). Applied to every line the
 * logger writes, so no field — a request URL, an error message quoting one — can
 * leak a passkey into log files.
 */
export function redactPasskeys(line: string): string {
  if (!line.includes('/announce') && !line.includes('/scrape') && !line.includes('/update')) return line;
  return line.replace(SECRET_SEGMENT, '/***$1');
}

/** An error as a log line carries it (the `err` field), on either thread. */
export interface LoggedError {
  type: string;
  message: string;
  /** The database's or the system's name for it (ER_LOCK_DEADLOCK, ECONNREFUSED, ENOSPC). */
  code?: string;
  errno?: number;
  sqlState?: string;
  /** Only for an error without a code (nor a cause with one): a fault in hayate, where the stack says where. */
  stack?: string;
  cause?: LoggedError | string;
}

/** Does the error, or one it was caused by, carry a code (a database's, a system's)? */
function hasCode(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const e = err as { code?: unknown; cause?: unknown };
  return typeof e.code === 'string' || hasCode(e.cause, depth + 1);
}

/**
 * The `err` field of every log line: type, message and the code an operator looks up,
 * the same shape whether the error was thrown on the request thread or forwarded from
 * the accounting thread (which sends this shape, having no Error to send). A stack only
 * for an error without a code, nor a cause with one: an outage's mysql2 or fs error says what it is by its
 * code, and its stack would only say where hayate was waiting. Anything else (a
 * string, an object already in this shape) is logged as it is.
 */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) return value;
  const e = value as Error & { code?: unknown; errno?: unknown; sqlState?: unknown };
  const out: LoggedError = { type: e.name, message: e.message };
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.errno === 'number') out.errno = e.errno;
  if (typeof e.sqlState === 'string') out.sqlState = e.sqlState;
  if (!hasCode(e) && e.stack !== undefined) out.stack = e.stack;
  if (e.cause !== undefined && depth < 3) {
    const cause = serializeError(e.cause, depth + 1);
    out.cause = typeof cause === 'object' && cause !== null ? (cause as LoggedError) : String(cause);
  }
  return out;
}

/**
 * Structured logs: one JSON line per event with a level, so operators can filter
 * (`jq 'select(.level >= 40)'`). Fastify uses the same logger for its own lines.
 * The level comes from HAYATE_LOG_LEVEL (throws LogLevelError when it names none).
 * Lines go to stdout, or to `destination` (tests).
 *
 * Written synchronously: the tracker logs events, not requests (a few lines a
 * second), and pino's default asynchronous stdout both calls flush() back before
 * a write in flight has landed and, at exit, writes what is buffered while that
 * write is still going — the last lines of a shutdown came out of order or not at all.
 */
export function createLogger(options: LoggerOptions = {}, destination?: { write(line: string): void }): Logger {
  const out = pino.destination({ dest: 1, sync: true });
  const redacting = {
    write: (line: string) => (destination ?? out).write(redactPasskeys(line)),
    flush: (cb?: (err?: Error) => void) => out.flush(cb),
    flushSync: () => out.flushSync(),
  } as unknown as DestinationStream;
  return pino(
    {
      level: logLevelFromEnv(),
      base: { name: 'hayate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError },
      ...options,
    },
    redacting,
  );
}

/** A logger that writes nothing (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
