/**
 * The two trackers of the differential suite as child processes: the real chihaya
 * (CHIHAYA_BIN) and hayate (dist/cmd/hayate.js), each in its own folder with the same
 * chihaya-style config.json and its own database, stopped with SIGTERM (both flush and
 * write their cache files on it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../helpers/net.js';
import { rawExchange, type RawAnswer } from '../helpers/raw-http.js';
import { eventually } from '../helpers/flush-setup.js';
import { CHIHAYA_BIN } from '../helpers/chihaya.js';

const repoRoot = resolve(import.meta.dirname, '../..');

export type Side = 'chihaya' | 'hayate';

/** chihaya's DSN form (`user:pass@tcp(host:port)/db`) for a database on the test server. */
export function chihayaDsn(rootUrl: string, database: string): string {
  const u = new URL(rootUrl);
  return `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}@tcp(${u.hostname}:${u.port || 3306})/${database}`;
}

export class TrackerProcess {
  port = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;
  /** Everything the process printed, for failure messages. */
  output = '';

  constructor(
    readonly side: Side,
    readonly dir: string,
    private readonly dsn: string,
  ) {}

  /** Writes config.json (same keys for both: chihaya's), starts, waits until /alive answers. */
  async start(): Promise<void> {
    this.port = await freePort();
    const config = {
      database: { dsn: this.dsn },
      http: { addr: `127.0.0.1:${this.port}` },
      // Nothing periodic may interfere with the compared sequence: no reload, purge or
      // serialization during a run (the shutdown writes what is compared).
      intervals: { flush: 1, database_reload: 3600, database_serialize: 3600, purge_inactive_peers: 3600 },
      record_announces: true,
      log_flushes: false,
    };
    writeFileSync(join(this.dir, 'config.json'), JSON.stringify(config, null, 2));
    const [command, args] =
      this.side === 'chihaya' ? [CHIHAYA_BIN, []] : [process.execPath, [join(repoRoot, 'dist/cmd/hayate.js'), '-c', 'config.json']];
    const child = spawn(command, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    child.stdout.on('data', (c: Buffer) => (this.output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (this.output += c.toString()));
    this.exited = once(child, 'exit');
    let gone = false;
    void this.exited.then(() => (gone = true));
    const state = await eventually(
      async () => {
        if (gone) return 'exited';
        const answer = await rawExchange(this.port, 'GET /alive HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 2000).catch(
          () => undefined,
        );
        return answer?.status === 200 ? 'ready' : 'waiting';
      },
      (s) => s !== 'waiting',
      `${this.side} to answer /alive`,
      20_000,
    );
    if (state === 'exited') throw new Error(`${this.side} exited at start:\n${this.output}`);
  }

  /** One request as raw bytes on a fresh connection (`Connection: close`). */
  send(target: string, headers: readonly string[] = []): Promise<RawAnswer> {
    const head = [`GET ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers, '', ''].join('\r\n');
    return rawExchange(this.port, Buffer.from(head, 'latin1'));
  }

  /** SIGTERM, then waits for the exit; returns the exit code. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return child?.exitCode ?? null;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
    this.child = undefined;
    return child.exitCode;
  }
}
