/**
 * The socket actor: one connection attempt and, if it succeeds, the
 * connection's life, as an XState callback actor. It connects with `node:net`
 * (Unix socket paths and Windows `\\.\pipe\…` names alike), decodes frames and
 * sends them back to the connection machine as typed events (the responses
 * of one socket read as one `socket.responses`), and writes the requests the
 * machine names by token (one write for each command).
 *
 * Nothing thrown in here reaches the socket's event emitter: decode failures
 * and handler errors become events, so the machine decides what they mean.
 */
import { createConnection, type Socket } from 'node:net';
import { type AnyActorRef, fromCallback } from 'xstate';
import type { SocketActorInput } from '../../machines/connection.machine.js';
import type { ResponseRef, SocketCommand, SocketEvent } from '../../machines/connection.types.js';
import { IoError, OtherError, type OverlaydError } from '../errors.js';
import { type AttemptTrace, traceAttempt } from './attempt-trace.js';
import { readBody } from './frame-events.js';
import { FramedConnection } from './framed-connection.js';

export interface SocketActorDependencies {
  /** Takes the encoded request frame for a token; undefined once it has settled. */
  payloadFor(token: number): Uint8Array | undefined;
  /** Hands a payload back: its write provably never left, and it may be written again. */
  restorePayload?(token: number, payload: Uint8Array): void;
  /** Called once a socket's handle is fully released (for `close()` to wait on). */
  onSocketReleased?: () => void;
  /** Called when a socket is created (counted for `close()`). */
  onSocketOpened?: () => void;
  /** Opens the stream; `net.createConnection` by default. */
  connect?: (endpoint: string) => Socket;
}

type SocketActorArgs = Parameters<
  Parameters<typeof fromCallback<SocketCommand, SocketActorInput, SocketEvent>>[0]
>[0];

/** One socket's life: connect, frames in as events, `write` commands out. */
function runSocket(deps: SocketActorDependencies, { input, sendBack, receive }: SocketActorArgs) {
  const open = deps.connect ?? ((endpoint: string) => createConnection(endpoint));
  let stopped = false;
  const report = (event: SocketEvent) => {
    if (!stopped) sendBack(event);
  };
  // The responses of the read being decoded, sent as one event when it ends
  // (or sooner, to keep their order with any other frame of the read).
  let responses: ResponseRef[] = [];
  const flushResponses = () => {
    if (responses.length === 0) return;
    const batch = responses;
    responses = [];
    report({ type: 'socket.responses', responses: batch });
  };
  // Requests whose write was refused whole: reported with the close.
  let unsent: number[] | undefined;
  const attempt: AttemptTrace = traceAttempt(input);
  let socket: Socket;
  let connection: FramedConnection;
  try {
    socket = open(input.endpoint);
    connection = new FramedConnection(socket, {
      onBody: (body) => {
        const read = readBody(body);
        if ('type' in read) {
          flushResponses();
          report(read);
        } else {
          responses.push(read);
        }
      },
      onReadEnd: flushResponses,
      onStuck: (stuck) => report({ type: 'socket.stuck', stuck }),
      onEnd: (reason: OverlaydError) => {
        attempt.ended(reason, stopped);
        flushResponses();
        report(
          unsent === undefined
            ? { type: 'socket.closed', error: reason }
            : { type: 'socket.closed', error: reason, unsent },
        );
      },
    });
  } catch (error) {
    // An opener that throws, or hands back something that is not a socket, is
    // one failed attempt, not a broken machine.
    const failure = new IoError(`cannot open ${input.endpoint}: ${String(error)}`, {
      cause: error,
    });
    attempt.ended(failure, false);
    sendBack({ type: 'socket.closed', error: failure });
    return;
  }
  deps.onSocketOpened?.();
  socket.once('close', () => deps.onSocketReleased?.());
  socket.once('connect', () => {
    attempt.connected();
    report({ type: 'socket.connected' });
  });

  receive((command) => {
    if (connection.ended) return;
    const tokens: number[] = [];
    const payloads: Uint8Array[] = [];
    for (const { token } of command.requests) {
      const payload = deps.payloadFor(token);
      // A request that settled meanwhile (given up) is not written.
      if (payload === undefined) continue;
      tokens.push(token);
      payloads.push(payload);
    }
    if (payloads.length === 0) return;
    let refusal: Error | undefined;
    try {
      refusal = connection.sendAll(payloads);
    } catch (error) {
      connection.destroy(
        new OtherError(`could not write request: ${String(error)}`, { cause: error }),
      );
      return;
    }
    if (refusal === undefined) return;
    // None of these bytes left (see FramedConnection.sendAll): the requests
    // go back to the machine's queue, and their payloads to their owner.
    unsent = tokens;
    tokens.forEach((token, i) => {
      deps.restorePayload?.(token, payloads[i] as Uint8Array);
    });
    connection.destroy(
      new IoError(`io error: write refused, nothing sent: ${refusal.message}`, {
        cause: refusal,
      }),
    );
  });

  return () => {
    stopped = true;
    connection.destroy();
  };
}

/** A socket actor bound to `deps`; provide it to the connection machine as `socket`. */
export function createSocketActor(deps: SocketActorDependencies) {
  return fromCallback<SocketCommand, SocketActorInput, SocketEvent>((args) =>
    runSocket(deps, args),
  );
}

/** An actor system, as actors and callback actors see it. */
type ActorSystem = AnyActorRef['system'];

const bound = new WeakMap<ActorSystem, SocketActorDependencies>();

/**
 * Bind `deps` to an actor system (the one `createActor` made for a root
 * actor), for `systemSocketActor`. Bind before the machine connects.
 */
export function bindSocketDependencies(system: ActorSystem, deps: SocketActorDependencies): void {
  bound.set(system, deps);
}

/**
 * One socket actor logic for every client: it takes its dependencies from
 * its actor system (`bindSocketDependencies`). So one provided machine serves
 * every client; `machine.provide()` per client would build the whole state
 * node tree again for each (~0.5 ms and ~18 KB of heap per client).
 */
export const systemSocketActor = fromCallback<SocketCommand, SocketActorInput, SocketEvent>(
  (args) => {
    const deps = bound.get(args.system);
    if (deps === undefined) {
      args.sendBack({
        type: 'socket.closed',
        error: new OtherError('no socket dependencies bound to this actor system'),
      });
      return;
    }
    return runSocket(deps, args);
  },
);
