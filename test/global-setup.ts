import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Root URL of a MariaDB server (mysql://root:@host:port) the tests may create databases on. */
    dbRootUrl: string;
  }
}

/** Finds or starts MariaDB once for the whole run (scripts/ensure-mariadb.sh). */
export default function setup(project: TestProject): void {
  const url = execFileSync('bash', ['scripts/ensure-mariadb.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  project.provide('dbRootUrl', url);
}
