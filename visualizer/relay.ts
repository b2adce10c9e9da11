/**
 * Turns XState inspection events into the JSON messages the Stately inspector
 * relay sends (`{ type: '@xstate.snapshot', sessionId, snapshot, event, … }`),
 * and remembers enough for a page that connects late: the newest snapshot of
 * the machine being visualized, its recent transitions and events, and the
 * `after` timers it has pending.
 */
import type { AnyTransitionDefinition, InspectionEvent } from 'xstate';
import { edgeIdOf, stateValueText } from './graph.js';
import { toSafeJson } from './serialize.js';

export const RELAY_PROTOCOL_VERSION = '1';
const ACTORS_REMEMBERED = 100;

export interface SafeSnapshot {
  value?: unknown;
  context?: unknown;
  status: string;
  error?: unknown;
  output?: unknown;
}

interface BaseMessage {
  sessionId: string;
  rootId: string;
  /** The actor's id in its system (`socket`, or the root's session id). */
  actorId: string;
  /** Unique per message. */
  id: string;
  /** Milliseconds since the epoch, as a string (as the Stately relay sends it). */
  createdAt: string;
  _version: string;
}

export interface SnapshotMessage extends BaseMessage {
  type: '@xstate.snapshot';
  event: unknown;
  snapshot: SafeSnapshot;
  /** Set when the actor runs a state machine: that machine's id. */
  machineId?: string;
}

export interface EventMessage extends BaseMessage {
  type: '@xstate.event';
  event: unknown;
  sourceId: string | undefined;
}

export interface ActorMessage extends BaseMessage {
  type: '@xstate.actor';
  parentId: string | undefined;
  snapshot: SafeSnapshot;
  machineId?: string;
}

export interface TakenTransition {
  edgeId: string | null;
  source: string;
  targets: string[];
  eventType: string;
}

export interface MicrostepMessage extends BaseMessage {
  type: '@xstate.microstep';
  event: unknown;
  /** Only the state value and status: the context follows in the next snapshot. */
  snapshot: { value?: unknown; status: string };
  transitions: TakenTransition[];
}

export interface ActionMessage extends BaseMessage {
  type: '@xstate.action';
  action: { type: string; params: unknown };
}

export type RelayMessage =
  | SnapshotMessage
  | EventMessage
  | ActorMessage
  | MicrostepMessage
  | ActionMessage
  | (BaseMessage & { type: string });

/** One entry of the timeline. */
export interface TransitionEntry {
  seq: number;
  /** ms since the epoch */
  at: number;
  sessionId: string;
  from: string;
  to: string;
  event: string;
  edgeIds: string[];
  /** True when no state was exited (actions only). */
  targetless: boolean;
  /** `started`, `stopped`, `done`, `error` for lifecycle entries. */
  note?: string;
}

/** An `after` timer the machine armed and has not yet fired or cancelled. */
export interface ScheduledTimer {
  sessionId: string;
  /** `xstate.after.<delay>.<state id>` */
  id: string;
  delayMs: number;
  at: number;
}

export interface RelayState {
  current: SnapshotMessage | null;
  /** Session id → actor id (`socket`, …) of actors seen lately, to name event sources. */
  actors: Record<string, string>;
  transitions: TransitionEntry[];
  events: EventMessage[];
  scheduled: ScheduledTimer[];
}

export interface RelayOptions {
  /** The visualized machine's id: snapshots of actors running it drive the picture. */
  machineId: string;
  /** Transitions kept for late joiners (default 200). */
  transitionLimit?: number;
  /** Events kept for late joiners (default 50). */
  eventLimit?: number;
  /** Receives each message, the derived `viz.transition` ones included. */
  emit: (message: RelayMessage | { type: 'viz.transition'; transition: TransitionEntry }) => void;
  now?: () => number;
}

interface SnapshotLike {
  status?: unknown;
  value?: unknown;
  context?: unknown;
  error?: unknown;
  output?: unknown;
  machine?: { id?: unknown };
}

interface ActorRefLike {
  id: string;
  sessionId: string;
  _parent?: { sessionId?: string };
}

function machineIdOf(snapshot: unknown): string | undefined {
  const id = (snapshot as SnapshotLike | undefined)?.machine?.id;
  return typeof id === 'string' ? id : undefined;
}

function safeSnapshot(snapshot: unknown): SafeSnapshot {
  const raw = (snapshot ?? {}) as SnapshotLike;
  const safe: SafeSnapshot = { status: typeof raw.status === 'string' ? raw.status : 'unknown' };
  if (raw.value !== undefined) safe.value = toSafeJson(raw.value);
  if (raw.context !== undefined) safe.context = toSafeJson(raw.context);
  if (raw.error !== undefined) safe.error = toSafeJson(raw.error);
  if (raw.output !== undefined) safe.output = toSafeJson(raw.output);
  return safe;
}

