#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../src/config/config.js';
import { parseDsn, redact } from '../src/config/dsn.js';
import { applyConfigChange } from '../src/config/live.js';
import { createLogger, LogLevelError, type Logger } from '../src/log.js';
import { Tracker } from '../src/app.js';
import { acquireInstanceLock, checkWritableDir, StartupError, type InstanceLock } from '../src/startup/checks.js';
import { packageVersion } from '../src/version.js';

/**
 * Exit statuses (docs/operations.md): systemd and Docker show them, and the unit
 * does not restart on EXIT_CONFIG (a restart cannot fix it).
 */
const EXIT_OK = 0;
/** Start-up failed (unwritable folder, another instance, cannot listen, an unexpected error). */
const EXIT_FAILURE = 1;
/** Unknown option or argument. */
const EXIT_USAGE = 2;
/** The shutdown left accounting unwritten to the database or the cache files unwritten (or a second signal cut it short). */
const EXIT_DATA_NOT_SAVED = 3;
/** A configuration that can never work: bad config file, DSN, HAYATE_LOG_LEVEL, or the database refusing it (sysexits' EX_CONFIG). */
const EXIT_CONFIG = 78;

// Handlers first: until one is installed SIGHUP kills the process and SIGUSR1 opens
// Node's inspector. Signals before the tracker exists are remembered and acted on.
const pending: NodeJS.Signals[] = [];
let onSignal = (signal: NodeJS.Signals): void => void pending.push(signal);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1'] as const) process.on(signal, (s) => onSignal(s));

/** One line on stderr, then exit: how every start-up problem is reported. */
function die(message: string, code: number): never {
  process.stderr.write(`hayate: ${message}\n`);
  process.exit(code);
}

const program = new Command()
  .name('hayate')
  .description(
    // Lines under 80 columns: commander wraps longer ones at the terminal's width, mid-sentence.
    'Private BitTorrent tracker for Gazelle-style sites (a drop-in for chihaya).\n' +
      'Reads config.json, serves /<passkey>/announce and /<passkey>/scrape, and\n' +
      'keeps its cache files (torrent-cache.bin, user-cache.bin) and events/ in the\n' +
      'working directory.',
  )
  .version(packageVersion(), '-V, --version')
  .option('-c, --config <path>', 'path to config.json (default: config.json in the working directory; missing means defaults)')
  .addHelpText(
    'after',
    '\nEnvironment:\n  DB_DSN             overrides database.dsn\n  HAYATE_LOG_LEVEL   trace|debug|info|warn|error|fatal|silent (default info)\n' +
      '\nSignals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration and\nreloads the database; SIGUSR1 reloads the database. See docs/operations.md.\n',
  )
  .exitOverride()
  // Commander's `error: …` as the tool's other one-line errors: `hayate: …`.
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'hayate: ')) });
try {
  program.parse();
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
  throw err;
}

let logger: Logger;
try {
  logger = createLogger();
} catch (err) {
  if (err instanceof LogLevelError) die(err.message, EXIT_CONFIG);
  throw err;
}

const explicitPath = program.opts<{ config?: string }>().config;
const configPath = resolve(explicitPath ?? 'config.json');

/** Reads and checks the configuration; throws ConfigError. An explicit -c must name a file that exists. */
function readConfiguration(): LoadedConfig {
  const loaded = loadConfig(configPath);
  if (explicitPath !== undefined && loaded.source !== configPath) {
    throw new ConfigError(`configuration file ${configPath} not found (given with -c)`);
  }
  // parseConfig let a non-empty DB_DSN win: a malformed one is named as the variable, not the key.
  parseDsn(loaded.config.database.dsn, process.env['DB_DSN'] ? 'DB_DSN' : 'database.dsn');
  return loaded;
}

