/**
 * overlayd-client/otel: OpenTelemetry spans and metrics for the client, from
 * its diagnostics channels. Needs `@opentelemetry/api` (an optional peer
 * dependency of overlayd-client).
 */
export {
  type Instrumentation,
  type InstrumentOptions,
  instrument,
} from './instrument.js';
