/** A scripted server and an OverlaydClient connected to it, both closed by the test's cleanups. */
import { type ClientOptions, OverlaydClient } from '../../src/client/client.js';
import { answer, type Script, startScriptedServer } from './scripted-server.js';

export async function connectedPair(
  cleanups: Array<() => Promise<void>>,
  script: Script = answer,
  options: ClientOptions = {},
) {
  const server = await startScriptedServer(script);
  cleanups.push(() => server.dispose());
  const client = await OverlaydClient.connect(server.endpoint, options);
  cleanups.push(() => client.close());
  return { server, client };
}
