/**
 * The reconnect schedule, as pure functions of the attempt count.
 *
 * The Rust client's by default: the first sleep is 100 ms, each later one doubles,
 * capped at 1 s (100, 200, 400, 800, 1000, 1000, …), and there is no sleep
 * after the final attempt (the machine's guards see to that).
 */

export interface BackoffOptions {
  /** The first sleep, in ms. */
  initialDelayMs: number;
  /** No sleep is longer than this, in ms. */
  maxDelayMs: number;
  /** Each sleep is the previous one times this. */
  multiplier: number;
  /**
   * 0 (default) for the exact schedule; j in (0, 1] shortens each sleep by a
   * random fraction of at most j, so that many clients restarted together
   * spread their attempts out.
   */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 1000,
  multiplier: 2,
  jitter: 0,
});

/** Attempts made by `connect`, `connectWithBackoff`, and each reconnect cycle by default. */
export const SINGLE_ATTEMPT = 1;
export const BACKOFF_ATTEMPTS = 20;

/**
 * Whether a connection that dropped is dialled again, and with how many
 * attempts: `true` for the default budget, `false` (or a number below 1)
 * for never, `{ attempts }` or a number for that many.
 */
export type ReconnectOption = boolean | number | { attempts: number };

/** The attempt budget of a reconnect cycle; 0 means a drop is not reconnected. */
export function reconnectAttempts(
  option: ReconnectOption | undefined,
  whenOn: number = BACKOFF_ATTEMPTS,
): number {
  if (option === undefined || option === true) return clampAttempts(whenOn);
  if (option === false) return 0;
  const attempts = typeof option === 'number' ? option : option.attempts;
  return typeof option === 'number' && !(attempts >= 1) ? 0 : clampAttempts(attempts);
}

/** `maxAttempts` 0 (or anything below 1, or not an integer) means one attempt. */
export function clampAttempts(maxAttempts: number): number {
  return Number.isFinite(maxAttempts) && maxAttempts >= 1 ? Math.floor(maxAttempts) : 1;
}

/**
 * How long to sleep after `attemptsMade` attempts have failed, before the next
 * one. After a dropped connection (0 attempts made in the new cycle) the first
 * delay applies, so a server that accepts and hangs up at once is not hammered.
 */
export function backoffDelay(
  attemptsMade: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const sleepsBefore = Math.max(attemptsMade, 1) - 1;
  const exact = Math.min(
    options.initialDelayMs * options.multiplier ** sleepsBefore,
    options.maxDelayMs,
  );
  if (options.jitter <= 0) return exact;
  return Math.round(exact * (1 - Math.min(options.jitter, 1) * random()));
}

/** The sleeps a cycle of `maxAttempts` failing attempts takes: one fewer than the attempts. */
export function backoffSchedule(
  maxAttempts: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
): number[] {
  const sleeps: number[] = [];
  for (let made = 1; made < clampAttempts(maxAttempts); made++) {
    sleeps.push(backoffDelay(made, options));
  }
  return sleeps;
}
