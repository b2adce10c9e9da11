/**
 * A span per manager resync (`overlayd-client:resync`), with the resync
 * counter and duration histogram. The span is bound to the resync's async
 * context (the channel's `bindStore`), so the requests the resync sends
 * (`status`, the re-applies) are its children. Like a connect attempt, a
 * resync is started by no caller: its span is a root.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Attributes, type Meter, type Span, SpanKind, type Tracer } from '@opentelemetry/api';
import { type ResyncTraceContext, resyncChannel } from '../diagnostics/channels.js';
import {
  ERROR_TYPE,
  endpointAttributes,
  RESYNC_REAPPLIED,
  RESYNC_RESTARTED,
  RESYNC_STEP,
} from './attributes.js';
import { type Disable, failureOfError, markFailed, secondsSince } from './spans.js';

export interface ResyncInstrumentation {
  disable: Disable;
  /** The span of the resync running in this async context, if any. */
  current(): Span | undefined;
}

export function instrumentResyncs(tracer: Tracer, meter: Meter): ResyncInstrumentation {
  const resyncs = meter.createCounter('overlayd.client.resyncs', {
    unit: '{resync}',
    description: 'Resyncs run after a (re)connect, by outcome.',
  });
  const duration = meter.createHistogram('overlayd.client.resync.duration', {
    unit: 's',
    description: 'Duration of resyncs, from the status query to the last re-apply.',
  });
  const running = new AsyncLocalStorage<Span | undefined>();
  const open = new WeakMap<ResyncTraceContext, { span: Span; startedAt: number }>();

  // Runs as the resync starts, before `start` is published: its span becomes the store's value.
  const startSpan = (context: ResyncTraceContext): Span => {
    const span = tracer.startSpan('overlayd resync', {
      kind: SpanKind.INTERNAL,
      root: true,
      attributes: endpointAttributes(context.endpoint),
    });
    open.set(context, { span, startedAt: performance.now() });
    return span;
  };
  const onSettled = (message: unknown) => {
    const context = message as ResyncTraceContext;
    const resync = open.get(context);
    if (resync === undefined) return;
    open.delete(context);
    const { span } = resync;
    const counted: Attributes = endpointAttributes(context.endpoint);
    if (context.restarted !== undefined) {
      span.setAttribute(RESYNC_RESTARTED, context.restarted);
      counted[RESYNC_RESTARTED] = context.restarted;
    }
    if (context.result !== undefined) {
      span.setAttribute(RESYNC_REAPPLIED, context.result.reapplied.length);
    }
    if (context.error !== undefined) {
      const failure = failureOfError(context.error);
      markFailed(span, failure);
      span.setAttribute(RESYNC_STEP, context.error.step);
      counted[ERROR_TYPE] = failure.code;
    }
    resyncs.add(1, counted);
    duration.record(secondsSince(resync.startedAt), counted);
    span.end();
  };

  resyncChannel.start.bindStore(running, startSpan);
  resyncChannel.asyncEnd.subscribe(onSettled);
  return {
    disable: () => {
      resyncChannel.start.unbindStore(running);
      resyncChannel.asyncEnd.unsubscribe(onSettled);
    },
    current: () => running.getStore(),
  };
}
