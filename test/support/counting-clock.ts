/**
 * XState's SimulatedClock, counting the timers that are armed and not yet
 * fired or cleared — so a test can prove that nothing is left scheduled.
 */
import { SimulatedClock } from 'xstate';

export class CountingClock extends SimulatedClock {
  readonly armed = new Set<unknown>();
  /** Every delay ever armed, in order. */
  readonly delays: number[] = [];

  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id: number = super.setTimeout(() => {
      this.armed.delete(id);
      fn();
    }, timeout);
    this.armed.add(id);
    this.delays.push(timeout);
    return id;
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
