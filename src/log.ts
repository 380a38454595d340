import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Structured logs: one JSON line per event with a level, so operators can filter
 * (`jq 'select(.level >= 40)'`). Fastify uses the same logger for its own lines.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: process.env['HAYATE_LOG_LEVEL'] ?? 'info',
    base: { name: 'hayate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...options,
  });
}

/** A logger that writes nothing (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
