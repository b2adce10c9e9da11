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
