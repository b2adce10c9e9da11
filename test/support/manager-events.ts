/** Waiting on an OverlayManager in tests: for its next notice of a kind, or for a state. */
import type { ManagerEvent, ManagerState, OverlayManager } from '../../src/index.js';

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

/** Resolves once `predicate` holds for the manager's state (checked on every transition). */
export function untilState(
  m: OverlayManager,
  predicate: (state: ManagerState) => boolean,
): Promise<void> {
  return new Promise((resolve) => {
    if (predicate(m.state)) return resolve();
    const subscription = m.actor.subscribe((snapshot) => {
      if (!predicate(snapshot.value as ManagerState)) return;
      subscription.unsubscribe();
      resolve();
    });
  });
}
