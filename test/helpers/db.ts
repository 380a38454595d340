import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import { inject } from 'vitest';
import { schemaStatements } from '../../fixtures/load.js';
import { serverAddress } from './server-address.js';

export { schemaStatements };

export interface TestDatabase {
  name: string;
  /** mysql:// URL of the database, usable as database.dsn. */
  dsn: string;
  /** An open connection to it, for arranging and asserting. */
  conn: Connection;
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named database with the schema loaded: `<prefix>_<run>_<random>`, the run's
 * mark letting the global teardown find a database a test forgot to drop.
 */
export async function createTestDatabase(prefix = 'hayate_test', rootUrl = inject('dbRootUrl')): Promise<TestDatabase> {
  const name = `${prefix}_${inject('testRunId')}_${randomBytes(4).toString('hex')}`;
  const root = new URL(rootUrl);
  const server = serverAddress(rootUrl);
  const admin = await createConnection(server);
  await admin.query(`CREATE DATABASE \`${name}\``);
  await admin.end();
  const dsn = `${root.protocol}//${root.username}:${root.password}@${root.host}/${name}`;
  const conn = await createConnection({ ...server, database: name, supportBigNumbers: true });
  for (const statement of schemaStatements()) await conn.query(statement);
  return {
    name,
    dsn,
    conn,
    async drop() {
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}
