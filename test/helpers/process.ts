import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventually } from './tracker.js';

/** The built tracker's entry point. */
export const HAYATE = fileURLToPath(new URL('../../dist/cmd/hayate.js', import.meta.url));

export interface TrackerProcess {
  child: ChildProcess;
  /** Everything written to stdout so far (JSON log lines). */
  stdout(): string;
  stderr(): string;
  /** Parsed stdout lines (non-JSON lines skipped). */
  lines(): { level: number; msg: string; [key: string]: unknown }[];
  /** Waits for a log line whose msg matches. */
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal's name) once stdout and stderr are closed. */
  exited: Promise<number | string>;
}

/**
 * Runs `node dist/cmd/hayate.js ...args` in `cwd` with a clean environment plus `env`.
 * `wrap` puts a command in front (e.g. a seccomp helper or setpriv).
 */
export function spawnHayate(cwd: string, args: string[] = [], env: Record<string, string> = {}, wrap: string[] = []): TrackerProcess {
  if (!existsSync(HAYATE)) throw new Error(`${HAYATE} is missing: run \`npm run build\` first (scripts/test.sh does)`);
  const argv = [...wrap, process.execPath, HAYATE, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; [key: string]: unknown });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    lines,
    exited,
    async waitForLog(msg, timeoutMs = 20_000) {
      let ended = false;
      void exited.then(() => (ended = true));
      await eventually(
        () => {
          if (lines().some((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)))) return true;
          if (ended) throw new Error(`exited before logging ${String(msg)}; stderr: ${err}; stdout: ${out.slice(-2000)}`);
          return undefined;
        },
        timeoutMs,
        `log line ${String(msg)}`,
      );
    },
  };
}
