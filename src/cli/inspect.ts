/**
 * `--inspect`: the Stately inspector, through @statelyai/inspect's local
 * relay. The relay serves a page on http://localhost:<port> that embeds
 * https://stately.ai/inspect (so the page needs internet access) and forwards
 * the inspection events our client sends it over a WebSocket.
 */
import { createServer } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import type { InspectionEvent, Observer } from 'xstate';

export const DEFAULT_INSPECT_PORT = 8080;

export interface StatelyInspection {
  /** Pass as the client's `inspect` option. */
  inspect: Observer<InspectionEvent>;
  /** The page to open. */
  url: string;
  stop(): void;
}

/** Fails with a clear message when the port is taken (the relay itself would crash the process). */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error) =>
      reject(
        new Error(`cannot start the Stately inspector relay on port ${port}: ${error.message}`),
      ),
    );
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

export async function startStatelyInspector(
  port: number = DEFAULT_INSPECT_PORT,
): Promise<StatelyInspection> {
  await assertPortFree(port);
  const server = createInspectorServer({ port, autoOpen: false });
  const inspector = createWebSocketInspector({ url: `ws://localhost:${port}` });
  return {
    inspect: inspector.inspect,
    url: `http://localhost:${port}`,
    stop() {
      inspector.stop();
      server.stop();
    },
  };
}

/** The lines to show the user (on stderr). */
export function inspectorNotice(url: string): string {
  return [
    `Stately inspector relay: open ${url}`,
    '  (the page embeds https://stately.ai/inspect and needs internet access;',
    '   the relay listens on every interface of this host)',
  ].join('\n');
}
