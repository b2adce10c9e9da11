/** Sending one request and printing its answer: what every op subcommand and `call` do. */
import type { InspectionEvent, Observer } from 'xstate';
import { OverlayError } from '../../errors.js';
import type { OverlaydRequestInput } from '../../protocol/index.js';
import { type GlobalOptions, type Io, openClient } from '../connect.js';
import { inspectorNotice, startStatelyInspector } from '../inspect.js';
import { formatResponse, responseJson } from '../output.js';
import { waitForSignal } from '../signals.js';

/**
 * Runs `body` with the Stately inspector when `--inspect` is on. A one-shot
 * command then stays up until Ctrl-C, so that the page can be looked at.
 */
export async function withInspector<T>(
  global: GlobalOptions,
  io: Io,
  body: (inspect: Observer<InspectionEvent> | undefined) => Promise<T>,
  { linger }: { linger: boolean },
): Promise<T> {
  if (global.inspect !== true) return body(undefined);
  const inspection = await startStatelyInspector(global.inspectPort);
  io.stderr.write(`${inspectorNotice(inspection.url)}\n`);
  try {
    const result = await body(inspection.inspect);
    if (linger) {
      io.stderr.write('done; press Ctrl-C to stop the inspector relay\n');
      await waitForSignal().promise;
    }
    return result;
  } finally {
    await inspection.stop();
  }
}

/** Connect, send, print, close. An `err` answer is printed (with --json) and thrown. */
export async function sendRequest(
  request: OverlaydRequestInput,
  global: GlobalOptions,
  io: Io,
): Promise<void> {
  await withInspector(
    global,
    io,
    async (inspect) => {
      const client = await openClient(global, io, {
        attempts: global.attempts ?? 1,
        reconnect: false,
        ...(inspect ? { inspect } : {}),
      });
      try {
        const response = await client.request(request);
        if (global.json === true) io.stdout.write(`${responseJson(response)}\n`);
        else if (response.result !== 'err') io.stdout.write(`${formatResponse(response)}\n`);
        if (response.result === 'err') {
          throw new OverlayError(response.message, { op: request.op, endpoint: client.endpoint });
        }
      } finally {
        await client.close();
      }
    },
    { linger: true },
  );
}
