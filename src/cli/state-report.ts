/** One line's worth of the connection machine's state, for watch, progress and the demo. */
import type { StateValue } from 'xstate';
import { backoffDelay } from '../../machines/backoff.js';
import type { ConnectionContext } from '../../machines/connection.types.js';
import type { OverlaydClient } from '../client/client.js';
import { type ClientState, stateName } from '../client/state.js';

export interface StateReport {
  state: ClientState;
  /** Attempts made in the current connect cycle. */
  attempt: number;
  maxAttempts: number;
  /** In backoff: the sleep before the next attempt. */
  nextDelayMs?: number;
  /** The oldest request written and not yet answered, `op #id`, and how many more (` +n`). */
  inFlight?: string;
  queued: number;
  lastError?: string;
}

export function stateReport(snapshot: {
  value: StateValue;
  context: ConnectionContext;
}): StateReport {
  const { context } = snapshot;
  const state = stateName(snapshot.value);
  const report: StateReport = {
    state,
    attempt: context.attempt,
    maxAttempts: context.maxAttempts,
    queued: context.queue.length,
  };
  if (state === 'backoff') report.nextDelayMs = backoffDelay(context.attempt, context.backoff);
  const [oldest] = context.inFlight;
  if (oldest !== undefined) {
    const more = context.inFlight.length - 1;
    report.inFlight = `${oldest.op} #${oldest.id}${more > 0 ? ` +${more}` : ''}`;
  }
  if (context.lastError !== null && (state === 'backoff' || state === 'failed')) {
    report.lastError = context.lastError.message;
  }
  return report;
}

/** Two reports with the same key say the same thing. */
export const reportKey = (r: StateReport): string =>
  `${r.state}|${r.attempt}|${r.inFlight ?? ''}|${r.queued}`;

/**
 * Call `listener` with a report each time the connection's state says
 * something new (snapshots that only move counters are skipped). Returns the
 * unsubscribe.
 */
export function onStateReport(
  actor: Pick<OverlaydClient['actor'], 'subscribe'>,
  listener: (report: StateReport) => void,
): () => void {
  let last = '';
  const subscription = actor.subscribe((snapshot) => {
    const report = stateReport(snapshot);
    const key = reportKey(report);
    if (key === last) return;
    last = key;
    listener(report);
  });
  return () => subscription.unsubscribe();
}

/** What follows the state's name on a line. */
export function reportDetail(r: StateReport): string {
  const queued = r.queued > 0 ? `${r.queued} queued` : '';
  const parts: string[] = [];
  switch (r.state) {
    case 'connecting':
      parts.push(`attempt ${r.attempt}/${r.maxAttempts}`);
      break;
    case 'awaitingResponse':
      parts.push(r.inFlight ?? '');
      break;
    case 'backoff':
      parts.push(`next attempt ${r.attempt + 1}/${r.maxAttempts} in ${r.nextDelayMs} ms`);
      if (r.lastError) parts.push(`(${r.lastError})`);
      break;
    case 'failed':
      parts.push(`gave up after ${r.attempt} attempt${r.attempt === 1 ? '' : 's'}`);
      if (r.lastError) parts.push(`(${r.lastError})`);
      break;
  }
  if (queued !== '') parts.push(queued);
  return parts.join('  ');
}

/** A report as a JSON object (snake_case, absent fields left out). */
export function reportJson(r: StateReport): Record<string, unknown> {
  return {
    state: r.state,
    attempt: r.attempt,
    max_attempts: r.maxAttempts,
    ...(r.nextDelayMs !== undefined ? { next_delay_ms: r.nextDelayMs } : {}),
    ...(r.inFlight !== undefined ? { in_flight: r.inFlight } : {}),
    queued: r.queued,
    ...(r.lastError !== undefined ? { last_error: r.lastError } : {}),
  };
}
