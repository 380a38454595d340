/**
 * The accounting thread (accounting-thread.ts): the accounting queues and their
 * flushers, fed by reading the journal's segment files as the journal writes them.
 * The thread answering announces only journals them; merging, SQL and mysql2 run here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { serializeError, type Logger } from '../log.js';
import { openPool } from '../database/pool.js';
import { requeueRecord } from '../journal/requeue.js';
import { JournalTail } from '../journal/tail.js';
import { lowerThreadPriority } from '../threads.js';
import { AccountingQueues } from './accounting-queues.js';
import type { AccountingThreadData, FromAccountingThread, MetricEvent, ToAccountingThread } from './accounting-thread.js';
import type { FlushMetrics } from './flusher.js';
import { queueNames } from './tables.js';

const data = workerData as AccountingThreadData;
const port = parentPort!;
/**
 * Nice value of this thread (0 is the process's). Accounting may wait; answers may not:
 * on busy cores the rounds come later and merge more, instead of taking the CPU from the
 * thread that answers announces.
 */
const ACCOUNTING_THREAD_NICE = 10;
lowerThreadPriority(ACCOUNTING_THREAD_NICE);

// --- what the main thread's logger and metrics get ------------------------------------

type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

function forward(level: LevelName) {
  return (obj: unknown, msg?: string): void => {
    if (pino.levels.values[level]! < data.logLevel) return;
    let fields: Record<string, unknown> | string = {};
    if (typeof obj === 'string') fields = obj;
    else if (obj !== null && typeof obj === 'object') for (const [k, v] of Object.entries(obj)) fields[k] = serializeError(v); // an Error loses its code crossing postMessage: send the logged shape
    post({ type: 'log', level, fields, msg });
  };
}

// Only these methods are called by the queues and flushers (their `logger.x(fields, msg)` lines).
const logger = {
  trace: forward('trace'),
  debug: forward('debug'),
  info: forward('info'),
  warn: forward('warn'),
  error: forward('error'),
  fatal: forward('fatal'),
} as unknown as Logger;

let events: MetricEvent[] = [];
const metrics: FlushMetrics = {
  flushSeconds: { observe: (l, v) => void events.push(['flushSeconds', l.queue, v]) },
  flushedRows: { inc: (l, v) => void events.push(['flushedRows', l.queue, v]) },
  deadlocks: { inc: (l) => void events.push(['deadlocks', l.queue, 1]) },
  deadlockAborted: { inc: (l) => void events.push(['deadlockAborted', l.queue, 1]) },
  deadlockSeconds: { inc: (l, v) => void events.push(['deadlockSeconds', l.queue, v]) },
  sqlErrors: { inc: (l) => void events.push(['sqlErrors', l.queue, 1]) },
};

function post(message: FromAccountingThread): void {
  port.postMessage(message);
}

/** Metric events and depths so far, to the main thread (before every answer, and every 250 ms). */
function report(): void {
  const out = events;
  events = [];
  post({ type: 'state', events: out, depths: queues.depths() });
}

// --- the queues, fed by the journal ------------------------------------------------------

const positions = data.positions;
const highestPosition = Math.max(...queueNames.map((q) => positions[q]));
/** The last journal record put into the queues. */
let applied = Math.min(...queueNames.map((q) => positions[q]));

const durableWaits = new Map<number, () => void>();
let nextDurable = 1;

const pool = openPool(data.dsn);
const queues = new AccountingQueues(pool, data.config, metrics, logger, {
  ...data.options,
  journal: {
    // No record between the last one read and the highest stored position exists
    // (the journal's numbering resumed above both), so a round may claim either.
    appended: () => Math.max(applied, highestPosition),
    // Without fdatasync a record is as safe as it will be once write(2) took it, and only
    // such records are read here; with it, the main thread says when they are synced.
    durable: (position) => {
      if (!data.fdatasync) return Promise.resolve();
      const id = nextDurable++;
      return new Promise<void>((resolve) => {
        durableWaits.set(id, resolve);
        post({ type: 'durable', id, position });
      });
    },
  },
});
queues.setCommittedPositions(new Map(queueNames.map((q) => [q, positions[q]])));

const tail = new JournalTail(data.dir, applied + 1);
let troubleLogged = false;

/** Puts every record written so far into the queues. */
function drain(): void {
  tail.read(
    (b, at, seq) => {
      requeueRecord(queues, b, at, seq, positions);
      applied = seq;
    },
    (trouble) => {
      if (troubleLogged) return;
      troubleLogged = true;
      logger.error({ ...trouble, dir: data.dir }, 'accounting thread: journal records it cannot read are skipped (logged once)');
    },
  );
}

/** Resolves once every record up to `seq` is in the queues (the journal writes them at the end of each turn). */
async function caughtUp(seq: number, deadline = Infinity): Promise<boolean> {
  for (;;) {
    drain();
    if (applied >= seq) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
}

// What the journal already holds (after a crash: what no committed flush covers) first, then the flushers.
drain();
queues.start();
const tailTimer = setInterval(drain, data.tailMs);
const reportTimer = setInterval(report, 250);

let calls = Promise.resolve();

port.on('message', (message: ToAccountingThread) => {
  switch (message.type) {
    case 'calls':
      // In order, each after the records appended before it was made.
      calls = calls.then(async () => {
        for (const [afterSeq, method, args] of message.calls) {
          await caughtUp(afterSeq);
          (queues[method] as (...a: unknown[]) => void)(...args);
        }
      });
      break;
    case 'durable':
      durableWaits.get(message.id)?.();
      durableWaits.delete(message.id);
      break;
    case 'flush':
      void calls
        .then(() => caughtUp(message.afterSeq))
        .then(() => queues.flushNow(message.queue))
        .then((result) => {
          report();
          post({ type: 'answer', id: message.id, value: result });
        });
      break;
    case 'covered':
      void queues.coveredPosition().then((value) => {
        report();
        post({ type: 'answer', id: message.id, value });
      });
      break;
    case 'stop':
      void (async () => {
        const deadline = Date.now() + message.timeoutMs;
        await calls;
        // Records the journal could not write before the deadline stay in it for the next start.
        const read = await caughtUp(message.afterSeq, deadline);
        clearInterval(tailTimer);
        drain();
        const flushed = await queues.stop(Math.max(1_000, deadline - Date.now()));
        const stopped = read || applied >= message.afterSeq ? flushed : { ...flushed, complete: false };
        // What the journal's last checkpoint may let go of (every queue is empty now, or the database is failing).
        const covered = stopped.complete ? await queues.coveredPosition() : undefined;
        clearInterval(reportTimer);
        tail.close();
        report();
        post({ type: 'answer', id: message.id, value: { report: stopped, covered } });
      })();
      break;
    case 'close':
      clearInterval(tailTimer);
      clearInterval(reportTimer);
      tail.close();
      void pool.end().finally(() => port.close());
      break;
  }
});
