import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection, now. Used once, after the first load and before the
 * tracker listens: loading millions of rows leaves hundreds of megabytes of
 * promoted garbage behind, and the first full collection V8 schedules for it
 * would otherwise land under load (the worst second of the 1M-user, 1M-torrent
 * benchmark). `--expose-gc` applies to contexts made after it is set, so a fresh
 * one hands over its `gc`.
 */
export function collectGarbageNow(): void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) {
    exposed();
    return;
  }
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