let loaded: LoadedConfig;
try {
  loaded = readConfiguration();
} catch (err) {
  if (err instanceof ConfigError) die(err.message, EXIT_CONFIG);
  throw err;
}
const { config, source, unknownKeys } = loaded;
logger.info(
  { config: source, dsn: redact(config.database.dsn), addr: config.http.addr, version: packageVersion() },
  'configuration loaded',
);
if (unknownKeys.length > 0) logger.warn({ keys: unknownKeys }, 'unknown configuration keys ignored');

// Start-up checks: found now, with the path and the system's reason, not at the first cache write.
const dir = process.cwd();
let lock: InstanceLock;
try {
  checkWritableDir(dir, 'working directory');
  if (config.record_announces) checkWritableDir(join(dir, 'events'), 'events folder');
  // A journal left by an earlier run (perhaps as another user): it is read, added to and pruned.
  // Not made here when missing: the journal makes it itself, private (0700).
  if (config.journal.enabled && existsSync(join(dir, 'journal'))) checkWritableDir(join(dir, 'journal'), 'journal folder');
  lock = acquireInstanceLock(dir);
} catch (err) {
  if (err instanceof StartupError) die(err.message, EXIT_FAILURE);
  throw err;
}
process.on('exit', () => lock.release());
if (lock.tookOver !== undefined) {
  // A lock left behind: the last tracker here was killed, crashed or lost power (a clean stop removes it).
  logger.warn(
    { pid: Number.isNaN(lock.tookOver.pid) ? null : lock.tookOver.pid, host: lock.tookOver.host || null, lock: lock.path },
    'the last tracker in this folder did not stop cleanly (its lock file was left): taken over',
  );
}

const tracker = new Tracker({ config, logger, dir, dsnSetting: process.env['DB_DSN'] ? 'DB_DSN' : 'database.dsn' });

/** Exits once the logger has written everything (its stdout is synchronous; flush is a safeguard). */
function exit(code: number): void {
  logger.flush(() => process.exit(code));
  // If the stream is stuck, do not hang for ever.
  setTimeout(() => process.exit(code), 2_000).unref();
}

let stopping = false;
/** How long a stop during the start may take to close the listener and the pool (ms). */
const START_UP_STOP_MS = 2_000;
function stop(signal: NodeJS.Signals): void {
  if (stopping && !started) {
    // The first one is closing what the start opened; nothing was accounted, so nothing is lost.
    logger.info({ signal }, 'second signal during start-up: exiting now, nothing accounted yet');
    lock.release();
    process.exit(EXIT_OK);
  }
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting at once, without flushing');
    lock.release();
    process.exit(EXIT_DATA_NOT_SAVED);
  }
  stopping = true;
  if (!started) {
    // Nothing has been accounted yet (at most "starting up" answers), so nothing is queued and the
    // cache files are as read. The stop still closes what the start opened: the listening socket
    // (a Unix socket's file is removed) and the database pool; the start ends at its next step.
    // A pool still trying to reach the database may not end promptly: exit regardless after a while.
    logger.info({ signal }, 'stopped during start-up: nothing accounted yet, nothing to save');
    const closed = tracker
      .stop(START_UP_STOP_MS)
      .catch((err: unknown) => logger.warn({ err }, 'closing after a stop during start-up failed'));
    const waited = new Promise<void>((resolve) => setTimeout(resolve, START_UP_STOP_MS).unref());
    void Promise.race([closed, waited]).then(() => {
      lock.release();
      exit(EXIT_OK);
    });
    return;
  }
  logger.info({ signal }, 'shutting down: finishing requests, flushing queues, writing caches');
  tracker.stop().then(
    (report) => {
      const saved = report.flush.complete && report.cacheWritten;
      const line = { flushed: report.flush.complete, cacheWritten: report.cacheWritten };
      if (saved) logger.info(line, 'shutdown complete');
      else logger.error({ ...line, exitCode: EXIT_DATA_NOT_SAVED }, 'shutdown complete, but data was NOT saved');
      exit(saved ? EXIT_OK : EXIT_DATA_NOT_SAVED);
    },
    (err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      exit(EXIT_DATA_NOT_SAVED);
    },
  );
}

