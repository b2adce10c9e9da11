/**
 * A scripted stand-in for the socket actor, for tests about the machine's
 * decisions and timing in isolation (no real socket, no real clock).
 * The real socket actor is tested against real Unix sockets elsewhere.
 */
import { fromCallback } from 'xstate';
import type { SocketActorInput } from '../../machines/connection.machine.js';
import type { SocketCommand, SocketEvent } from '../../machines/connection.types.js';

export interface FakeSocketHarness {
  /** Every socket the machine has opened, in order. */
  readonly opened: FakeSocket[];
  /** The newest socket. */
  readonly current: FakeSocket;
  /** When set, each new socket at once succeeds (true) or fails (false). */
  autoConnect: boolean | undefined;
  readonly logic: ReturnType<typeof fromCallback<SocketCommand, SocketActorInput, SocketEvent>>;
}

export interface FakeSocket {
  readonly endpoint: string;
  /** Tokens the machine asked this socket to write, in order. */
  readonly writes: number[];
  /** The write commands themselves: the tokens of each write. */
  readonly commands: number[][];
  stopped: boolean;
  send(event: SocketEvent): void;
  connect(): void;
  fail(message?: string): void;
}

export function createFakeSocket(): FakeSocketHarness {
  const opened: FakeSocket[] = [];
  const harness: FakeSocketHarness = {
    opened,
    get current(): FakeSocket {
      const last = opened.at(-1);
      if (last === undefined) throw new Error('no socket opened yet');
      return last;
    },
    autoConnect: undefined,
    logic: fromCallback<SocketCommand, SocketActorInput, SocketEvent>(
      ({ input, sendBack, receive }) => {
        const socket: FakeSocket = {
          endpoint: input.endpoint,
          writes: [],
          commands: [],
          stopped: false,
          send: (event) => {
            if (!socket.stopped) sendBack(event);
          },
          connect: () => socket.send({ type: 'socket.connected' }),
          fail: (message = 'connect ENOENT') =>
            socket.send({ type: 'socket.closed', error: new Error(message) }),
        };
        opened.push(socket);
        receive((command) => {
          const tokens = command.requests.map((r) => r.token);
          socket.writes.push(...tokens);
          socket.commands.push(tokens);
        });
        if (harness.autoConnect === true) socket.connect();
        if (harness.autoConnect === false) socket.fail();
        return () => {
          socket.stopped = true;
        };
      },
    ),
  };
  return harness;
}
