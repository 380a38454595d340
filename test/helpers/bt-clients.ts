/**
 * Real BitTorrent clients for the end-to-end tests: finding the binaries,
 * making and re-announcing .torrent files, and running a client as a child
 * process that can be stopped gracefully (so it sends event=stopped).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, copyFileSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { decodeBencode, encodeBencode, isDict, type BDict, type BValue } from '../../src/bencode/codec.js';

/** Where a binary is on PATH, or undefined. */
export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Throws a clear error naming the Debian package when a client binary is missing (CI installs them). */
export function requireBinaries(binaries: Record<string, string>): void {
  const missing = Object.entries(binaries).filter(([name]) => findBinary(name) === undefined);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
  throw new Error(
    `real BitTorrent clients missing: ${missing.map(([name]) => name).join(', ')}. ` +
      `Install them (as root: apt-get update && apt-get install -y ${packages}); scripts/test.sh does this on a fresh machine.`,
  );
}

import { freePort } from './net.js';

export { freePort };

/** Makes a private .torrent for `payload` with transmission-create; returns its bytes. */
export function createTorrent(payload: string, announceUrl: string, outFile: string): Buffer {
  const result = spawnSync('transmission-create', ['-p', '-t', announceUrl, '-o', outFile, payload], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`transmission-create failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
  }
  return readFileSync(outFile);
}

function dictOf(value: BValue, what: string): BDict {
  if (!isDict(value)) throw new Error(`${what} is not a bencoded dict`);
  return value;
}

function entry(dict: BDict, key: string): BValue | undefined {
  return dict.entries.find(([k]) => Buffer.from(k).toString('latin1') === key)?.[1];
}

/** The info dict's SHA-1 (20 raw bytes). The codec keeps bytes and key order, so re-encoding gives the file's bytes. */
export function infoHashOf(torrent: Buffer): Buffer {
  const root = dictOf(decodeBencode(torrent), '.torrent');
  if (!encodeBencode(root).equals(torrent)) throw new Error('.torrent does not re-encode byte for byte');
  const info = entry(root, 'info');
  if (info === undefined) throw new Error('.torrent has no info dict');
  return createHash('sha1').update(encodeBencode(info)).digest();
}

/**
 * The same .torrent with another announce URL (as a site serves it to each user,
 * with their passkey): only `announce` changes; `info` stays byte-identical, so
 * the info_hash is unchanged. An `announce-list`, if any, is dropped.
 */
export function withAnnounceUrl(torrent: Buffer, announceUrl: string): Buffer {
  const root = dictOf(decodeBencode(torrent), '.torrent');
  const entries = root.entries
    .filter(([k]) => Buffer.from(k).toString('latin1') !== 'announce-list')
    .map(([k, v]): [Uint8Array, BValue] =>
      Buffer.from(k).toString('latin1') === 'announce' ? [k, Buffer.from(announceUrl, 'latin1')] : [k, v],
    );
  const out = encodeBencode({ entries });
  if (!infoHashOf(out).equals(infoHashOf(torrent))) throw new Error('re-announced .torrent changed its info_hash');
  return out;
}

/** A client process whose output goes to a log file; stop() asks it to exit gracefully. */
export class ClientProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process has exited. */
  readonly exited: Promise<number | string>;
  private exitStatus: number | string | undefined;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    readonly logFile: string,
    cwd: string,
    /** 'pipe' for a client that takes commands on its standard input. */
    stdin: 'ignore' | 'pipe' = 'ignore',
  ) {
    const log = createWriteStream(logFile);
    this.child = spawn(command, args, { cwd, stdio: [stdin, 'pipe', 'pipe'] });
    this.child.stdout!.pipe(log, { end: false });
    this.child.stderr!.pipe(log, { end: false });
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => {
        this.exitStatus = code ?? signal ?? 'unknown';
        log.end();
        resolve(this.exitStatus);
      });
    });
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** The log so far (for failure messages). */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Sends `signal` (a graceful stop for both aria2c and transmission-cli: they
   * announce event=stopped, then exit) and waits for the exit. Past `timeoutMs`
   * the process is killed and this throws.
   */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 20_000): Promise<number | string> {
    if (!this.running) return this.exitStatus!;
    this.child.kill(signal);
    return this.waitForExit(timeoutMs);
  }

  /** Waits for the process to exit by itself; past `timeoutMs` it is killed and this throws. */
  async waitForExit(timeoutMs: number): Promise<number | string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`${this.name} did not exit within ${timeoutMs} ms; its log:\n${this.log().slice(-4000)}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process if it is still running (cleanup after a failed test). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited.catch(() => undefined);
  }
}

/**
 * aria2c options: loopback only, no DHT/PEX/LPD, the tracker is the only peer source.
 * - seeder: verifies the payload in `dir`, then seeds until stopped;
 * - leecher: downloads, then keeps seeding until stopped (announces event=completed);
 * - leecher-exits: `--seed-time=0`, exits once the download is complete.
 */
