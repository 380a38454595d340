/**
 * Runs a bench child process (a Node script or the native load generator) and resolves the JSON
 * object its stdout ends with. Its stderr is shown. Rejects when it cannot start, exits non-zero
 * (`<name> exited <code>`) or its last line is not JSON.
 */
import { spawn } from 'node:child_process';

export function runChildJson<T>(command: string, args: string[], name = command): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`${name} exited ${String(code)}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}
