/**
 * Lets the event loop run (I/O, timers, waiting requests) before continuing: long
 * jobs (reload, purge, cache files) await this between slices of work.
 */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