export function aria2Args(options: {
  dir: string;
  listenPort: number;
  torrent: string;
  role: 'seeder' | 'leecher' | 'leecher-exits';
  logFile: string;
}): string[] {
  const roleArgs = {
    seeder: ['--check-integrity=true', '--bt-hash-check-seed=true', '--seed-ratio=0.0'],
    leecher: ['--seed-ratio=0.0'],
    'leecher-exits': ['--seed-time=0'],
  }[options.role];
  return [
    '--no-conf=true',
    `--dir=${options.dir}`,
    `--listen-port=${options.listenPort}`,
    '--enable-dht=false',
    '--enable-dht6=false',
    '--enable-peer-exchange=false',
    '--bt-enable-lpd=false',
    '--disable-ipv6=true',
    '--file-allocation=none',
    '--summary-interval=0',
    '--console-log-level=warn',
    `--log=${options.logFile}`,
    '--log-level=info',
    '--bt-save-metadata=false',
    '--auto-save-interval=0',
    ...roleArgs,
    options.torrent,
  ];
}

/**
 * A transmission-daemon (foreground, its own config dir, RPC on 127.0.0.1 at a
 * port of its own) that picks the .torrent up from a watch dir, verifies what
 * is already in `dir`, then downloads and/or seeds. Its settings.json keeps it
 * to the tracker (no DHT/PEX/LPD/uTP, no port mapping).
 *
 * Stopping: transmission 3.00 does not announce event=stopped when its session
 * closes (SIGTERM, or transmission-cli's SIGINT): the stop is queued and dropped.
 * A user stopping the torrent does announce it, so stopTorrents() asks over RPC
 * (transmission-remote -S) and the caller waits for the announce before SIGTERM.
 */
export class TransmissionDaemon {
  readonly process: ClientProcess;

  private constructor(
    process: ClientProcess,
    readonly rpcPort: number,
  ) {
    this.process = process;
  }

  /**
   * `torrent`: a .torrent file (picked up from the watch dir), or a magnet link (added over
   * RPC once the daemon answers: the metadata then comes from the swarm's peers, BEP 9).
   */
  static async start(options: {
    name: string;
    configDir: string;
    dir: string;
    torrent: string;
    logFile: string;
    cwd: string;
  }): Promise<TransmissionDaemon> {
    const rpcPort = await freePort();
    const watchDir = join(options.configDir, 'watch');
    mkdirSync(watchDir, { recursive: true });
    writeFileSync(
      join(options.configDir, 'settings.json'),
      JSON.stringify({
        'dht-enabled': false,
        'lpd-enabled': false,
        'pex-enabled': false,
        'utp-enabled': false,
        'port-forwarding-enabled': false,
        'ratio-limit-enabled': false,
        'idle-seeding-limit-enabled': false,
        'peer-port': await freePort(),
        'peer-port-random-on-start': false,
        'rpc-bind-address': '127.0.0.1',
        'rpc-port': rpcPort,
        'rpc-authentication-required': false,
        'start-added-torrents': true,
        'watch-dir-enabled': true,
        'watch-dir': watchDir,
        'download-dir': options.dir,
        'incomplete-dir-enabled': false,
        'message-level': 2,
      }),
    );
    const magnet = options.torrent.startsWith('magnet:');
    if (!magnet) copyFileSync(options.torrent, join(watchDir, basename(options.torrent)));
    const child = new ClientProcess(
      options.name,
      'transmission-daemon',
      ['--foreground', '--config-dir', options.configDir],
      options.logFile,
      options.cwd,
    );
    const daemon = new TransmissionDaemon(child, rpcPort);
    if (magnet) await daemon.addWhenUp(options.torrent);
    return daemon;
  }

  /** Adds a torrent (a magnet link) over RPC, retrying until the daemon answers (10 s at most). */
  private async addWhenUp(torrent: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const result = spawnSync('transmission-remote', [`127.0.0.1:${this.rpcPort}`, '--add', torrent], { encoding: 'utf8' });
      if (result.status === 0) return;
      if (Date.now() > deadline || !this.process.running) {
        throw new Error(`transmission-remote --add failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Stops every torrent over RPC, as a user would: transmission announces event=stopped. */
  stopTorrents(): void {
    const result = spawnSync('transmission-remote', [`127.0.0.1:${this.rpcPort}`, '--torrent', 'all', '--stop'], { encoding: 'utf8' });
    if (result.status !== 0) {
      throw new Error(`transmission-remote --stop failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
    }
  }
}

/**
 * This machine's first non-loopback IPv4 address. transmission 3.00 drops
 * tracker-given peers in 127.0.0.0/8 ("martian"), so a transmission leecher
 * needs peers that announced from a real interface.
 */
export function nonLoopbackIPv4(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
