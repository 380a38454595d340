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
      ...options,
    },
    redacting,
  );
}

/** A logger that writes nothing (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
