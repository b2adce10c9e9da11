/**
 * The socket actor: one connection attempt and, if it succeeds, the
 * connection's life, as an XState callback actor. It connects with `node:net`
 * (Unix socket paths and Windows `\\.\pipe\…` names alike), decodes frames and
 * sends them back to the connection machine as typed events, and writes the
 * request the machine names by token.
 *
 * Nothing thrown in here reaches the socket's event emitter: decode failures
 * and handler errors become events, so the machine decides what they mean.
 */
import { createConnection, type Socket } from 'node:net';
import { fromCallback } from 'xstate';
import type { SocketActorInput } from '../../machines/connection.machine.js';
import type { SocketCommand, SocketEvent } from '../../machines/connection.types.js';
import { CodecError, OtherError, type OverlaydError } from '../errors.js';
import { decodeFrame } from '../protocol/index.js';
import { FramedConnection } from './framed-connection.js';

export interface SocketActorDependencies {
  /** The encoded request frame for a token; undefined once it has settled. */
  payloadFor(token: number): Uint8Array | undefined;
  /** Called once a socket's handle is fully released (for `close()` to wait on). */
  onSocketReleased?: () => void;
  /** Called when a socket is created (counted for `close()`). */
  onSocketOpened?: () => void;
  /** Opens the stream; `net.createConnection` by default. */
  connect?: (endpoint: string) => Socket;
}

/** Turns one decoded body into the event the machine expects. */
function eventForBody(body: Uint8Array): SocketEvent {
  let frame: ReturnType<typeof decodeFrame>;
  try {
    frame = decodeFrame(body);
  } catch (error) {
    const codec =
      error instanceof CodecError
        ? error
        : new CodecError(`frame could not be decoded: ${String(error)}`, { cause: error });
    return codec.id === undefined
      ? { type: 'socket.undecodable', error: codec }
      : { type: 'socket.undecodable', error: codec, id: String(codec.id) };
  }
  switch (frame.frame) {
    case 'response':
      return { type: 'socket.response', id: String(frame.id), response: frame.response };
    case 'request':
      return { type: 'socket.request', id: String(frame.id) };
    default: {
      const { frame: _tag, ...event } = frame;
      return { type: 'socket.event', event };
    }
  }
}

export function createSocketActor(deps: SocketActorDependencies) {
  const open = deps.connect ?? ((endpoint: string) => createConnection(endpoint));
  return fromCallback<SocketCommand, SocketActorInput, SocketEvent>(
    ({ input, sendBack, receive }) => {
      let stopped = false;
      const report = (event: SocketEvent) => {
        if (!stopped) sendBack(event);
      };
      const socket = open(input.endpoint);
      deps.onSocketOpened?.();
      socket.once('close', () => deps.onSocketReleased?.());
      const connection = new FramedConnection(socket, {
        onBody: (body) => report(eventForBody(body)),
        onEnd: (reason: OverlaydError) => report({ type: 'socket.closed', error: reason }),
      });
      socket.once('connect', () => report({ type: 'socket.connected' }));

      receive((command) => {
        const payload = deps.payloadFor(command.token);
        if (payload === undefined || connection.ended) return;
        try {
          connection.send(payload);
        } catch (error) {
          connection.destroy(
            new OtherError(`could not write request: ${String(error)}`, { cause: error }),
          );
        }
      });

      return () => {
        stopped = true;
        connection.destroy();
      };
    },
  );
}
