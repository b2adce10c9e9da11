/**
 * The timer source the client and its actor share. XState's actors take the
 * same shape (`createActor(…, { clock })`), so a test can hand both one
 * SimulatedClock and move time by hand.
 */
export interface Clock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

export const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};
