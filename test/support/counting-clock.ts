/**
 * XState's SimulatedClock, counting the timers that are armed and not yet
 * fired or cleared — so a test can prove that nothing is left scheduled —
 * and telling a test when the next one is armed.
 */
import { SimulatedClock } from 'xstate';

export class CountingClock extends SimulatedClock {
  readonly armed = new Set<unknown>();
  /** Every delay ever armed, in order. */
  readonly delays: number[] = [];
  #armWaiters: Array<(delay: number) => void> = [];
  #fired = 0;

  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id: number = super.setTimeout(() => {
      this.armed.delete(id);
      this.#fired++;
      fn();
    }, timeout);
    this.armed.add(id);
    this.delays.push(timeout);
    for (const wake of this.#armWaiters.splice(0)) wake(timeout);
    return id;
  }

  /** Resolves with the delay of the next timer armed from now on. */
  nextArmed(): Promise<number> {
    return new Promise((resolve) => this.#armWaiters.push(resolve));
  }

  /**
   * Until `settling` settles, move time to each timer in turn and fire it,
   * letting promise callbacks and I/O run between one timer and the next
   * (and waiting, while no timer is armed, for one to be armed): a schedule
   * of sleeps and deadlines runs at once, on this clock's time only, and
   * time stops where `settling` settled. One turn of the event loop is all
   * that I/O gets before the next timer fires: fit for connects to a dead
   * Unix socket (they fail within the turn) and requests nobody answers, not
   * for a live exchange racing an armed deadline.
   */
  async runUntil(settling: Promise<unknown>): Promise<void> {
    let settled = false;
    const done = settling.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (settled) return;
      if (this.armed.size === 0) {
        await Promise.race([this.nextArmed(), done]);
        continue;
      }
      const before = this.#fired;
      while (this.#fired === before && this.armed.size > 0) this.increment(1);
    }
  }

  /**
   * Move time forward by `ms` in 1 ms steps, so that a timer armed by another
   * timer's callback also fires within the span (a single `increment` does not).
   */
  advance(ms: number): void {
    for (let i = 0; i < ms; i++) this.increment(1);
  }

  override clearTimeout(id: number): void {
    this.armed.delete(id);
    super.clearTimeout(id);
  }
}
