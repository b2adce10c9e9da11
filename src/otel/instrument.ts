/**
 * `instrument()`: OpenTelemetry spans and metrics for every OverlaydClient and
 * OverlayManager in the process, built on the package's diagnostics channels
 * alone (no hook into the client). It uses only `@opentelemetry/api`; the
 * host brings the SDK and its exporters.
 */
import {
  context,
  type MeterProvider,
  metrics,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { instrumentConnections } from './connections.js';
import { instrumentRequests } from './requests.js';
import { instrumentResyncs } from './resyncs.js';
import { SCOPE } from './spans.js';

export interface InstrumentOptions {
  /** Where spans go (default: the global provider, `trace.setGlobalTracerProvider`). */
  tracerProvider?: TracerProvider;
  /**
   * Where metrics go (default: the global provider). The API has no proxy for
   * metrics: register the global MeterProvider before calling `instrument()`.
   */
  meterProvider?: MeterProvider;
}

export interface Instrumentation {
  /** Unsubscribe from every channel: no more spans or metrics (spans still open are not ended). */
  disable(): void;
}

export function instrument(options: InstrumentOptions = {}): Instrumentation {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
  const resyncs = instrumentResyncs(tracer, meter);
  // A request sent by a resync is the resync's child; any other, the caller's active span's.
  const parentOf = () => {
    const resync = resyncs.current();
    return resync === undefined ? context.active() : trace.setSpan(context.active(), resync);
  };
  const disables = [
    resyncs.disable,
    instrumentRequests(tracer, meter, parentOf),
    instrumentConnections(tracer, meter),
  ];
  let enabled = true;
  return {
    disable() {
      if (!enabled) return;
      enabled = false;
      for (const disable of disables) disable();
    },
  };
}
