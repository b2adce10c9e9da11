/**
 * Waiting on an OverlayManager in tests: for its next notice of a kind, or for
 * a state (of the manager, or of an OverlaydClient).
 */
import type { ManagerEvent, OverlayManager } from '../../src/index.js';

/** The manager's next event of `kind` (from the moment of the call). */
export function next<K extends ManagerEvent['event']>(
  m: OverlayManager,
  kind: K,
): Promise<Extract<ManagerEvent, { event: K }>> {
  return new Promise((resolve) => {
    const off = m.onEvent((event) => {
      if (event.event !== kind) return;
      off();
      resolve(event as Extract<ManagerEvent, { event: K }>);
    });
  });
}

/** What has a `state` and a chart to watch: an OverlayManager or an OverlaydClient. */
interface Charted<S> {
  readonly state: S;
  readonly actor: { subscribe(observer: () => void): { unsubscribe(): void } };
}

/** Resolves once `predicate` holds for the state of `m` (checked on every transition). */
export function untilState<S>(m: Charted<S>, predicate: (state: S) => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (predicate(m.state)) return resolve();
    const subscription = m.actor.subscribe(() => {
      if (!predicate(m.state)) return;
      subscription.unsubscribe();
      resolve();
    });
  });
}
