/**
 * The attribute names the instrumentation sets: OpenTelemetry's semantic
 * conventions where one exists (RPC, server, network, error), `overlayd.*`
 * for what only this client knows.
 */
import type { Attributes } from '@opentelemetry/api';
import { isWindowsPipe } from '../transport/endpoint.js';

export const RPC_SYSTEM_NAME = 'rpc.system.name';
export const RPC_METHOD = 'rpc.method';
export const SERVER_ADDRESS = 'server.address';
export const NETWORK_TRANSPORT = 'network.transport';
export const ERROR_TYPE = 'error.type';
export const REQUEST_ID = 'overlayd.request.id';
export const DELIVERY = 'overlayd.delivery';
export const CONNECT_ATTEMPT = 'overlayd.connect.attempt';
export const CONNECT_MAX_ATTEMPTS = 'overlayd.connect.max_attempts';
export const RESYNC_RESTARTED = 'overlayd.resync.restarted';
export const RESYNC_REAPPLIED = 'overlayd.resync.reapplied';
export const RESYNC_STEP = 'overlayd.resync.step';

/** `rpc.system.name` of every span and metric. */
export const SYSTEM = 'overlayd';

/** Where the client talks to: the socket path (or pipe name) and its transport. */
export function endpointAttributes(endpoint: string): Attributes {
  return {
    [RPC_SYSTEM_NAME]: SYSTEM,
    [SERVER_ADDRESS]: endpoint,
    [NETWORK_TRANSPORT]: isWindowsPipe(endpoint) ? 'pipe' : 'unix',
  };
}
