import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * hayate's version, from package.json (the one place it is written). Source runs
 * from src/, compiled code from dist/src/: the file is one or two levels up.
 * Returns "unknown" rather than throwing: --version must never be a stack trace.
 */
export function packageVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hayate' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next level
    }
  }
  return 'unknown';
}
