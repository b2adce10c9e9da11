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

  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id: number = super.setTimeout(() => {
      this.armed.delete(id);
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
   * Until `settling` settles, move time past each timer as it is armed, by its
   * delay: a schedule of sleeps runs at once, on this clock's time only.
   */
  async runUntil(settling: Promise<unknown>): Promise<void> {
    const settled = settling.then(
      () => 'settled' as const,
      () => 'settled' as const,
    );
    for (;;) {
      const next = await Promise.race([this.nextArmed(), settled]);
      if (next === 'settled') return;
      this.advance(next);
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
