import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { ConfigError } from '../config/config.js';

/**
 * Makes `path` (absolute) ready for a Unix-socket listener. A socket file nobody listens on
 * (what a killed process leaves: a clean stop removes its own) is removed. Throws ConfigError,
 * naming the path, when a live process listens there, when the path is something other than
 * a socket, or when it cannot be examined or removed (its directory's permissions).
 */
export async function freeUnixSocketPath(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new ConfigError(`http.addr: cannot examine ${path}: ${(err as Error).message}`);
  }
  if (!isSocket) throw new ConfigError(`http.addr: ${path} exists and is not a socket (hayate will not replace it)`);
  const answer = await new Promise<'live' | 'stale' | Error>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve('live');
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'stale' : err);
    });
  });
  if (answer === 'live') throw new ConfigError(`http.addr: another process is listening on ${path}`);
  if (answer instanceof Error) throw new ConfigError(`http.addr: cannot examine ${path}: ${answer.message}`);
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`http.addr: cannot remove the stale socket ${path}: ${(err as Error).message}`);
    }
  }
}

/**
 * Gives the listening socket file `mode` (octal text, http.socket_mode): who may connect is who
 * may write to it. Throws ConfigError when it cannot (the file is another user's).
 */
export function setSocketMode(path: string, mode: string): void {
  try {
    chmodSync(path, parseInt(mode, 8));
  } catch (err) {
    throw new ConfigError(`http.socket_mode: cannot set ${mode} on ${path}: ${(err as Error).message}`);
  }
}
