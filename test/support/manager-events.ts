/**
 * Waiting on an OverlayManager in tests: for its next notice of a kind, or for
 * a state (of the manager, or of an OverlaydClient), or for anything a chart's
 * transitions change (an OverlaydClient's stats, say).
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

/** A running chart to watch: an actor, or what has one. */
interface Watched {
  subscribe(observer: () => void): { unsubscribe(): void };
}

/** Resolves once `holds()` is true: checked at once and on every transition of `actor`. */
export function untilHolds(actor: Watched, holds: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (holds()) return resolve();
    const subscription = actor.subscribe(() => {
      if (!holds()) return;
      subscription.unsubscribe();
      resolve();
    });
  });
}

/** Resolves once `predicate` holds for the state of `m`, an OverlayManager or an OverlaydClient. */
export function untilState<S>(
  m: { readonly state: S; readonly actor: Watched },
  predicate: (state: S) => boolean,
): Promise<void> {
  return untilHolds(m.actor, () => predicate(m.state));
}
