/**
 * Framing throughput: FrameDecoder fed ~8 MiB of wire bytes in fixed-size
 * chunks. Similar MB/s for 1 KiB and 64 KiB chunks of one 8 MiB body shows the
 * decoder is linear in its input (a decoder that re-concatenated its pending
 * bytes per chunk would be thousands of times slower at 1 KiB).
 *
 *   npm run build && node dist/bench/framing.js
 */
import { pathToFileURL } from 'node:url';
import { encodeLengthPrefixed, FrameDecoder, MAX_FRAME_BYTES } from '../src/transport/framing.js';

export interface FramingBenchFigure {
  scenario: string;
  chunkBytes: number;
  wireBytes: number;
  frames: number;
  /** Best of the runs, in milliseconds. */
  ms: number;
  /** Wire megabytes (10^6 bytes) decoded per second, best run. */
  mbPerSec: number;
}

function wireOf(bodies: Uint8Array[]): Buffer {
  return Buffer.concat(bodies.map(encodeLengthPrefixed));
}

function chunksOf(wire: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < wire.length; i += size) chunks.push(wire.subarray(i, i + size));
  return chunks;
}

function measure(
  scenario: string,
  wire: Buffer,
  chunkBytes: number,
  runs: number,
): FramingBenchFigure {
  const chunks = chunksOf(wire, chunkBytes);
  let frames = 0;
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < runs; run++) {
    let count = 0;
    const decoder = new FrameDecoder(() => {
      count++;
    });
    const start = process.hrtime.bigint();
    for (const c of chunks) decoder.push(c);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    decoder.end();
    frames = count;
    best = Math.min(best, ms);
  }
  return {
    scenario,
    chunkBytes,
    wireBytes: wire.length,
    frames,
    ms: Number(best.toFixed(3)),
    mbPerSec: Math.round(wire.length / 1e6 / (best / 1e3)),
  };
}

/** Run every scenario; `runs` repetitions each, best kept. */
export function benchFraming(runs = 5): FramingBenchFigure[] {
  const small = Buffer.from('{"frame":"request","id":12345,"request":{"op":"status"}}'.padEnd(100));
  const smallWire = wireOf(
    Array.from({ length: Math.floor(MAX_FRAME_BYTES / (small.length + 4)) }, () => small),
  );
  const bigWire = wireOf([new Uint8Array(MAX_FRAME_BYTES).fill(0x20)]);
  const figures: FramingBenchFigure[] = [];
  for (const chunk of [64 * 1024, 1024]) {
    figures.push(measure('100 B bodies', smallWire, chunk, runs));
    figures.push(measure('one 8 MiB body', bigWire, chunk, runs));
  }
  return figures;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of benchFraming()) {
    console.log(
      `${f.scenario.padEnd(16)} chunks ${String(f.chunkBytes).padStart(6)} B: ` +
        `${f.frames} frames, ${f.wireBytes} B in ${f.ms} ms = ${f.mbPerSec} MB/s`,
    );
  }
}
