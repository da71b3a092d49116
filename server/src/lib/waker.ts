/**
 * A loop's sleep that can be cut short: `sleep(ms)` waits `ms` or until `wake()`; a `wake()` that
 * comes while the loop is busy is remembered (`woken`), so the loop does not sleep past it.
 */
export class Waker {
  private wakeUp: (() => void) | null = null;
  /** True once `wake()` was called since the loop last called `reset()`. */
  woken = false;

  /** Forgets earlier wake-ups (the loop is about to look for work). */
  reset(): void {
    this.woken = false;
  }

  /** Ends the current sleep, or the next one before it starts. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Waits `ms`, or less if woken (at once if woken since the last `reset`). */
  sleep(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}