function eventType(event: unknown): string {
  const type = (event as { type?: unknown } | undefined)?.type;
  return typeof type === 'string' ? type : 'unknown';
}

export class InspectionRelay {
  readonly #machineId: string;
  readonly #transitionLimit: number;
  readonly #eventLimit: number;
  readonly #emit: RelayOptions['emit'];
  readonly #now: () => number;
  #seq = 0;
  #transitionSeq = 0;
  #current: SnapshotMessage | null = null;
  readonly #transitions: TransitionEntry[] = [];
  readonly #events: EventMessage[] = [];
  readonly #scheduled = new Map<string, ScheduledTimer>();
  /** The last state value and status seen per machine session (for "from" in the timeline). */
  readonly #lastValue = new Map<string, { value: unknown; status: string }>();
  /** Sessions known to run the visualized machine. */
  readonly #tracked = new Set<string>();
  /** Session id → actor id, newest last, bounded. */
  readonly #actors = new Map<string, string>();

  constructor(options: RelayOptions) {
    this.#machineId = options.machineId;
    this.#transitionLimit = options.transitionLimit ?? 200;
    this.#eventLimit = options.eventLimit ?? 50;
    this.#emit = options.emit;
    this.#now = options.now ?? Date.now;
  }

  state(): RelayState {
    return {
      current: this.#current,
      actors: Object.fromEntries(this.#actors),
      transitions: [...this.#transitions],
      events: [...this.#events],
      scheduled: [...this.#scheduled.values()],
    };
  }

  /** The observer to hand XState (`createActor(machine, { inspect: relay.inspect })`). Never throws. */
  readonly inspect = (event: InspectionEvent): void => {
    try {
      this.#handle(event);
    } catch {
      // An inspector must never break the actor it watches.
    }
  };

  #base(event: InspectionEvent): BaseMessage {
    const actor = event.actorRef as unknown as ActorRefLike;
    return {
      sessionId: actor.sessionId,
      rootId: event.rootId,
      actorId: actor.id,
      id: String(++this.#seq),
      createdAt: String(this.#now()),
      _version: RELAY_PROTOCOL_VERSION,
    };
  }

  #handle(event: InspectionEvent): void {
    const base = this.#base(event);
    if (!this.#actors.has(base.sessionId)) {
      this.#actors.set(base.sessionId, base.actorId);
      if (this.#actors.size > ACTORS_REMEMBERED) {
        const oldest = this.#actors.keys().next().value;
        if (oldest !== undefined) this.#actors.delete(oldest);
      }
    }
    switch (event.type) {
      case '@xstate.snapshot': {
        const machineId = machineIdOf(event.snapshot);
        const message: SnapshotMessage = {
          type: '@xstate.snapshot',
          ...base,
          event: toSafeJson(event.event),
          snapshot: safeSnapshot(event.snapshot),
          ...(machineId !== undefined ? { machineId } : {}),
        };
        if (machineId === this.#machineId) this.#onMachineSnapshot(message);
        this.#emit(message);
        return;
      }
      case '@xstate.event': {
        const source = event.sourceRef as unknown as ActorRefLike | undefined;
        const message: EventMessage = {
          type: '@xstate.event',
          ...base,
          event: toSafeJson(event.event),
          sourceId: source?.sessionId,
        };
        if (this.#tracked.has(base.sessionId)) {
          this.#events.push(message);
          if (this.#events.length > this.#eventLimit) this.#events.shift();
        }
        this.#emit(message);
        return;
      }
      case '@xstate.actor': {
        const actor = event.actorRef as unknown as ActorRefLike & {
          getSnapshot?: () => unknown;
          logic?: { id?: unknown; root?: unknown };
        };
        let snapshot: unknown;
        try {
          snapshot = actor.getSnapshot?.();
        } catch {
          snapshot = undefined;
        }
        // Registered before it starts: the snapshot may not exist yet, the logic does.
        const logicId = actor.logic?.root !== undefined ? actor.logic.id : undefined;
        const machineId =
          machineIdOf(snapshot) ?? (typeof logicId === 'string' ? logicId : undefined);
        this.#emit({
          type: '@xstate.actor',
          ...base,
          parentId: actor._parent?.sessionId,
          snapshot: safeSnapshot(snapshot),
          ...(machineId !== undefined ? { machineId } : {}),
        } satisfies ActorMessage);
        return;
      }
      case '@xstate.microstep': {
        const message: MicrostepMessage = {
          type: '@xstate.microstep',
          ...base,
          event: toSafeJson(event.event),
          snapshot: {
            value: toSafeJson((event.snapshot as SnapshotLike).value),
            status: String((event.snapshot as SnapshotLike).status),
          },
          transitions: event._transitions.map(describeTransition),
        };
        if (machineIdOf(event.snapshot) === this.#machineId) this.#onMicrostep(message);
        this.#emit(message);
        return;
      }
      case '@xstate.action': {
        const message: ActionMessage = {
          type: '@xstate.action',
          ...base,
          action: { type: event.action.type, params: toSafeJson(event.action.params) ?? null },
        };
        if (this.#tracked.has(base.sessionId)) this.#onAction(message);
        this.#emit(message);
        return;
      }
      default: {
        const other = event as InspectionEvent & { event?: unknown };
        this.#emit({
          ...base,
          type: other.type,
          ...(other.event !== undefined ? { event: toSafeJson(other.event) } : {}),
        });
      }
    }
  }

  #record(entry: Omit<TransitionEntry, 'seq'>): void {
    const transition: TransitionEntry = { seq: ++this.#transitionSeq, ...entry };
    this.#transitions.push(transition);
    if (this.#transitions.length > this.#transitionLimit) this.#transitions.shift();
    this.#emit({ type: 'viz.transition', transition });
  }

  #onMachineSnapshot(message: SnapshotMessage): void {
    const { sessionId } = message;
    const status = message.snapshot.status;
    const previous = this.#lastValue.get(sessionId);
    const at = Number(message.createdAt);
    if (!this.#tracked.has(sessionId)) {
      this.#tracked.add(sessionId);
      this.#record({
        at,
        sessionId,
        from: '',
        to: stateValueText(message.snapshot.value),
        event: eventType(message.event),
        edgeIds: [],
        targetless: false,
        note: 'started',
      });
    } else if (previous !== undefined && previous.status === 'active' && status !== 'active') {
      this.#record({
        at,
        sessionId,
        from: stateValueText(previous.value),
        to: stateValueText(message.snapshot.value),
        event: eventType(message.event),
        edgeIds: [],
        targetless: true,
        note: status,
      });
    }
    this.#current = message;
    if (status === 'active') {
      this.#lastValue.set(sessionId, { value: message.snapshot.value, status });
      return;
    }
    // The session is over: forget it, so that per-session memory does not grow with actors made.
    this.#lastValue.delete(sessionId);
    this.#tracked.delete(sessionId);
    for (const [key, timer] of this.#scheduled) {
      if (timer.sessionId === sessionId) this.#scheduled.delete(key);
    }
  }

