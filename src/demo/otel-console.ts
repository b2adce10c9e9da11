/**
 * `npm start -- --otel`: the OpenTelemetry SDK with its console exporters,
 * fed by `overlayd-client/otel`, so the demo prints each span as it ends and
 * the metrics when it stops (and every 10 s with --follow). The SDK is a
 * development dependency: imported here only, and only when asked for.
 */
const METRICS_EVERY_MS = 10_000;

/** Start printing spans and metrics; resolves with the call that flushes and stops it. */
export async function startConsoleOtel(): Promise<() => Promise<void>> {
  const [api, hooks, tracing, metricsSdk, { instrument }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-metrics'),
    import('../otel/index.js'),
  ]);
  // The caller's active span follows its awaits: request spans find their parent.
  api.context.setGlobalContextManager(new hooks.AsyncLocalStorageContextManager().enable());
  const tracerProvider = new tracing.BasicTracerProvider({
    spanProcessors: [new tracing.SimpleSpanProcessor(new tracing.ConsoleSpanExporter())],
  });
  const meterProvider = new metricsSdk.MeterProvider({
    readers: [
      new metricsSdk.PeriodicExportingMetricReader({
        exporter: new metricsSdk.ConsoleMetricExporter(),
        exportIntervalMillis: METRICS_EVERY_MS,
      }),
    ],
  });
  const instrumentation = instrument({ tracerProvider, meterProvider });
  return async () => {
    instrumentation.disable();
    await meterProvider.forceFlush();
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
    api.context.disable();
  };
}
