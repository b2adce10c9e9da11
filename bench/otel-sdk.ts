/**
 * A real OpenTelemetry SDK in memory, for the benchmark's instrumented rows
 * and the instrumentation's tests: a tracer provider exporting every span to
 * an in-memory exporter as it ends, a meter provider read on demand, and the
 * async-hooks context manager (so a caller's active span follows its awaits).
 */
import { type ContextManager, context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** A metric reader that exports nowhere: the test or bench collects from it. */
class PullReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface OtelSdk {
  /** Registered as the global context manager by `startOtelSdk`. */
  contextManager: ContextManager;
  tracerProvider: BasicTracerProvider;
  meterProvider: MeterProvider;
  /** Every span ended so far. */
  spans: InMemorySpanExporter;
  /** The metrics as they are now (cumulative), by name. */
  metrics(): Promise<Map<string, MetricData>>;
  shutdown(): Promise<void>;
}

export interface OtelSdkOptions {
  /**
   * Export spans in batches (BatchSpanProcessor, what production uses)
   * rather than each as it ends (SimpleSpanProcessor, what a test wants:
   * the span is there as soon as the request settled).
   */
  batch?: boolean;
}

export function startOtelSdk(options: OtelSdkOptions = {}): OtelSdk {
  const contextManager: ContextManager = new AsyncLocalStorageContextManager().enable();
  context.disable();
  context.setGlobalContextManager(contextManager);
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [
      options.batch ? new BatchSpanProcessor(spans) : new SimpleSpanProcessor(spans),
    ],
  });
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    contextManager,
    tracerProvider,
    meterProvider,
    spans,
    async metrics() {
      const { resourceMetrics } = await reader.collect();
      const byName = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
      }
      return byName;
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      context.disable();
    },
  };
}
