/**
 * The statechart as a plain, JSON-serializable graph, read from the machine
 * definition itself (its state nodes and their transition definitions), so
 * the picture can never drift from the code.
 *
 * Nodes are the state nodes with their nesting; edges are every transition
 * definition: events, `after` delays, `always`, and invoke `onDone`/`onError`
 * (which XState files under their `xstate.done.actor.*` / `xstate.error.actor.*`
 * event types). Targetless transitions are edges too, with `targets: []`.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

export type StateNodeType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

export interface GraphNode {
  /** The state node id, e.g. `overlaydConnection.session.connecting`. */
  id: string;
  /** The key in its parent, e.g. `connecting`; the machine id for the root. */
  key: string;
  /** Keys from the root, e.g. `['session', 'connecting']`; `[]` for the root. */
  path: string[];
  parent: string | null;
  type: StateNodeType;
  /** Id of the initial child, for compound nodes. */
  initial: string | null;
  /** Child ids in definition order. */
  children: string[];
  entry: string[];
  exit: string[];
  invoke: Array<{ id: string; src: string }>;
  tags: string[];
  description: string | null;
}

export type EdgeKind = 'event' | 'after' | 'always';

export interface GraphEdge {
  /** Stable id: `<source id>::<event type>::<index among that event's candidates>`. */
  id: string;
  kind: EdgeKind;
  source: string;
  /** Target state ids; empty for a targetless transition (actions only, no exit). */
  targets: string[];
  /** The event type as XState files it (`xstate.after.<delay>.<id>` for `after`, `''` for `always`). */
  eventType: string;
  /** What a person calls the event: `connect`, `after backoffDelay`, `always`. */
  event: string;
  /** The named delay, or the delay in ms, for `after` transitions. */
  delay: string | number | null;
  /** The guard by name (`hasQueued`, `isInFlightResponse && hasQueued`), or null. */
  guard: string | null;
  actions: string[];
  reenter: boolean;
  /** `event [guard]` */
  label: string;
}

export interface MachineGraph {
  id: string;
  root: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** `<source>::<eventType>::<index>` for a transition definition taken from a state node. */
export function edgeIdOf(transition: AnyTransitionDefinition): string | null {
  const source = transition.source;
  const eventType = String(transition.eventType);
  if (eventType === '') {
    const index = source.always?.indexOf(transition) ?? -1;
    return index < 0 ? null : `${source.id}::::${index}`;
  }
  const candidates = source.transitions.get(eventType);
  const index = candidates?.indexOf(transition) ?? -1;
  return index < 0 ? null : `${source.id}::${eventType}::${index}`;
}

interface GuardLike {
  type?: unknown;
  guards?: unknown;
  stateValue?: unknown;
  name?: string;
}

/** A guard's name: `name`, `a && b`, `a || b`, `!a`, `in(state)`, or the function's name. */
export function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object') {
    const type = (guard as GuardLike).type;
    return typeof type === 'string' ? type : 'guard';
  }
  if (typeof guard === 'function') {
    const fn = guard as GuardLike;
    const parts = Array.isArray(fn.guards) ? fn.guards.map((inner) => guardName(inner) ?? '?') : [];
    if (fn.name === 'and' && parts.length > 0) return parts.map(wrapCompound).join(' && ');
    if (fn.name === 'or' && parts.length > 0) return parts.map(wrapCompound).join(' || ');
    if (fn.name === 'not' && parts.length === 1) return `!${wrapCompound(parts[0] ?? '?')}`;
    if (fn.name === 'stateIn' && fn.stateValue !== undefined) {
      return `in(${typeof fn.stateValue === 'string' ? fn.stateValue : JSON.stringify(fn.stateValue)})`;
    }
    return fn.name !== '' && fn.name !== undefined ? fn.name : 'inline guard';
  }
  return String(guard);
}

function wrapCompound(name: string): string {
  return /\s/.test(name) ? `(${name})` : name;
}

interface ActionLike {
  type?: unknown;
  id?: unknown;
  sendId?: unknown;
  name?: string;
}

/** XState's own scheduling of `after` timers: entry raises and exit cancels, not the author's. */
function isAfterBookkeeping(action: unknown): boolean {
  if (typeof action !== 'function') return false;
  const { type, id, sendId } = action as ActionLike;
  const ref = type === 'xstate.raise' ? id : type === 'xstate.cancel' ? sendId : undefined;
  return typeof ref === 'string' && ref.startsWith('xstate.after.');
}

/** An action's name: its key in `setup({ actions })`, or the built-in it is (`assign`, `emit`…). */
export function actionName(action: unknown): string | null {
  if (typeof action === 'string') return action;
  if (action !== null && typeof action === 'object') {
    const type = (action as ActionLike).type;
    return typeof type === 'string' ? type : null;
  }
  if (typeof action === 'function') {
    if (isAfterBookkeeping(action)) return null;
    const { type, name } = action as ActionLike;
    if (typeof type === 'string') return type.replace(/^xstate\./, '');
    return name !== undefined && name !== '' ? name : 'inline action';
  }
  return null;
}

function actionNames(actions: readonly unknown[]): string[] {
  const names: string[] = [];
  for (const action of actions) {
    const name = actionName(action);
    if (name !== null) names.push(name);
  }
  return names;
}

