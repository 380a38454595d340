/**
 * The reload thread (a worker_threads Worker started by reload-thread.ts): reads the users
 * and torrents tables in keyset pages on a connection of its own, turns the rows into
 * records, compares them with the last pass (TableMirror) and sends the main thread only
 * the rows that are new or changed, then the records of the rows that are gone. Parsing a
 * million rows (mysql2) and comparing them costs about a second of CPU per pass; here it
 * costs the main thread nothing, and the main thread applies what changed.
 *
 * One pass at a time, in step with the main thread: a page is sent only when the main
 * thread has applied the last one and said so (`next`, with the push epoch at that moment).
 * The next page is read meanwhile, so reading and applying overlap; its `readAt` (see
 * src/store/pushes.ts) is therefore the epoch known when its read began, the one from the
 * acknowledgement before: never later than the read, so a row a push overtook is only ever
 * skipped, never applied.
 */
import { lowerThreadPriority } from '../threads.js';
import { parentPort, workerData } from 'node:worker_threads';
import { openPool, readRows } from './pool.js';
import { RecordWriter } from './records.js';
import { torrentsTable, usersTable, type ReloadTable } from './reload-tables.js';
import { TableMirror } from './table-mirror.js';
import type { FromReloadThread, ReloadThreadData, ToReloadThread, PassRequest } from './reload-thread.js';

const port = parentPort;
if (port === null) throw new Error('reload-worker.js runs as a worker thread (see reload-thread.ts)');
/** Nice value of the reload thread (0 is the process's; 19 the lowest). */
const RELOAD_THREAD_NICE = 10;
const { dsn, pageSize, pageTimeoutMs } = workerData as ReloadThreadData;
lowerThreadPriority(RELOAD_THREAD_NICE);
const pool = openPool(dsn, { connectionLimit: 1 });
const tables: Record<PassRequest['table'], ReloadTable<unknown>> = {
  users: usersTable,
  torrents: torrentsTable,
};
const mirrors = { users: new TableMirror(usersTable.numbers), torrents: new TableMirror(torrentsTable.numbers) };
/** Resolves the page being waited on: the epoch, or undefined when the main thread gave the pass up. */
let acknowledge: ((epoch: number | undefined) => void) | undefined;
let passes: Promise<void> = Promise.resolve();

const send = (message: FromReloadThread, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

port.on('message', (message: ToReloadThread) => {
  switch (message.type) {
    case 'pass':
      passes = passes.then(() => runPass(message));
      break;
    case 'next':
      acknowledge?.(message.epoch);
      break;
    case 'abort':
      acknowledge?.(undefined);
      break;
    case 'close':
      acknowledge?.(undefined);
      void pool
        .end()
        .catch(() => undefined)
        .finally(() => port.close());
      break;
  }
});

function applied(): Promise<number | undefined> {
  return new Promise((resolve) => {
    acknowledge = (epoch) => {
      acknowledge = undefined;
      resolve(epoch);
    };
  });
}

async function runPass(request: PassRequest): Promise<void> {
  const table = tables[request.table];
  const mirror = mirrors[request.table];
  if (request.full) mirror.clear();
  const full = mirror.empty;
  const force = new Set(request.force);
  const pass = mirror.begin();
  const record = new RecordWriter(256); // one row's record at a time
  let readAt = request.epoch;
  let after = 0;
  let rows = 0;
  const query = (from: number): Promise<unknown[][]> => readRows(pool, table.sql, [from, pageSize], pageTimeoutMs);
  // A page is read again once on a new connection when its connection died under it (killed, a
  // server restart, a network blip): the read is asked for ahead, so it is the connection's
  // only query in flight whenever the main thread takes its time over a page.
  const read = async (from: number): Promise<unknown[][]> => {
    try {
      return await query(from);
    } catch (err) {
      if (!connectionLost(err)) throw err;
      return query(from);
    }
  };
  try {
    let reading = read(0);
    // The epoch known when the page being read was asked for: its rows' `readAt`.
    let readingAt = readAt;
    for (;;) {
      const page = await reading;
      const pageReadAt = readingAt;
      const out = new RecordWriter(full ? 64 * 1024 : 1024);
      for (const row of page) {
        after = Number(row[0]);
        record.truncate(0);
        const id = table.encode(row, record);
        if (id === undefined) continue;
        const changed = pass.add(id, record.buffer, 0, record.length);
        if (changed || (force.size > 0 && force.has(table.rawKey(row)))) out.copyRecord(record.buffer, 0, record.length);
      }
      rows += page.length;
      const last = page.length < pageSize;
      // The next page is read while the main thread applies this one: its read starts before
      // this page's acknowledgement, so its rows carry the epoch known now.
      if (!last) {
        reading = read(after);
        readingAt = readAt;
        reading.catch(() => undefined); // awaited below, unless the pass is given up first
      }
      if (out.records > 0 || request.everyPage) {
        const records = out.take();
        send({ type: 'page', readAt: pageReadAt, full, records, count: out.records }, [records]);
        const epoch = await applied();
        if (epoch === undefined) return; // given up: the mirror stays empty, the next pass sends every row
        readAt = epoch;
      }
      if (last) break;
    }
    pass.finish();
    const removed = pass.removed.take();
    send({ type: 'end', rows, full, removed, removedCount: pass.removed.records }, [removed]);
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown; errno?: unknown; sqlState?: unknown; fatal?: unknown };
    send({
      type: 'error',
      error: {
        message: String(e.message ?? err),
        code: typeof e.code === 'string' ? e.code : undefined,
        errno: typeof e.errno === 'number' ? e.errno : undefined,
        sqlState: typeof e.sqlState === 'string' ? e.sqlState : undefined,
        fatal: e.fatal === true,
      },
    });
  }
}

/** The error says the connection is gone (the pool then opens a new one), not that the query is wrong. */
function connectionLost(err: unknown): boolean {
  const e = err as { fatal?: unknown; errno?: unknown } | null;
  // 1927: connection killed; 1053: server shutdown in progress.
  return e?.fatal === true || e?.errno === 1927 || e?.errno === 1053;
}
