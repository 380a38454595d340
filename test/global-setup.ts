import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import type { TestProject } from 'vitest/node';
import { serverAddress } from './helpers/server-address.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Root URL of a MariaDB server (mysql://root:@host:port) the tests may create databases on. */
    dbRootUrl: string;
    /** This run's mark in the name of every database a test creates (helpers/db.ts), so the teardown finds those left behind. */
    testRunId: string;
  }
}

/**
 * Finds or starts MariaDB once for the whole run (scripts/ensure-mariadb.sh). The teardown fails
 * the run when a test left a database of this run behind (and drops it): tests create and drop
 * their own.
 */
export default function setup(project: TestProject): () => Promise<void> {
  const url = execFileSync('bash', ['scripts/ensure-mariadb.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const runId = randomBytes(3).toString('hex');
  project.provide('dbRootUrl', url);
  project.provide('testRunId', runId);
  return async () => {
    const admin = await createConnection(serverAddress(url));
    try {
      const [rows] = await admin.query<RowDataPacket[]>('SHOW DATABASES');
      const left = rows.map((r) => String(Object.values(r)[0])).filter((name) => name.includes(`_${runId}_`));
      for (const name of left) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      if (left.length > 0) {
        // vitest reports an error thrown here but keeps its exit status: set it too, so CI fails.
        process.exitCode = 1;
        throw new Error(`test databases left behind (dropped now; drop them in the test's afterAll): ${left.join(', ')}`);
      }
    } finally {
      await admin.end();
    }
  };
}
