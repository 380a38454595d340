import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { freePort } from './net.js';

const run = promisify(execFile);
const sbin = ['/usr/sbin', '/usr/local/sbin', '/usr/bin'];
const envPath = `${process.env['PATH'] ?? ''}:${sbin.join(':')}`;

/**
 * A MariaDB server of the test's own, on its own data directory and port, that
 * the test can kill (SIGKILL, like a crash) and start again — for outage tests
 * that must not disturb the shared server.
 */
export class PrivateMariaDb {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** Initialises a data directory (mariadb-install-db) and starts the server. */
  static async create(): Promise<PrivateMariaDb> {
    const dir = await mkdtemp(join(tmpdir(), 'hayate-mariadb-'));
    const userFlag = process.getuid?.() === 0 ? ['--user=root'] : [];
    await run(
      'mariadb-install-db',
      ['--no-defaults', ...userFlag, `--datadir=${join(dir, 'data')}`, '--auth-root-authentication-method=normal', '--skip-test-db'],
      { env: { ...process.env, PATH: envPath } },
    );
    const server = new PrivateMariaDb(dir, await freePort());
    await server.start();
    return server;
  }

  /** mysql://root:@127.0.0.1:port */
  get rootUrl(): string {
    return `mysql://root:@127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) return;
    const userFlag = process.getuid?.() === 0 ? ['--user=root'] : [];
    const child = spawn(
      'mariadbd',
      [
        '--no-defaults',
        ...userFlag,
        `--datadir=${join(this.dir, 'data')}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--socket=${join(this.dir, 'mariadb.sock')}`,
        `--pid-file=${join(this.dir, 'mariadb.pid')}`,
        `--log-error=${join(this.dir, 'error.log')}`,
        '--innodb-buffer-pool-size=64M',
        '--skip-name-resolve=0',
      ],
      { stdio: 'ignore', env: { ...process.env, PATH: envPath } },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const conn = await createConnection({ host: '127.0.0.1', port: this.port, user: 'root', connectTimeout: 1000 });
        await conn.end();
        return;
      } catch (err) {
        if (this.child !== child || child.exitCode !== null)
          throw new Error(`mariadbd exited while starting (see ${this.dir}/error.log)`, { cause: err });
        if (Date.now() > deadline) throw new Error(`mariadbd did not answer within ${timeoutMs} ms: ${String(err)}`, { cause: err });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** SIGKILL, like a crash or an OOM kill; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** Kills the server and removes its data directory. */
  async destroy(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
