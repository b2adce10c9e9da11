/**
 * overlayd-client/server: the simulated overlayd, for tests and demos of code
 * that drives overlayd. `startOverlayd` listens and answers with an `Engine`;
 * `serve` is the accept loop under it, for a server of your own.
 */
export { Engine, type EngineOptions, type EngineResult } from './engine/engine.js';
export {
  type RequestLogEntry,
  type RunningOverlayd,
  type StartOverlaydOptions,
  startOverlayd,
} from './overlayd.js';
export {
  type ConnectionHandler,
  type OverlaydServer,
  type ServeOptions,
  ServerConnection,
  serve,
} from './serve.js';
