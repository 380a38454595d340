import type { Config } from './config/config.js';
import type { Logger } from './log.js';
import { Tracker } from './app.js';

/**
 * The production assembly: the tracker with its database-backed queues,
 * cache serializer and announce recorder. Tests use the same function.
 */
export function buildTracker(options: { config: Config; logger: Logger; dir: string }): Tracker {
  return new Tracker({ ...options });
}
