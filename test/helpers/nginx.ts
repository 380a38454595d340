import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { eventually } from './tracker.js';

/** The nginx binary: on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
export function findNginx(): string {
  for (const dir of (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    const candidate = join(dir, 'nginx');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  throw new Error(
    'nginx is not installed: the nginx test needs a real nginx. `scripts/test.sh` installs it on Debian ' +
      '(apt-get install nginx-light, as root); install it by hand otherwise.',
  );
}

import { freePort } from './net.js';

export { freePort };

export interface ExampleConfigPorts {
  /**
   * Where the tracker listens: a port replaces the upstream's `server 127.0.0.1:34000;`; a
   * Unix socket's path takes the example's commented `# server unix:…;` line in its stead.
   */
  upstream: number | { path: string };
  /** Replaces `listen 80;`. */
  http: number;
  /** Replaces `listen 443 ssl;`. */
  https: number;
  certificate: string;
  key: string;
}

/**
 * The README's example config (deploy/nginx/hayate.conf) made runnable on loopback:
 * only the addresses, ports, certificate and error log paths change (`listen [::]:…` becomes
 * `listen [::1]:…`, the same port on IPv6 loopback). Throws when a line to replace is not
 * found, so the test cannot silently drift from the example.
 */
export function exampleConfigFor(example: string, ports: ExampleConfigPorts): string {
  const upstream = ports.upstream;
  const replacements: Array<[RegExp, string]> =
    typeof upstream === 'number'
      ? [[/^(\s*)server 127\.0\.0\.1:34000;$/m, `$1server 127.0.0.1:${upstream};`]]
      : [
          [/^(\s*)server 127\.0\.0\.1:34000;$/m, ''],
          [/^(\s*)# server unix:\S+;$/m, `$1server unix:${upstream.path};`],
        ];
  replacements.push(
    [/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${ports.http};`],
    [/^(\s*)listen 443 ssl;$/m, `$1listen 127.0.0.1:${ports.https} ssl;`],
    [/^(\s*)listen \[::\]:80;$/m, `$1listen [::1]:${ports.http};`],
    [/^(\s*)listen \[::\]:443 ssl;$/m, `$1listen [::1]:${ports.https} ssl;`],
    [/^(\s*ssl_certificate\s+)\S+;$/m, `$1${ports.certificate};`],
    [/^(\s*ssl_certificate_key\s+)\S+;$/m, `$1${ports.key};`],
    // The server's own error log, beside the certificate (a test's folder), at the example's level.
    [/^(\s*error_log\s+)\S+(\s+\w+;)$/m, `$1${serverErrorLog(ports)}$2`],
  );
  let out = example;
  for (const [pattern, replacement] of replacements) {
    if (!pattern.test(out)) throw new Error(`deploy/nginx/hayate.conf no longer has a line matching ${pattern}`);
    out = out.replace(pattern, replacement);
  }
  return out;
}

/** Where exampleConfigFor puts the example server's `error_log`: beside the certificate. */
export function serverErrorLog(ports: Pick<ExampleConfigPorts, 'certificate'>): string {
  return join(dirname(ports.certificate), 'hayate-error.log');
}

/** A throwaway self-signed certificate for 127.0.0.1 (openssl). */
export function selfSignedCertificate(dir: string): { certificate: string; key: string } {
  const certificate = join(dir, 'tracker.pem');
  const key = join(dir, 'tracker.key');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', certificate],
    { stdio: 'pipe' },
  );
  return { certificate, key };
}

export interface RunningNginx {
  process: ChildProcess;
  errorLog: string;
  stop(): Promise<void>;
}

/**
 * Runs nginx in the foreground as the current user with everything (pid, logs, temp
 * files) under `dir`; `httpBlock` goes inside http {}. Resolves once `waitPort` accepts.
 */
export async function startNginx(dir: string, httpBlock: string, waitPort: number): Promise<RunningNginx> {
  const nginx = findNginx();
  for (const sub of ['logs', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  const errorLog = join(dir, 'logs', 'error.log');
  const conf = join(dir, 'nginx.conf');
  const temp = (name: string): string => `${name}_temp_path ${join(dir, 'tmp', name)};`;
  writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} info;`,
      'events { worker_connections 256; }',
      'http {',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((n) => `    ${temp(n)}`),
      httpBlock,
      '}',
      '',
    ].join('\n'),
  );
  // Check the config first: a clear error beats a port that never opens.
  execFileSync(nginx, ['-t', '-p', dir, '-e', errorLog, '-c', conf], { stdio: 'pipe' });
  const child = spawn(nginx, ['-p', dir, '-e', errorLog, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `nginx exited (code ${code}, signal ${signal}): ${stderr}${safeRead(errorLog)}`;
      resolve();
    }),
  );
  await eventually(
    async () => {
      if (exited !== undefined) throw new Error(exited);
      return (await accepts(waitPort)) ? true : undefined;
    },
    10_000,
    `nginx to listen on 127.0.0.1:${waitPort}`,
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    process: child,
    errorLog,
    async stop() {
      if (exited === undefined) child.kill('SIGQUIT'); // graceful: finish requests, then exit
      await exit;
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