/** SIGUSR1: reload the database now. */
function reloadDatabase(signal: NodeJS.Signals): void {
  logger.info({ signal }, 'reloading the database now');
  void tracker.reloadNow().then((ok) => logger.info({ signal, ok }, 'database reload done'));
}

/** SIGHUP: re-read the configuration (the keys that can change live), then reload the database. */
function reconfigure(signal: NodeJS.Signals): void {
  let next: LoadedConfig;
  try {
    next = readConfiguration();
  } catch (err) {
    logger.error({ signal, err: (err as Error).message }, 'configuration NOT re-read: keeping the running one');
    reloadDatabase(signal);
    return;
  }
  const change = applyConfigChange(tracker.config, next.config);
  // An unknown key is said once, as unknown (no restart makes it mean anything).
  const unknown = (key: string) => next.unknownKeys.some((u) => key === u || key.startsWith(`${u}.`));
  change.needRestart = change.needRestart.filter((key) => !unknown(key));
  logger.info({ signal, config: next.source, applied: change.applied }, 'configuration re-read');
  if (change.needRestart.length > 0) {
    logger.warn({ keys: change.needRestart }, 'configuration keys changed that take effect only after a restart');
  }
  if (next.unknownKeys.length > 0) logger.warn({ keys: next.unknownKeys }, 'unknown configuration keys ignored');
  tracker.rescheduleSerialize();
  reloadDatabase(signal);
}

let started = false;
/** A SIGHUP came during the start (which may wait long for the database): re-read the file once it is done. */
let reconfigureAfterStart = false;
onSignal = (signal) => {
  if (signal === 'SIGINT' || signal === 'SIGTERM') {
    stop(signal);
    return;
  }
  if (stopping) return;
  // Before the first load has finished, a reload is already under way: the start's own. A
  // changed configuration file is not: it is re-read when the start is done.
  if (!started) {
    if (signal === 'SIGHUP') reconfigureAfterStart = true;
    logger.info(
      { signal },
      signal === 'SIGHUP'
        ? 'signal during start-up: the configuration is re-read once the start is done'
        : 'signal during start-up: ignored (the start loads everything anyway)',
    );
    return;
  }
  if (signal === 'SIGHUP') reconfigure(signal);
  else reloadDatabase(signal);
};

tracker.start().then(
  () => {
    started = true;
    for (const signal of pending.splice(0)) onSignal(signal);
    if (reconfigureAfterStart && !stopping) reconfigure('SIGHUP');
  },
  (err: unknown) => {
    // A stop during the start ends it (abortIfStopped): the stop exits, not this.
    if (stopping) return;
    // The database refusing the configuration (access denied, unknown database…): one line, no restart.
    if (err instanceof ConfigError) {
      process.stderr.write(`hayate: ${err.message}\n`);
      exit(EXIT_CONFIG);
      return;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.syscall === 'listen' && (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')) {
      process.stderr.write(`hayate: cannot listen on ${config.http.addr}: ${e.message}\n`);
      exit(EXIT_FAILURE);
      return;
    }
    // A file or folder of the working directory the tracker may not use (left by another user):
    // named, not a bug.
    if ((e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS') && e.path !== undefined) {
      process.stderr.write(
        `hayate: cannot use ${e.path}: ${e.code === 'EROFS' ? 'read-only file system' : 'permission denied'} (${e.code})\n`,
      );
      exit(EXIT_FAILURE);
      return;
    }
    // Anything else is a bug: its stack goes to the log.
    process.stderr.write(`hayate: failed to start: ${e.message}\n`);
    logger.fatal({ err }, 'failed to start');
    exit(EXIT_FAILURE);
  },
);
for (const signal of pending.splice(0)) onSignal(signal);
