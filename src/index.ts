/**
 * overlayd-client: the client, the manager, the protocol, the errors and the
 * machines. The simulated overlayd is in overlayd-client/server, so a daemon
 * importing the client does not load it.
 */
export * from '../machines/index.js';
export {
  type ClientEvent,
  type ClientOptions,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type Logger,
  OverlaydClient,
  type ReconnectedNotice,
  type RequestOptions,
} from './client/client.js';
export type { Clock } from './client/clock.js';
export type { ClientState, ConnectionStatus } from './client/state.js';
export {
  CONNECT_CHANNEL,
  CONNECTION_CLOSED_CHANNEL,
  CONNECTION_READY_CHANNEL,
  type ConnectionClosedMessage,
  type ConnectionReadyMessage,
  type ConnectTraceContext,
  FRAME_SKIPPED_CHANNEL,
  type FrameSkippedMessage,
  MANAGER_STATE_CHANNEL,
  type ManagerStateMessage,
  QUEUE_FULL_CHANNEL,
  type QueueFullMessage,
  REQUEST_CHANNEL,
  REQUEST_REQUEUED_CHANNEL,
  REQUEST_WRITTEN_CHANNEL,
  RESYNC_CHANNEL,
  type RequestTraceContext,
  type ResyncTraceContext,
} from './diagnostics/channels.js';
export * from './errors.js';
export {
  type CallOptions,
  type DnsConfig,
  type GlobalOverlayResult,
  MANAGER_CONNECT_ATTEMPTS,
  type ManagerEvent,
  type ManagerNotice,
  OverlayManager,
  type OverlayManagerOptions,
  type StatusResult,
} from './manager/manager.js';
export type * from './manager/params.js';
export type { AttachmentMoved } from './manager/record.js';
export * from './protocol/index.js';
export * from './supervisor/ensure-overlayd.js';
export { defaultEndpoint, isWindowsPipe } from './transport/endpoint.js';
export { FramedConnection } from './transport/framed-connection.js';
export { encodeLengthPrefixed, FrameDecoder } from './transport/framing.js';
export { createSocketActor, type SocketActorDependencies } from './transport/socket-actor.js';
