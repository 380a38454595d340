import { performance } from 'node:perf_hooks';

/**
 * Lets the event loop run (I/O, timers, waiting requests) before continuing: long
 * jobs (reload, purge, cache files) await this between slices of work.
 */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Paces a long synchronous walk by elapsed time: the clock is read every
 * `checkEvery` steps (a power of two), and the walk yields once it has run
 * `sliceMs` since its start or its last yield. By time, not by count: under load a
 * yield lets every waiting request run, so yielding too often stretches the walk.
 */
export class TimeSlice {
  private started = performance.now();
  private steps = 0;

  constructor(
    private readonly sliceMs: number,
    private readonly checkEvery = 4096,
  ) {}

  /** Counts one step; true when the caller should `await slice.yield()`. */
  due(): boolean {
    return (++this.steps & (this.checkEvery - 1)) === 0 && performance.now() - this.started > this.sliceMs;
  }

  async yield(): Promise<void> {
    await yieldToLoop();
    this.started = performance.now();
  }
}
