import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { TestDatabase } from './db.js';

const IPV6_MIGRATION = new URL('../../database/migrations/002-transfer-ips6.sql', import.meta.url);

/** Applies database/migrations/002-transfer-ips6.sql as an operator would (its statements, comments and all). */
export async function applyIpv6Migration(db: TestDatabase): Promise<void> {
  const text = readFileSync(IPV6_MIGRATION, 'utf8').replace(/^\s*--.*$/gm, '');
  for (const statement of text.split(';')) if (statement.trim() !== '') await db.conn.query(statement);
}

/** A GET to the tracker over `host` (127.0.0.1 or ::1): a real socket of that family. */
export function getOver(host: string, port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
