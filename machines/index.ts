export * from './backoff.js';
export * from './connection.machine.js';
export type * from './connection.types.js';
export * from './manager.machine.js';
export type * from './manager.types.js';
