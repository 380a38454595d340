import { inspect } from 'node:util';
import type { Counter, Histogram } from 'prom-client';
import { defaultConfig, type Config } from '../../src/config/config.js';

/** A config with small intervals so background flushers act quickly in tests. */
export function flushConfig(dsn: string, overrides: (config: Config) => void = () => {}): Config {
  const config = defaultConfig();
  config.database.dsn = dsn;
  config.intervals.flush = 0.05;
  config.database.deadlock_pause = 0.05;
  config.database.deadlock_retries = 2;
  config.log_flushes = false;
  overrides(config);
  return config;
}

/** The value of a counter (optionally for one queue label). */
export async function counterValue(metric: Counter, queue?: string): Promise<number> {
  const { values } = await metric.get();
  return values.filter((v) => queue === undefined || v.labels['queue'] === queue).reduce((sum, v) => sum + v.value, 0);
}

export async function histogramCount(metric: Histogram): Promise<number> {
  const { values } = await metric.get();
  return values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0);
}

/** Polls `check` until it returns true or the deadline passes (then throws with the last value seen). */
export async function eventually<T>(
  read: () => Promise<T> | T,
  accept: (value: T) => boolean,
  what: string,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (accept(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}; last value ${JSON.stringify(last)}${lastError ? `, last error ${lastError instanceof Error ? String(lastError) : inspect(lastError)}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
