import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * Lowers the calling thread's priority to `nice` (0 is the process's; 19 the lowest). On
 * Linux a thread has its own nice value: a background thread at nice 10 takes a CPU after
 * the thread that answers announces, so on a machine with the cores busy its work takes
 * longer instead of delaying answers; with a core free it changes nothing. Never raises it
 * (a tracker started at nice 15 keeps its threads there). Elsewhere, or when the kernel
 * refuses, the thread keeps the process's priority.
 */
export function lowerThreadPriority(nice: number): void {
  try {
    // "<pid>/task/<tid>" for the thread that reads it (fs calls run on the caller).
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.max(getPriority(tid), nice));
  } catch {
    // not Linux, or not allowed: the default priority
  }
}
