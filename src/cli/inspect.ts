/**
 * `--inspect`: the Stately inspector, fed through our local relay
 * (`stately-relay.ts`). The relay's page embeds https://stately.ai/inspect,
 * so that page needs internet access; the relay itself listens on 127.0.0.1
 * only and answers only URLs carrying its token.
 */
import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import { startStatelyRelay } from './stately-relay.js';

export const DEFAULT_INSPECT_PORT = 8080;

export interface StatelyInspection {
  /** Pass as the client's `inspect` option. */
  inspect: Observer<InspectionEvent>;
  /** The page to open (it carries the relay's token). */
  url: string;
  stop(): Promise<void>;
}

export async function startStatelyInspector(
  port: number = DEFAULT_INSPECT_PORT,
): Promise<StatelyInspection> {
  const relay = await startStatelyRelay({ port });
  // @statelyai/inspect turns XState's inspection events into the inspector's messages.
  const inspector = createWebSocketInspector({ url: relay.publishUrl });
  return {
    inspect: inspector.inspect,
    url: relay.url,
    async stop() {
      inspector.stop();
      await relay.close();
    },
  };
}

/** The lines to show the user (on stderr). */
export function inspectorNotice(url: string): string {
  return [
    `Stately inspector relay: open ${url}`,
    '  (the page embeds https://stately.ai/inspect and needs internet access;',
    '   the relay listens on 127.0.0.1 only, and the link carries its token)',
  ].join('\n');
}
