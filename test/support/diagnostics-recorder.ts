/**
 * Records what the package publishes on its diagnostics channels, subscribed
 * directly (no OpenTelemetry): each tracing channel's lifecycle as event names
 * with a copy of the context as it was then, each plain channel's messages.
 */
import { subscribe, type TracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { afterEach } from 'vitest';

export type TraceEvent = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
const TRACE_EVENTS: readonly TraceEvent[] = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'];

export interface TraceRecord<C> {
  event: TraceEvent;
  /** A shallow copy of the context at this event. */
  context: C;
  /** The context object itself, to tell one trace from another. */
  same: C;
}

export interface TraceRecorder<C> {
  records: TraceRecord<C>[];
  /** The event names of one trace (by its context object), in order. */
  lifecycleOf(context: C): TraceEvent[];
  /** The distinct context objects, in the order their traces started. */
  traces(): C[];
}

const stops: Array<() => void> = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

/** Record every event of `trace` until the end of the test. */
export function recordTrace<C extends object>(trace: TracingChannel<unknown, C>): TraceRecorder<C> {
  const records: TraceRecord<C>[] = [];
  const handlers = Object.fromEntries(
    TRACE_EVENTS.map((event) => [
      event,
      (message: unknown) => {
        const context = message as C;
        records.push({ event, context: { ...context }, same: context });
      },
    ]),
  ) as Record<TraceEvent, (message: unknown) => void>;
  trace.subscribe(handlers);
  stops.push(() => trace.unsubscribe(handlers));
  return {
    records,
    lifecycleOf: (context) => records.filter((r) => r.same === context).map((r) => r.event),
    traces: () => records.filter((r) => r.event === 'start').map((r) => r.same),
  };
}

/** Record every message on the named plain channel until the end of the test. */
export function recordChannel<M>(name: string): M[] {
  const messages: M[] = [];
  const onMessage = (message: unknown) => {
    messages.push({ ...(message as M) });
  };
  subscribe(name, onMessage);
  stops.push(() => unsubscribe(name, onMessage));
  return messages;
}
