#!/usr/bin/env node
/** `npm start`: the demo (see demo.ts). */
import { Command, Option } from 'commander';
import type { InspectionEvent } from 'xstate';
import { parseU16 } from '../cli/args.js';
import { DEFAULT_INSPECT_PORT, inspectorNotice, startStatelyInspector } from '../cli/inspect.js';
import { waitForSignal } from '../cli/signals.js';
import { type DemoHandles, runDemo, summary } from './demo.js';

interface DemoFlags {
  follow?: boolean;
  inspect?: boolean;
  inspectPort: number;
  otel?: boolean;
  ui?: boolean;
}

const program = new Command('overlayd-demo')
  .description(
    'drive a simulated overlayd through a node’s life, kill it, and watch the client reconnect',
  )
  .option('--follow', 'keep running (nat_tick + status every 2 s) until Ctrl-C')
  .option('--inspect', 'send the client’s state to the Stately inspector (needs internet)')
  .addOption(
    new Option('--inspect-port <port>', 'port of the inspector relay')
      .argParser(parseU16)
      .default(DEFAULT_INSPECT_PORT),
  )
  .option(
    '--otel',
    'print OpenTelemetry spans and metrics with the SDK’s console exporters (needs the dev dependencies)',
  )
  .option(
    '--ui',
    "open the project's visualizer, with buttons to kill and restart overlayd (implies --follow)",
  )
  .parse();

const flags = program.opts<DemoFlags>();
const cleanups: Array<() => unknown> = [];
const observers: Array<(event: InspectionEvent) => void> = [];
let handles: DemoHandles | undefined;

if (flags.inspect) {
  const inspection = await startStatelyInspector(flags.inspectPort);
  process.stderr.write(`${inspectorNotice(inspection.url)}\n`);
  observers.push((event) => inspection.inspect.next?.(event));
  cleanups.push(() => inspection.stop());
}

if (flags.otel) {
  const { startConsoleOtel } = await import('./otel-console.js');
  cleanups.push(await startConsoleOtel());
}

if (flags.ui) {
  const { startVisualizer } = await import('../../visualizer/server.js');
  const notReady = async () => 'the demo is still starting';
  const { managerMachine } = await import('../../machines/manager.machine.js');
  const visualizer = await startVisualizer({
    title: 'overlayd demo',
    companions: [managerMachine],
    controls: {
      'kill overlayd': async () => (handles ? handles.overlayd.kill('SIGKILL') : notReady()),
      'restart overlayd': async () => {
        if (!handles) return notReady();
        if (handles.overlayd.running) return 'overlayd is running';
        return `started pid ${handles.overlayd.start()}`;
      },
      'send status': async () => (handles ? summary(await handles.manager.status()) : notReady()),
    },
  });
  process.stderr.write(`visualizer: open ${visualizer.url}\n`);
  observers.push(visualizer.inspect);
  cleanups.push(() => visualizer.close());
}

const follow = flags.follow === true || flags.ui === true;
const signal = waitForSignal();
if (!follow) {
  // Without --follow, Ctrl-C abandons the run: stop overlayd and leave.
  void signal.promise.then(async () => {
    await handles?.overlayd.kill('SIGKILL');
    process.exit(130);
  });
}
try {
  await runDemo({
    out: process.stdout,
    ...(follow ? { follow: signal.promise } : {}),
    ...(observers.length > 0
      ? {
          inspect: (event: InspectionEvent) => {
            for (const observe of observers) observe(event);
          },
        }
      : {}),
    onReady: (ready) => {
      handles = ready;
    },
  });
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  signal.cancel();
  for (const cleanup of cleanups) await cleanup();
}
