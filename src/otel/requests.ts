/**
 * Request spans and request metrics from `overlayd-client:request` and the
 * write/requeue channels: a CLIENT span per request, child of the caller's
 * active span (or of the resync that sent it), the call-duration histogram,
 * and the queued and in-flight counts.
 */
import {
  type Attributes,
  type Context,
  type Meter,
  type ObservableCallback,
  type Span,
  SpanKind,
  type Tracer,
} from '@opentelemetry/api';
import {
  REQUEST_REQUEUED_CHANNEL,
  REQUEST_WRITTEN_CHANNEL,
  type RequestTraceContext,
  requestChannel,
} from '../diagnostics/channels.js';
import {
  ERROR_TYPE,
  endpointAttributes,
  REQUEST_ID,
  RPC_METHOD,
  RPC_SYSTEM_NAME,
  SYSTEM,
} from './attributes.js';
import {
  type Disable,
  type Failure,
  failureOfError,
  listen,
  markFailed,
  secondsSince,
} from './spans.js';

/**
 * Buckets for a local IPC round trip: tens of microseconds when overlayd is
 * idle, up to the 30 s default deadline when it is not.
 */
const DURATION_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  5, 10, 30,
];

/** One endpoint's requests now queued and in flight, and its attributes. */
interface Tally {
  where: Attributes;
  queued: number;
  inFlight: number;
}

interface OpenRequest {
  span: Span;
  startedAt: number;
  /** Its bytes went to the socket: counted in flight, not queued. */
  written: boolean;
  tally: Tally;
}

/**
 * Ops whose histogram attributes are kept for reuse; overlayd has about 25,
 * and an untyped caller's made-up ops must not grow the map without end.
 */
const MEASURED_OPS_KEPT = 64;

/** Why a request failed: its error, or an `err` answer that `request()` resolved with. */
function failureOf(context: RequestTraceContext): Failure | undefined {
  if (context.error !== undefined) return failureOfError(context.error);
  if (context.result?.result === 'err') {
    return { code: 'OVERLAYD_OVERLAY', message: context.result.message, delivery: 'sent' };
  }
  return undefined;
}

export function instrumentRequests(
  tracer: Tracer,
  meter: Meter,
  /** The parent of a request's span, read in the caller's async context. */
  parentOf: () => Context,
): Disable {
  const duration = meter.createHistogram('rpc.client.call.duration', {
    unit: 's',
    description: 'Duration of overlayd requests, from the call to the answer or the failure.',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  // Counted here and read when metrics are collected: an up-down counter's
  // `add` per request would hash its attributes up to four times a request.
  const tallies = new Map<string, Tally>();
  const tallyOf = (endpoint: string): Tally => {
    let tally = tallies.get(endpoint);
    if (tally === undefined) {
      tally = { where: endpointAttributes(endpoint), queued: 0, inFlight: 0 };
      tallies.set(endpoint, tally);
    }
    return tally;
  };
  const inFlight = meter.createObservableUpDownCounter('overlayd.client.requests.in_flight', {
    unit: '{request}',
    description: 'Requests written to overlayd and not yet answered.',
  });
  const queued = meter.createObservableUpDownCounter('overlayd.client.requests.queued', {
    unit: '{request}',
    description: 'Requests waiting to be written (for the connection or a place in the window).',
  });
  const observeInFlight: ObservableCallback = (result) => {
    for (const tally of tallies.values()) result.observe(tally.inFlight, tally.where);
  };
  const observeQueued: ObservableCallback = (result) => {
    for (const tally of tallies.values()) result.observe(tally.queued, tally.where);
  };
  inFlight.addCallback(observeInFlight);
  queued.addCallback(observeQueued);
  const measuredByOp = new Map<string, Attributes>();
  const open = new WeakMap<RequestTraceContext, OpenRequest>();

  const onStart = (message: unknown) => {
    const context = message as RequestTraceContext;
    const tally = tallyOf(context.endpoint);
    const span = tracer.startSpan(
      context.op,
      {
        kind: SpanKind.CLIENT,
        attributes: { ...tally.where, [RPC_METHOD]: context.op, [REQUEST_ID]: context.id },
      },
      parentOf(),
    );
    open.set(context, { span, startedAt: performance.now(), written: false, tally });
    tally.queued++;
  };
  const onWritten = (message: unknown) => {
    const request = open.get(message as RequestTraceContext);
    if (request === undefined || request.written) return;
    request.written = true;
    request.tally.queued--;
    request.tally.inFlight++;
  };
  const onRequeued = (message: unknown) => {
    const request = open.get(message as RequestTraceContext);
    if (request === undefined || !request.written) return;
    request.written = false;
    request.tally.inFlight--;
    request.tally.queued++;
  };
  const onSettled = (message: unknown) => {
    const context = message as RequestTraceContext;
    const request = open.get(context);
    if (request === undefined) return;
    open.delete(context);
    if (request.written) request.tally.inFlight--;
    else request.tally.queued--;
    const failure = failureOf(context);
    let measured: Attributes;
    if (failure === undefined) {
      measured = measuredByOp.get(context.op) ?? measuredAs(context.op);
      if (measuredByOp.size < MEASURED_OPS_KEPT) measuredByOp.set(context.op, measured);
    } else {
      measured = { ...measuredAs(context.op), [ERROR_TYPE]: failure.code };
      markFailed(request.span, failure);
    }
    duration.record(secondsSince(request.startedAt), measured);
    request.span.end();
  };

  requestChannel.start.subscribe(onStart);
  requestChannel.asyncEnd.subscribe(onSettled);
  const stopWritten = listen(REQUEST_WRITTEN_CHANNEL, onWritten);
  const stopRequeued = listen(REQUEST_REQUEUED_CHANNEL, onRequeued);
  return () => {
    requestChannel.start.unsubscribe(onStart);
    requestChannel.asyncEnd.unsubscribe(onSettled);
    stopWritten();
    stopRequeued();
    inFlight.removeCallback(observeInFlight);
    queued.removeCallback(observeQueued);
  };
}

/** The histogram's attributes of a successful request. */
function measuredAs(op: string): Attributes {
  return { [RPC_SYSTEM_NAME]: SYSTEM, [RPC_METHOD]: op };
}
