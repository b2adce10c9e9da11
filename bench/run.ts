/**
 * `npm run bench`: every benchmark, one table. Each figure is measured in the
 * same run as its baseline, rounds interleaved, medians reported, and given
 * both as an absolute value and as a ratio to the baseline.
 *
 *   npm run bench            # build, then node dist/bench/run.js
 *   node dist/bench/run.js   # without rebuilding
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { benchBreakdown } from './breakdown.js';
import { benchConnect } from './connect.js';
import { runDecodeBench } from './decode.js';
import { benchMemoryInChild } from './memory.js';
import { benchObservability, OBSERVED_LABELS, type Paired } from './observability.js';
import {
  benchRoundTrips,
  benchTurns,
  type RoundTripFigures,
  type Setup,
  SLOW,
  SUBJECT_LABELS,
  startServer,
  type TurnFigures,
  tempEndpoint,
} from './roundtrip.js';
import { formatBytes, formatPercent, formatRate, formatRatio, formatUs } from './stats.js';

interface Row {
  benchmark: string;
  subject: string;
  result: string;
  baseline: string;
  ratio: string;
  target: string;
}

const rows: Row[] = [];

function row(r: Partial<Row> & Pick<Row, 'benchmark' | 'subject' | 'result'>): void {
  rows.push({ baseline: '', ratio: '', target: '', ...r });
}

/** "≤ 1.15× ✓" or "≤ 1.15× ✗". */
function target(text: string, met: boolean): string {
  return `${text} ${met ? '✓' : '✗'}`;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

async function roundTrips(
  setup: Setup,
  withTurns = true,
): Promise<{ figures: RoundTripFigures[]; turns: TurnFigures[] }> {
  const { endpoint, cleanup } = tempEndpoint('echo.sock');
  const server = await startServer(setup, endpoint);
  try {
    return {
      figures: await benchRoundTrips(endpoint),
      turns: withTurns ? await benchTurns(endpoint) : [],
    };
  } finally {
    await server.close();
    cleanup();
  }
}

/**
 * The targets of one setup, each against the minimal XState client of the same run: a chart that
 * decides every request is what OverlaydClient is, so it is the baseline the client answers to.
 */
interface Targets {
  /** Sequential: OverlaydClient's median at most this × the minimal XState client's. */
  sequential?: number;
  /** 64 concurrent callers: OverlaydClient's rate at least this × the minimal XState client's. */
  concurrent?: number;
}

const WHERE: Record<Setup, string> = {
  separate: 'fast server in another process',
  overlayd: 'simulated overlayd in another process',
  same: 'fast server in this process',
};

function roundTripRows(
  setup: Setup,
  { figures, turns }: { figures: RoundTripFigures[]; turns: TurnFigures[] },
  goals: Targets,
): void {
  const floor = figures.find((f) => f.subject === 'raw')!;
  const xstate = figures.find((f) => f.subject === 'xstate')!;
  const where = WHERE[setup];
  for (const f of figures) {
    const ratio = f.medianUs / floor.medianUs;
    const isFloor = f.subject === 'raw';
    const vsXState = f.medianUs / xstate.medianUs;
    const bound = f.subject === 'overlayd' ? goals.sequential : undefined;
    row({
      benchmark: `Sequential round trip, ${where}`,
      subject: SUBJECT_LABELS[f.subject],
      result: `median ${formatUs(f.medianUs)} · p99 ${formatUs(f.p99Us)} · ${formatPercent(f.slowShare)} > ${SLOW}× median · ${formatRate(f.sequentialRps)}`,
      baseline: isFloor ? '(floor)' : `floor median ${formatUs(floor.medianUs)}`,
      ratio: formatRatio(ratio),
      target:
        bound === undefined
          ? ''
          : target(`${formatRatio(vsXState)} XState ≤ ${bound.toFixed(2)}×`, vsXState <= bound),
    });
  }
  for (const f of figures) {
    const isFloor = f.subject === 'raw';
    const ratio = f.concurrentRps / floor.concurrentRps;
    const vsXState = f.concurrentRps / xstate.concurrentRps;
    row({
      benchmark: `64 concurrent callers, ${where}`,
      subject: isFloor ? `${SUBJECT_LABELS.raw}, 64 pipelined` : SUBJECT_LABELS[f.subject],
      result: formatRate(f.concurrentRps),
      baseline: isFloor ? '(floor)' : `floor ${formatRate(floor.concurrentRps)}`,
      ratio: formatRatio(ratio),
      target:
        f.subject === 'overlayd' && goals.concurrent !== undefined
          ? target(
              `${formatRatio(vsXState)} XState ≥ ${goals.concurrent.toFixed(2)}×`,
              vsXState >= goals.concurrent,
            )
          : '',
    });
  }
  const floorTurn = turns.find((t) => t.subject === 'raw');
  for (const t of turns) {
    const isFloor = t.subject === 'raw';
    row({
      benchmark: `Client's turn · time away per round trip, ${where}`,
      subject: SUBJECT_LABELS[t.subject],
      result: `turn ${formatUs(t.turnUs)} · away ${formatUs(t.awayUs)}`,
      baseline:
        isFloor || floorTurn === undefined
          ? '(floor)'
          : `floor turn ${formatUs(floorTurn.turnUs)} · away ${formatUs(floorTurn.awayUs)}`,
      ratio:
        isFloor || floorTurn === undefined
          ? ''
          : formatRatio((t.turnUs + t.awayUs) / (floorTurn.turnUs + floorTurn.awayUs)),
    });
  }
}

/** "0.99× (rounds 0.97–1.02×)": a paired ratio and its rounds' spread. */
function pairedRatio(p: Paired): string {
  return `${formatRatio(p.ratio)} (rounds ${formatRatio(p.low).replace('×', '')}–${formatRatio(p.high)})`;
}

/** What listening on the diagnostics channels costs a sequential round trip (paired, one process). */
async function observabilityRows(): Promise<void> {
  const o = await benchObservability();
  const benchmark = 'Sequential round trip, diagnostics channels (fast server in another process)';
  const before = o.medianUs.before;
  const quiet = o.medianUs.quiet;
  row({
    benchmark,
    subject: `${OBSERVED_LABELS.before}, ${o.baseline.slice(0, 9)}`,
    result: `median ${formatUs(before)}`,
    baseline: '(paired baseline)',
  });
  row({
    benchmark,
    subject: OBSERVED_LABELS.quiet,
    result: `median ${formatUs(quiet)}`,
    baseline: `before the channels ${formatUs(before)}`,
    ratio: pairedRatio(o.quietVsBefore),
    // Indistinguishable: the change is within the rounds' own spread around 1.
    target: target(
      'within noise (1 within the rounds)',
      o.quietVsBefore.low <= 1 && o.quietVsBefore.high >= 1,
    ),
  });
  row({
    benchmark,
    subject: OBSERVED_LABELS.noop,
    result: `median ${formatUs(o.medianUs.noop)}`,
    baseline: `no subscriber ${formatUs(quiet)}`,
    ratio: pairedRatio(o.noopVsQuiet),
    target: target('≤ 1.10×', o.noopVsQuiet.ratio <= 1.1),
  });
  row({
    benchmark,
    subject: OBSERVED_LABELS.otel,
    result: `median ${formatUs(o.medianUs.otel)}`,
    baseline: `no subscriber ${formatUs(quiet)}`,
    ratio: pairedRatio(o.otelVsQuiet),
    target: target('≤ 1.50×', o.otelVsQuiet.ratio <= 1.5),
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = `${availableParallelism()} vCPU · ${cpuModel()} · Node ${process.version}`;
  const loadBefore = load();

  // The round-trip targets are checked against the fast server in another process, the setup
  // closest to a real overlayd: it answers about as fast, and across processes.
  const separate = await roundTrips('separate');
  roundTripRows('separate', separate, { sequential: 1.15, concurrent: 0.8 });
  await observabilityRows();
  roundTripRows('overlayd', await roundTrips('overlayd', false), {});
  const same = await roundTrips('same');
  roundTripRows('same', same, {});

  // The client's own cost, same process: what OverlaydClient adds to the floor, then its pieces.
  const sameFloor = same.figures.find((f) => f.subject === 'raw')!;
  const sameClient = same.figures.find((f) => f.subject === 'overlayd')!;
  row({
    benchmark: 'Client cost per request (same process)',
    subject: 'OverlaydClient median − floor median',
    result: formatUs(sameClient.medianUs - sameFloor.medianUs),
    baseline: `floor ${formatUs(sameFloor.medianUs)}`,
    ratio: formatRatio((sameClient.medianUs - sameFloor.medianUs) / sameFloor.medianUs),
  });
  // The same pieces without the chart: what is left of the cost is the chart's.
  const sameChartless = same.figures.find((f) => f.subject === 'chartless')!;
  const clientCost = sameClient.medianUs - sameFloor.medianUs;
  row({
    benchmark: 'Client cost per request (same process)',
    subject: "of which the chart's: OverlaydClient median − chartless median",
    result: formatUs(sameClient.medianUs - sameChartless.medianUs),
    baseline: `client cost ${formatUs(clientCost)}`,
    ratio: formatRatio((sameClient.medianUs - sameChartless.medianUs) / clientCost),
  });
  for (const piece of await benchBreakdown()) {
    const format = piece.unit === 'B' ? formatBytes : formatUs;
    row({
      benchmark: 'Client cost per request (same process)',
      subject: piece.piece,
      result: format(piece.us),
      baseline: piece.baseline ? `${piece.baseline.name}: ${format(piece.baseline.us)}` : '',
      ratio: piece.baseline ? formatRatio(piece.us / piece.baseline.us) : '',
      target:
        piece.maxRatio === undefined || piece.baseline === undefined
          ? ''
          : target(
              `${formatRatio(piece.us / piece.baseline.us)} XState ≤ ${piece.maxRatio.toFixed(2)}×`,
              piece.us <= piece.maxRatio * piece.baseline.us,
            ),
    });
  }

  for (const d of await runDecodeBench(9)) {
    const big = d.bodyBytes > 1024 * 1024;
    // The target is for decodeFrame; the strict path alone is the fallback's cost, shown for scale.
    const targeted = big && !d.scenario.includes('strict');
    row({
      benchmark: big ? 'Decode + validate, ~8 MiB status frame' : 'Decode + validate, small frame',
      subject: `${d.scenario} (${formatBytes(d.bodyBytes)})`,
      result: big
        ? formatUs(d.decodeUs)
        : `${formatUs(d.decodeUs)} · ${formatRate(1e6 / d.decodeUs).replace('/s', ' ops/s')}`,
      baseline: `JSON.parse ${formatUs(d.jsonParseUs)}`,
      ratio: formatRatio(d.ratio),
      target: targeted ? target('≤ 2.00×', d.ratio <= 2) : '',
    });
  }

  for (const c of await benchConnect()) {
    const over = c.clientMs - c.idealMs;
    const long = c.attempts > 1;
    row({
      benchmark: 'Connect to a dead socket',
      subject: `OverlaydClient, ${c.attempts} attempt${long ? 's' : ''}`,
      result: `${c.clientMs.toFixed(long ? 1 : 2)} ms (+${over.toFixed(long ? 1 : 2)} ms over ideal)`,
      baseline: long
        ? `ideal ${c.idealMs} ms · net loop ${c.rawMs.toFixed(1)} ms`
        : `net attempt ${c.rawMs.toFixed(2)} ms`,
      ratio: formatRatio(c.clientMs / (long ? c.idealMs : c.rawMs)),
      target: long ? target('≤ +20 ms', over <= 20) : target('≤ 2 ms', c.clientMs <= 2),
    });
  }

  const mem = await benchMemoryInChild();
  row({
    benchmark: `Heap per idle connected client (N=${mem.clients})`,
    subject: 'OverlaydClient',
    result: formatBytes(mem.idle.overlayd),
    baseline: `minimal ${formatBytes(mem.idle.minimal)} · raw socket ${formatBytes(mem.idle.raw)}`,
    ratio: formatRatio(mem.idle.overlayd / mem.idle.minimal),
  });
  row({
    benchmark: `Heap per ${mem.queued.toLocaleString('en')} unanswered requests`,
    subject: 'OverlaydClient (a window of 16 written, the rest queued)',
    result: formatBytes(mem.perQueued.overlayd),
    baseline: `minimal (all written) ${formatBytes(mem.perQueued.minimal)}`,
    ratio: formatRatio(mem.perQueued.overlayd / mem.perQueued.minimal),
  });

  const header: Row = {
    benchmark: 'Benchmark',
    subject: 'Subject',
    result: 'Result (median of rounds)',
    baseline: 'Baseline (same run)',
    ratio: 'Ratio',
    target: 'Target',
  };
  const cols = Object.keys(header) as Array<keyof Row>;
  const widths = cols.map((c) => Math.max(...[header, ...rows].map((r) => r[c].length)));
  const line = (r: Row) => `| ${cols.map((c, i) => r[c].padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`Machine: ${machine}`);
  console.log(
    `Load average (1/5/15 min): ${loadBefore} at start, ${load()} at end; ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s\n`,
  );
  console.log(line(header));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const r of rows) console.log(line(r));
}

await main();
