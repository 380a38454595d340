import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Structured logs: one JSON line per event with a level, so operators can filter
 * (`jq 'select(.level >= 40)'`). Fastify uses the same logger for its own lines.
 *
 * Written synchronously: the tracker logs events, not requests (a few lines a
 * second), and pino's default asynchronous stdout both calls flush() back before
 * a write in flight has landed and, at exit, writes what is buffered while that
 * write is still going — the last lines of a shutdown came out of order or not at all.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: process.env['HAYATE_LOG_LEVEL'] ?? 'info',
      base: { name: 'hayate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      ...options,
    },
    pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that writes nothing (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
