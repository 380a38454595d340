import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * A start-up problem the operator must fix (unwritable folder, another instance):
 * the CLI prints its message as one line and exits non-zero.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}

function cause(err: unknown): string {
  const e = err as Partial<NodeJS.ErrnoException>;
  // "EACCES: permission denied, open '/x/y'" → "permission denied (EACCES)"
  const text = (e.message ?? String(err)).replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  return e.code ? `${text} (${e.code})` : text;
}

/**
 * Proves `dir` is a folder this process can create files in: makes it when
 * missing, then creates and removes a probe file. Throws StartupError naming
 * `what`, the path and the system's reason (permission denied, read-only file
 * system, not a directory…), so the problem is found at start, not at the first
 * cache write minutes later.
 */
export function checkWritableDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StartupError(`${what} ${dir} cannot be created: ${cause(err)}`);
  }
  const probe = join(dir, `.hayate-write-check-${process.pid}`);
  try {
    const fd = openSync(probe, 'wx');
    try {
      writeSync(fd, 'ok\n');
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (err) {
    throw new StartupError(`${what} ${dir} is not writable: ${cause(err)}`);
  }
}

export const LOCK_FILE = 'hayate.lock';
/** The running tracker touches its lock file this often (ms)... */
export const LOCK_HEARTBEAT_MS = 10_000;
/** ...so a lock from another host or container untouched this long (ms) is stale. */
export const LOCK_STALE_MS = 60_000;

/** Is `pid` a live hayate working in `dir` (this host)? */
function holderAlive(pid: number, dir: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // A pid reused after a SIGKILL by an unrelated process, or by a hayate working
  // elsewhere, must not block a restart.
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('hayate')) return false;
  } catch {
    return true; // no /proc: the pid is alive, assume it is the holder
  }
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir);
  } catch {
    return true; // another user's process: cannot see its folder
  }
}

export interface InstanceLock {
  path: string;
  /** The stale lock this one replaced, if any: the tracker before did not stop cleanly. */
  tookOver: { pid: number; host: string } | undefined;
  /** Removes the lock file if it is still ours and stops its heartbeat (idempotent). */
  release(): void;
}

/**
 * Is the lock file's holder alive? On this host (same hostname): its pid is checked.
 * From another host or container sharing the folder (pids and /proc are not ours to
 * see; a container's hostname is its own): alive while it keeps touching the file.
 */
function lockHeld(path: string, dir: string, holder: number, host: string): boolean {
  if (host === hostname()) return holderAlive(holder, dir);
  try {
    return Date.now() - statSync(path).mtimeMs < LOCK_STALE_MS;
  } catch {
    return false;
  }
}

/**
 * Refuses a second tracker on the same working directory (two would overwrite
 * each other's cache files and double the accounting): creates `hayate.lock`
 * holding "<pid> <hostname>", touched every LOCK_HEARTBEAT_MS. A lock left by a
 * dead process (SIGKILL, power loss), by a pid now used by another program, or
 * from another host or container and untouched for LOCK_STALE_MS is stale and
 * taken over. Throws StartupError naming the running instance's pid.
 */
export function acquireInstanceLock(dir: string): InstanceLock {
  const path = join(dir, LOCK_FILE);
  const mine = `${process.pid} ${hostname()}\n`;
  let tookOver: InstanceLock['tookOver'];
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) {
        throw new StartupError(`cannot create the lock file ${path}: ${cause(err)}`);
      }
    }
    let holder = NaN;
    let host = '';
    try {
      const [pid = '', name = ''] = readFileSync(path, 'utf8').trim().split(' ');
      holder = Number.parseInt(pid, 10);
      host = name;
    } catch {
      // vanished or unreadable: treat as stale
    }
    if (lockHeld(path, dir, holder, host)) {
      const where = host === hostname() ? '' : ` on ${host}`;
      throw new StartupError(`another hayate (pid ${holder}${where}) is running in ${dir} (lock file ${path}); stop it first`);
    }
    try {
      unlinkSync(path);
      tookOver = { pid: holder, host };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new StartupError(`cannot remove the stale lock file ${path}: ${cause(err)}`);
    }
  }
  let released = false;
  const heartbeat = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // removed under us: nothing to keep fresh
    }
  }, LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  return {
    path,
    tookOver,
    release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      try {
        if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}
