/**
 * Decode cost against bare JSON.parse: an ~8 MiB `status` response (tens of
 * thousands of peers) and small frames. The target is decode + validate of
 * the big frame within 2× JSON.parse of the same text.
 *
 *   npm run build && node dist/bench/decode.js
 */
import { pathToFileURL } from 'node:url';
import { decodePaths } from '../src/protocol/codec.js';
import {
  decodeFrame,
  encodeFrame,
  encodeFrameToString,
  MAX_FRAME_BYTES,
  type OverlaydFrameInput,
  type PeerStatusInput,
} from '../src/protocol/index.js';

export interface DecodeBenchRow {
  scenario: string;
  bodyBytes: number;
  /** Median time of decodeFrame, in microseconds. */
  decodeUs: number;
  /** Median time of the JSON.parse baseline on the same input, in microseconds. */
  jsonParseUs: number;
  /** decodeUs / jsonParseUs. */
  ratio: number;
  decodeOpsPerSec: number;
  jsonParseOpsPerSec: number;
}

/** A status response whose body is just under `maxBytes`. */
export function bigStatusFrame(maxBytes = MAX_FRAME_BYTES - 1024): OverlaydFrameInput {
  const peers: PeerStatusInput[] = [];
  let size = 200;
  for (let i = 0; ; i++) {
    const peer: PeerStatusInput = {
      public_key: Buffer.from(`peer-${i}`.padEnd(32, '.')).toString('base64'),
      endpoint: `198.51.${(i >> 8) & 0xff}.${i & 0xff}:51820`,
      allowed_ips: `10.200.${(i >> 8) & 0xff}.${i & 0xff}/32,fd00:200::${i.toString(16)}/128`,
      last_handshake_unix_secs: i % 7 === 0 ? 0 : 1_700_000_000 + i,
    };
    size += JSON.stringify(peer).length + 1;
    if (size > maxBytes) break;
    peers.push(peer);
  }
  return {
    frame: 'response',
    id: 42,
    response: {
      result: 'status',
      interface: 'zl-overlay0',
      node_ip: '10.200.0.1',
      public_key: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
      overlay_cidr: '10.200.0.0/16',
      peer_count: peers.length,
      service_count: 0,
      peers,
    },
  };
}

const SMALL_FRAMES: OverlaydFrameInput[] = [
  { frame: 'response', id: 7, response: { result: 'ip', ip: '10.200.0.2' } },
  {
    frame: 'request',
    id: 8,
    request: {
      op: 'add_peer',
      public_key: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
      endpoint: '1.2.3.4:51820',
      allowed_ips: '10.200.0.2/32',
      persistent_keepalive_secs: 25,
    },
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** Median over `runs` of the time per call (µs), each run timing `batch` calls. */
function timeUs(fn: () => unknown, runs: number, batch: number): number {
  const samples: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e3 / batch);
  }
  return median(samples);
}

function row(
  scenario: string,
  bodyBytes: number,
  decode: () => unknown,
  baseline: () => unknown,
  runs: number,
  batch: number,
): DecodeBenchRow {
  // Warm both up, then interleave so drift hits both alike.
  timeUs(decode, 3, batch);
  timeUs(baseline, 3, batch);
  const d: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    d.push(timeUs(decode, 1, batch));
    b.push(timeUs(baseline, 1, batch));
  }
  const decodeUs = median(d);
  const jsonParseUs = median(b);
  return {
    scenario,
    bodyBytes,
    decodeUs: Number(decodeUs.toFixed(3)),
    jsonParseUs: Number(jsonParseUs.toFixed(3)),
    ratio: Number((decodeUs / jsonParseUs).toFixed(2)),
    decodeOpsPerSec: Math.round(1e6 / decodeUs),
    jsonParseOpsPerSec: Math.round(1e6 / jsonParseUs),
  };
}

/** Every scenario; medians of `runs` runs. */
export async function runDecodeBench(runs = 15): Promise<DecodeBenchRow[]> {
  const utf8 = new TextDecoder();
  const rows: DecodeBenchRow[] = [];

  const big = bigStatusFrame();
  const bigText = encodeFrameToString(big);
  const bigBytes = encodeFrame(big);
  const peers =
    big.frame === 'response' && big.response.result === 'status' ? big.response.peers : [];
  const scenario = `status, ${peers?.length} peers`;
  rows.push(
    row(
      `${scenario}, from string`,
      bigBytes.byteLength,
      () => decodeFrame(bigText),
      () => JSON.parse(bigText),
      runs,
      1,
    ),
    row(
      `${scenario}, from bytes`,
      bigBytes.byteLength,
      () => decodeFrame(bigBytes),
      () => JSON.parse(utf8.decode(bigBytes)),
      runs,
      1,
    ),
    // What a body costs when the fast path declines (e.g. a float in an unknown field).
    row(
      `${scenario}, strict path only`,
      bigBytes.byteLength,
      () => decodePaths.strict('OverlaydFrame', bigText),
      () => JSON.parse(bigText),
      Math.min(runs, 7),
      1,
    ),
  );

  for (const frame of SMALL_FRAMES) {
    const text = encodeFrameToString(frame);
    const bytes = encodeFrame(frame);
    const name = frame.frame === 'request' ? frame.request.op : 'ip response';
    rows.push(
      row(
        `${name}, from string`,
        bytes.byteLength,
        () => decodeFrame(text),
        () => JSON.parse(text),
        runs,
        20_000,
      ),
      row(
        `${name}, from bytes`,
        bytes.byteLength,
        () => decodeFrame(bytes),
        () => JSON.parse(utf8.decode(bytes)),
        runs,
        20_000,
      ),
    );
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const time = (us: number) =>
    us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(3)} µs`;
  for (const r of await runDecodeBench()) {
    const rate =
      r.decodeUs < 1000 ? `  (${r.decodeOpsPerSec} vs ${r.jsonParseOpsPerSec} ops/s)` : '';
    console.log(
      `${r.scenario.padEnd(36)} ${String(r.bodyBytes).padStart(8)} B  decodeFrame ${time(r.decodeUs).padStart(10)}  JSON.parse ${time(r.jsonParseUs).padStart(10)}  ratio ${r.ratio.toFixed(2)}${rate}`,
    );
  }
}
