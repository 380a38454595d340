#!/usr/bin/env node
import { resolve } from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { redact } from '../src/config/dsn.js';
import { createLogger } from '../src/log.js';
import { Tracker } from '../src/app.js';

const program = new Command()
  .name('hayate')
  .description(
    'Private BitTorrent tracker for Gazelle-style sites (a drop-in for chihaya).\n' +
      'Reads config.json, serves /<passkey>/announce and /<passkey>/scrape, and keeps its\n' +
      'cache files (torrent-cache.bin, user-cache.bin) and events/ in the working directory.',
  )
  .option('-c, --config <path>', 'path to config.json', 'config.json')
  .addHelpText('after', '\nEnvironment:\n  DB_DSN             overrides database.dsn\n  HAYATE_LOG_LEVEL   trace|debug|info|warn|error (default info)\n')
  .parse();

const logger = createLogger();
const configPath = resolve(program.opts<{ config: string }>().config);

let loaded;
try {
  loaded = loadConfig(configPath);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`hayate: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
const { config, source, unknownKeys } = loaded;
logger.info({ config: source, dsn: redact(config.database.dsn), addr: config.http.addr }, 'configuration loaded');
if (unknownKeys.length > 0) logger.warn({ keys: unknownKeys }, 'unknown configuration keys ignored');

const tracker = new Tracker({ config, logger, dir: process.cwd() });

/** Exits once the logger has written everything (its stdout is synchronous; flush is a safeguard). */
function exit(code: number): void {
  logger.flush(() => process.exit(code));
  // If the stream is stuck, do not hang for ever.
  setTimeout(() => process.exit(code), 2_000).unref();
}

let signals = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  signals++;
  if (signals > 1) {
    logger.warn({ signal }, 'second signal: exiting at once');
    process.exit(1);
  }
  logger.info({ signal }, 'shutting down: finishing requests, flushing queues, writing caches');
  tracker.stop().then(
    (report) => {
      logger.info({ flushed: report.flush.complete, cacheWritten: report.cacheWritten }, 'shutdown complete');
      exit(0);
    },
    (err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      exit(1);
    },
  );
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

tracker.start().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    // A setup mistake the operator must fix (e.g. a missing migration): one line, no stack.
    logger.fatal({ error: err.message }, 'failed to start');
    process.stderr.write(`hayate: ${err.message}\n`);
  } else {
    logger.fatal({ err }, 'failed to start');
  }
  exit(1);
});
