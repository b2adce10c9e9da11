/** `overlayctl watch`: overlayd's events and the connection's state changes, until Ctrl-C. */
import type { InspectionEvent, Observer } from 'xstate';
import { BACKOFF_ATTEMPTS } from '../../../machines/backoff.js';
import { type ClientEvent, OverlaydClient } from '../../client/client.js';
import { encodeWire } from '../../protocol/index.js';
import type { GlobalOptions, Io } from '../connect.js';
import { styler, toJson } from '../output.js';
import { waitForSignal } from '../signals.js';
import { onStateReport, reportDetail, reportJson, type StateReport } from '../state-report.js';
import { withInspector } from './request.js';

/** After a reconnect cycle gives up, the next one starts this much later. */
const CYCLE_PAUSE_MS = 1000;
const WIDTH = 20;

const clock = (date: Date): string => date.toISOString().slice(11, 23);

export interface WatchOptions {
  /** Start the offline visualizer and feed it the connection's inspection events. */
  ui?: boolean;
}

/** The visualizer's inspect hook and its closer, when `--ui` asked for it. */
async function startUi(
  io: Io,
): Promise<{ inspect: (event: InspectionEvent) => void; close(): Promise<void> }> {
  const { startVisualizer } = await import('../../../visualizer/server.js');
  const visualizer = await startVisualizer({ title: 'overlayctl watch' });
  io.stderr.write(`visualizer: open ${visualizer.url}\n`);
  return visualizer;
}

/** Both observers in one, for when --inspect and --ui are given together. */
function bothObservers(
  a: Observer<InspectionEvent> | undefined,
  b: ((event: InspectionEvent) => void) | undefined,
): ((event: InspectionEvent) => void) | undefined {
  if (a === undefined) return b;
  if (b === undefined) return (event) => a.next?.(event);
  return (event) => {
    a.next?.(event);
    b(event);
  };
}

export async function watchCommand(
  global: GlobalOptions,
  io: Io,
  options: WatchOptions = {},
): Promise<void> {
  const out = io.stdout;
  const style = styler(out, io.env);
  const json = global.json === true;

  const printState = (report: StateReport) => {
    const time = new Date();
    if (json) {
      out.write(`${toJson({ time: time.toISOString(), ...reportJson(report) })}\n`);
      return;
    }
    const colour =
      report.state === 'connected'
        ? style.green
        : report.state === 'backoff' || report.state === 'failed'
          ? style.yellow
          : (text: string) => text;
    const line = `${style.dim(clock(time))}  state  ${colour(report.state.padEnd(WIDTH))}  ${reportDetail(report)}`;
    out.write(`${line.trimEnd()}\n`);
  };

  const printEvent = (event: ClientEvent) => {
    if (json) {
      const text =
        event.event === 'reconnected' ? toJson(event) : encodeWire('OverlaydEvent', event);
      out.write(`${text}\n`);
      return;
    }
    const { event: kind, ...fields } = event;
    const detail = Object.entries(fields)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ');
    out.write(
      `${style.dim(clock(new Date()))}  event  ${style.cyan(kind.padEnd(WIDTH))}  ${detail}\n`,
    );
  };

  const signal = waitForSignal();
  const ui = options.ui ? await startUi(io) : undefined;
  try {
    await withInspector(
      global,
      io,
      async (inspect) => {
        const attempts = global.attempts ?? BACKOFF_ATTEMPTS;
        const observer = bothObservers(inspect, ui?.inspect);
        const client = new OverlaydClient(global.socket, {
          reconnect: { attempts },
          ...(observer ? { inspect: observer } : {}),
        });
        let connectedOnce = false;
        let pause: NodeJS.Timeout | undefined;
        onStateReport(client.actor, (report) => {
          printState(report);
          if (report.state === 'connected') connectedOnce = true;
          // Once it has been up, watch never gives up: a failed cycle starts another.
          if (report.state === 'failed' && connectedOnce) {
            pause = setTimeout(() => client.open(attempts).catch(() => {}), CYCLE_PAUSE_MS);
          }
        });
        client.onEvent(printEvent);
        let interrupted = false;
        void signal.promise.then(() => {
          interrupted = true;
          clearTimeout(pause);
          void client.close();
        });
        try {
          await client.open(attempts);
          await signal.promise;
        } catch (error) {
          if (!interrupted) throw error;
        } finally {
          clearTimeout(pause);
          await client.close();
        }
      },
      { linger: false },
    );
  } finally {
    signal.cancel();
    await ui?.close();
  }
}
