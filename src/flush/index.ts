/** Accounting to MariaDB: merging queues, background flushers, the inactive-peer purge (SPEC §6). */
export { AccountingQueues, type Accounting, type AccountingQueuesOptions, type QueueLeft, type StopReport } from './accounting-queues.js';
export { AccountingThread } from './accounting-thread.js';
export { type RoundResult } from './flusher.js';
export { PurgeJob, purgeInactivePeers, purgeInactivePeersYielding, type PurgeResult } from './purge.js';
export { queueNames, type QueueName } from './tables.js';
