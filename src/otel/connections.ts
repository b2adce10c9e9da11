/**
 * A span per connect attempt (`overlayd-client:connect`) and the reconnect
 * counter (`overlayd-client:connection:ready`). An attempt is the client's
 * own work, started by no caller (a reconnect runs in a socket callback), so
 * its span is a root.
 */
import { type Meter, type Span, SpanKind, type Tracer } from '@opentelemetry/api';
import {
  CONNECTION_READY_CHANNEL,
  type ConnectionReadyMessage,
  type ConnectTraceContext,
  connectChannel,
} from '../diagnostics/channels.js';
import { CONNECT_ATTEMPT, CONNECT_MAX_ATTEMPTS, endpointAttributes } from './attributes.js';
import { type Disable, failureOfError, listen, markFailed } from './spans.js';

export function instrumentConnections(tracer: Tracer, meter: Meter): Disable {
  const reconnects = meter.createCounter('overlayd.client.reconnects', {
    unit: '{reconnect}',
    description: 'Connections made again after one dropped.',
  });
  const open = new WeakMap<ConnectTraceContext, Span>();

  const onStart = (message: unknown) => {
    const context = message as ConnectTraceContext;
    const span = tracer.startSpan('overlayd connect', {
      kind: SpanKind.CLIENT,
      root: true,
      attributes: {
        ...endpointAttributes(context.endpoint),
        [CONNECT_ATTEMPT]: context.attempt,
        [CONNECT_MAX_ATTEMPTS]: context.maxAttempts,
      },
    });
    open.set(context, span);
  };
  const onSettled = (message: unknown) => {
    const context = message as ConnectTraceContext;
    const span = open.get(context);
    if (span === undefined) return;
    open.delete(context);
    if (context.error !== undefined) markFailed(span, failureOfError(context.error));
    span.end();
  };
  const onReady = (message: unknown) => {
    const ready = message as ConnectionReadyMessage;
    if (ready.reconnect) reconnects.add(1, endpointAttributes(ready.endpoint));
  };

  connectChannel.start.subscribe(onStart);
  connectChannel.asyncEnd.subscribe(onSettled);
  const stopReady = listen(CONNECTION_READY_CHANNEL, onReady);
  return () => {
    connectChannel.start.unsubscribe(onStart);
    connectChannel.asyncEnd.unsubscribe(onSettled);
    stopReady();
  };
}