  #onMicrostep(message: MicrostepMessage): void {
    const { sessionId } = message;
    this.#tracked.add(sessionId);
    const type = eventType(message.event);
    this.#scheduled.delete(`${sessionId} ${type}`);
    if (message.transitions.length === 0) return;
    const previous = this.#lastValue.get(sessionId);
    const from = stateValueText(previous?.value);
    this.#record({
      at: Number(message.createdAt),
      sessionId,
      from,
      to: stateValueText(message.snapshot.value),
      event: type,
      edgeIds: message.transitions.flatMap((taken) =>
        taken.edgeId === null ? [] : [taken.edgeId],
      ),
      targetless: message.transitions.every((taken) => taken.targets.length === 0),
    });
    // The status is the last *snapshot's*: a change of it is noted when the snapshot arrives.
    this.#lastValue.set(sessionId, {
      value: message.snapshot.value,
      status: previous?.status ?? 'active',
    });
  }

  #onAction(message: ActionMessage): void {
    const params = message.action.params as { id?: unknown; delay?: unknown; sendId?: unknown };
    if (message.action.type === 'xstate.raise' && typeof params?.delay === 'number') {
      const id = typeof params.id === 'string' ? params.id : '';
      if (id.startsWith('xstate.after.')) {
        this.#scheduled.set(`${message.sessionId} ${id}`, {
          sessionId: message.sessionId,
          id,
          delayMs: params.delay,
          at: Number(message.createdAt),
        });
      }
    } else if (message.action.type === 'xstate.cancel' && typeof params?.sendId === 'string') {
      this.#scheduled.delete(`${message.sessionId} ${params.sendId}`);
    }
  }
}

function describeTransition(transition: AnyTransitionDefinition): TakenTransition {
  let edgeId: string | null = null;
  try {
    edgeId = edgeIdOf(transition);
  } catch {
    edgeId = null;
  }
  return {
    edgeId,
    source: transition.source.id,
    targets: (transition.target ?? []).map((target) => target.id),
    eventType: String(transition.eventType),
  };
}
