import { createPool, type Pool, type PoolOptions } from 'mysql2/promise';
import { parseDsn } from '../config/dsn.js';

/** A mysql2 pool for the configured DSN. Numbers stay numbers; BIGINTs past 2^53 come back as strings. */
export function openPool(dsn: string, options: Partial<PoolOptions> = {}): Pool {
  const address = parseDsn(dsn);
  return createPool({
    ...address,
    connectionLimit: 8,
    waitForConnections: true,
    // A flush that cannot get a connection must fail (and be retried later), not hang for ever.
    connectTimeout: 5_000,
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    multipleStatements: false,
    enableKeepAlive: true,
    ...options,
  });
}
