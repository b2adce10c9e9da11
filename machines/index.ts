export * from './backoff.js';
export * from './connection.machine.js';
export type * from './connection.types.js';