function delayName(delay: unknown): string | number | null {
  if (typeof delay === 'string' || typeof delay === 'number') return delay;
  if (typeof delay === 'function') return delay.name !== '' ? delay.name : 'inline delay';
  return null;
}

function srcName(src: unknown): string {
  if (typeof src === 'string') return src;
  if (src !== null && typeof src === 'object') {
    const id = (src as { id?: unknown }).id;
    if (typeof id === 'string') return id;
  }
  return 'inline actor';
}

/** How to call an invoked actor: its id when the author chose one, else its source. */
export function invokeName(invoke: { id: string; src: string }): string {
  // XState makes up `<index>.<state id>` when the author gave no id.
  return /^\d+\./.test(invoke.id) ? invoke.src : invoke.id;
}

function describeEvent(
  eventType: string,
  delay: string | number | null,
  invokes: Array<{ id: string; src: string }>,
): string {
  if (eventType === '') return 'always';
  if (delay !== null) return typeof delay === 'number' ? `after ${delay}ms` : `after ${delay}`;
  const outcome = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  if (outcome) {
    const invoke = invokes.find((candidate) => candidate.id === outcome[2]);
    return `${outcome[1]}: ${invoke ? invokeName(invoke) : outcome[2]}`;
  }
  return eventType;
}

function edgeFrom(
  transition: AnyTransitionDefinition,
  eventType: string,
  index: number,
  delays: Map<string, string | number | null>,
  invokes: Array<{ id: string; src: string }>,
): GraphEdge {
  const hasDelay = delays.has(eventType);
  const delay = hasDelay ? (delays.get(eventType) ?? null) : null;
  const kind: EdgeKind = eventType === '' ? 'always' : hasDelay ? 'after' : 'event';
  const guard = guardName(transition.guard);
  const event = describeEvent(eventType, delay, invokes);
  return {
    id: `${transition.source.id}::${eventType}::${index}`,
    kind,
    source: transition.source.id,
    targets: (transition.target ?? []).map((target: AnyStateNode) => target.id),
    eventType,
    event,
    delay,
    guard,
    actions: actionNames(transition.actions),
    reenter: transition.reenter,
    label: guard === null ? event : `${event} [${guard}]`,
  };
}

/** Walk the machine's state nodes and transition definitions into a serializable graph. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];

  const visit = (node: AnyStateNode): void => {
    const children = Object.values(node.states as Record<string, AnyStateNode>);
    const invokes = node.invoke.map((invoke) => ({ id: invoke.id, src: srcName(invoke.src) }));
    const initialTarget =
      node.type === 'compound'
        ? (node.initial?.target?.[0] as AnyStateNode | undefined)
        : undefined;
    nodes.push({
      id: node.id,
      key: node.key,
      path: [...node.path],
      parent: node.parent?.id ?? null,
      type: node.type as StateNodeType,
      initial: initialTarget?.id ?? null,
      children: children.map((child) => child.id),
      entry: actionNames(node.entry),
      exit: actionNames(node.exit),
      invoke: invokes,
      tags: [...node.tags],
      description: node.description ?? null,
    });

    const delays = new Map<string, string | number | null>();
    for (const after of node.after) delays.set(String(after.eventType), delayName(after.delay));

    for (const [eventType, candidates] of node.transitions) {
      candidates.forEach((transition, index) => {
        edges.push(edgeFrom(transition, String(eventType), index, delays, invokes));
      });
    }
    (node.always ?? []).forEach((transition, index) => {
      edges.push(edgeFrom(transition, '', index, delays, invokes));
    });

    for (const child of children) visit(child);
  };

  visit(machine.root);
  return { id: machine.id, root: machine.root.id, nodes, edges };
}

/** The active state node ids of a state value, root included, e.g. `{ session: 'connecting' }`. */
export function activeStateIds(graph: MachineGraph, value: unknown): string[] {
  const byPath = new Map(graph.nodes.map((node) => [node.path.join('.'), node.id]));
  const active: string[] = [graph.root];
  const walk = (prefix: string[], current: unknown): void => {
    if (typeof current === 'string') {
      const id = byPath.get([...prefix, current].join('.'));
      if (id !== undefined) active.push(id);
      return;
    }
    if (current === null || typeof current !== 'object') return;
    for (const [key, inner] of Object.entries(current)) {
      const path = [...prefix, key];
      const id = byPath.get(path.join('.'));
      if (id !== undefined) active.push(id);
      walk(path, inner);
    }
  };
  walk([], value);
  return active;
}

/** A state value as dotted leaf paths: `{ session: 'connecting' }` → `session.connecting`. */
export function stateValueText(value: unknown): string {
  const leaves: string[] = [];
  const walk = (prefix: string[], current: unknown): void => {
    if (typeof current === 'string') {
      leaves.push([...prefix, current].join('.'));
      return;
    }
    if (current === null || typeof current !== 'object') return;
    const entries = Object.entries(current);
    if (entries.length === 0 && prefix.length > 0) leaves.push(prefix.join('.'));
    for (const [key, inner] of entries) walk([...prefix, key], inner);
  };
  walk([], value);
  return leaves.join(', ');
}
