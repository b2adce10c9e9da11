/** The connection's state as one word, from the machine's (nested) state value. */
import type { StateValue } from 'xstate';

export type ClientState =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'awaitingResponse'
  | 'backoff'
  | 'failed'
  | 'closed';

export function stateName(value: StateValue): ClientState {
  if (typeof value === 'string') return value as ClientState;
  const session = (value as { session?: StateValue }).session;
  return (typeof session === 'string' ? session : 'connecting') as ClientState;
}

/** Whether the connection can carry requests now; see `OverlaydClient.onConnectionStatus`. */
export type ConnectionStatus = 'up' | 'down' | 'lost';

/** The status a state means; a closed client has none. */
export function connectionStatus(state: ClientState): ConnectionStatus | undefined {
  switch (state) {
    case 'connected':
    case 'awaitingResponse':
      return 'up';
    case 'failed':
      return 'lost';
    case 'closed':
      return undefined;
    default:
      return 'down';
  }
}
