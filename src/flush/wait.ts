/**
 * A sleep that can be cut short. Flushers sleep between rounds; a full queue or
 * shutdown wakes them at once instead of waiting out the interval.
 */
export class Wakeable {
  private wakeUp: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Resolves after `ms`, or earlier when wake() is called. Resolves true when woken. */
  sleep(ms: number): Promise<boolean> {
    this.wake();
    return new Promise<boolean>((resolve) => {
      this.timer = setTimeout(
        () => {
          this.wakeUp = undefined;
          this.timer = undefined;
          resolve(false);
        },
        Math.max(0, ms),
      );
      this.wakeUp = () => {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.wakeUp = undefined;
        resolve(true);
      };
    });
  }

  /** Resolves only when wake() is called (no timer: costs nothing while idle). */
  wait(): Promise<boolean> {
    this.wake();
    return new Promise<boolean>((resolve) => {
      this.wakeUp = () => {
        this.wakeUp = undefined;
        resolve(true);
      };
    });
  }

  get sleeping(): boolean {
    return this.wakeUp !== undefined;
  }

  wake(): void {
    this.wakeUp?.();
  }
}

/** Runs async sections one at a time, in call order. */
export class Exclusive {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.tail.then(section, section);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
