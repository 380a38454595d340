/**
 * The test relay to MariaDB (test/helpers/db-relay.ts) that the outage and crash tests
 * stand on: a client that vanishes must not leave its MariaDB side open, or that side's
 * open transaction holds row locks the next tracker then waits on.
 */
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import type { Socket } from 'node:net';
import { afterEach, expect, inject, it } from 'vitest';
import { openDbRelay } from './helpers/db-relay.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { eventually } from './helpers/tracker.js';

let db: TestDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

it('a client that dies with a reset mid-transaction: its MariaDB connection is closed and the row lock freed', async () => {
  db = await createTestDatabase('hayate_relay');
  await db.conn.query("INSERT INTO users_main (ID, Enabled, torrent_pass) VALUES (1, '1', 'relay000000000000000000000000000')");
  const root = new URL(inject('dbRootUrl'));
  const port = await freePort();
  const relay = await openDbRelay(port, root);
  try {
    const url = new URL(db.dsn);
    const client = await createConnection({
      host: '127.0.0.1',
      port,
      user: url.username,
      password: url.password,
      database: db.name,
    });
    const [[{ id }]] = (await client.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    await client.query('BEGIN');
    await client.query('UPDATE users_main SET Uploaded = Uploaded + 1 WHERE ID = 1');
    // What SIGKILL does to a socket with unread bytes: RST, not FIN. (mysql2 has no public
    // accessor for its socket; `connection.stream` is it.)
    (client as unknown as { connection: { stream: Socket } }).connection.stream.resetAndDestroy();

    await eventually(
      async () => {
        const [rows] = await db!.conn.query<RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?', [id]);
        return rows.length === 0 ? true : undefined;
      },
      10_000,
      'the relayed MariaDB connection to close',
    );
    // Rolled back, and the row is free for the next writer at once.
    await db.conn.query('SET SESSION innodb_lock_wait_timeout = 1');
    await db.conn.query('UPDATE users_main SET Uploaded = Uploaded + 5 WHERE ID = 1');
    const [[row]] = await db.conn.query<RowDataPacket[]>('SELECT Uploaded FROM users_main WHERE ID = 1');
    expect(Number(row!['Uploaded'])).toBe(5);
  } finally {
    await relay.close();
  }
});
