/** Every transition of a machine definition, labelled, for the model-based tests' coverage lists. */
import type { AnyActorRef, AnyStateNode, AnyTransitionDefinition, InspectionEvent } from 'xstate';

export function allTransitions(root: AnyStateNode): AnyTransitionDefinition[] {
  const found: AnyTransitionDefinition[] = [];
  const visit = (node: AnyStateNode) => {
    for (const list of node.transitions.values()) found.push(...list);
    // Eventless (`always`) transitions are kept apart from the event-keyed ones.
    found.push(...(node.always ?? []));
    for (const child of Object.values(node.states)) visit(child as AnyStateNode);
  };
  visit(root);
  return found;
}

function guardLabel(guard: unknown): string {
  if (guard === undefined) return '';
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && 'type' in guard) return String(guard.type);
  const combined = guard as { check?: unknown; guards?: unknown[] };
  if (Array.isArray(combined.guards)) return combined.guards.map(guardLabel).join(' && ');
  return 'inline';
}

/** `source --event [guard]--> targets` */
export function transitionLabel(t: AnyTransitionDefinition): string {
  const guard = guardLabel(t.guard);
  const targets = t.target?.map((node) => node.id).join(',') ?? '(stay)';
  const event = t.eventType === '' ? '(always)' : t.eventType;
  return `${t.source.id} --${event}${guard ? ` [${guard}]` : ''}--> ${targets}`;
}

/**
 * An `inspect` observer that counts, in `taken`, each listed transition the
 * actor `self()` takes (microsteps of child actors are not counted).
 */
export function countTransitionsTaken(
  taken: Map<AnyTransitionDefinition, number>,
  self: () => AnyActorRef | undefined,
): (event: InspectionEvent) => void {
  return (event) => {
    if (event.type !== '@xstate.microstep' || event.actorRef !== self()) return;
    for (const t of event._transitions) {
      const count = taken.get(t);
      if (count !== undefined) taken.set(t, count + 1);
    }
  };
}
