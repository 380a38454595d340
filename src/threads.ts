/** What the tracker's worker threads (the reload thread, the accounting thread) share. */
import { existsSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';

/**
 * The compiled script `file` beside the module at `moduleUrl` (its import.meta.url): in
 * dist/, or dist's copy of that folder when the module runs from source (vitest). Throws,
 * naming `what` and the fix, when it is not there.
 */
export function workerScript(moduleUrl: string, file: string, what: string): URL {
  let script = new URL(`./${file}`, moduleUrl);
  if (moduleUrl.endsWith('.ts')) {
    const at = script.href.lastIndexOf('/src/');
    script = new URL(`${script.href.slice(0, at)}/dist${script.href.slice(at)}`);
  }
  if (!existsSync(fileURLToPath(script))) throw new Error(`${what}'s script ${fileURLToPath(script)} is missing: run npm run build`);
  return script;
}

/**
 * Asks a worker to end (`close`: the message it ends on, after closing its connections) and
 * resolves once it has exited; terminated if that takes longer than `graceMs`.
 */
export async function endWorker(worker: Worker, close: unknown, graceMs: number): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage(close);
  const timer = setTimeout(() => void worker.terminate(), graceMs);
  await exited;
  clearTimeout(timer);
}

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
