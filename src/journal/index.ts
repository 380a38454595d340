/** Crash safety: the announce journal, its replay, the cache files as checkpoints (docs/crash-safety.md). */
export { Journal, journalExtent, listSegments, type JournalOptions, type JournalStats, type PeerPlace } from './journal.js';
export { CHECKPOINT_FILE, readCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js';
export { recoverFromJournal, type RecoveryInput, type RecoveryResult } from './recovery.js';
export { RECORD_SIZE } from './record.js';
