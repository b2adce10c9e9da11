/**
 * Small statistics and timing helpers shared by the benchmarks: medians and
 * percentiles of samples, and a batch timer for micro-benchmarks.
 */

/** The value at quantile `q` (0..1) of `values`, nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function p99(values: readonly number[]): number {
  return quantile(values, 0.99);
}

/** The share (0..1) of `values` above `bound`; NaN for none. */
export function shareAbove(values: readonly number[], bound: number): number {
  if (values.length === 0) return Number.NaN;
  let above = 0;
  for (const v of values) if (v > bound) above++;
  return above / values.length;
}

/** Time of one call of `fn` in µs: the mean over a batch of `batch` calls. */
export function batchUs(fn: () => unknown, batch: number): number {
  const start = performance.now();
  for (let i = 0; i < batch; i++) fn();
  return ((performance.now() - start) * 1e3) / batch;
}

/**
 * Median over `rounds` of the time per call (µs) of each function, the
 * functions interleaved within each round so machine noise hits all alike.
 */
export function interleavedUs(
  fns: ReadonlyArray<() => unknown>,
  rounds: number,
  batch: number,
): number[] {
  for (const fn of fns) batchUs(fn, batch);
  const samples = fns.map((): number[] => []);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => {
      samples[i]!.push(batchUs(fn, batch));
    });
  }
  return samples.map(median);
}

/** A duration in µs, with a unit that keeps three significant figures or so. */
export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return 'n/a';
  if (us >= 10_000) return `${(us / 1000).toFixed(0)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  if (us >= 100) return `${us.toFixed(0)} µs`;
  if (us >= 10) return `${us.toFixed(1)} µs`;
  return `${us.toFixed(2)} µs`;
}

/** A rate, e.g. requests per second, as 12.3k/s. */
export function formatRate(perSec: number): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)}M/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)}k/s`;
  return `${perSec.toFixed(0)}/s`;
}

export function formatBytes(bytes: number): string {
  if (Math.abs(bytes) >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  if (Math.abs(bytes) >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes.toFixed(0)} B`;
}

export function formatPercent(share: number): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(1)} %` : 'n/a';
}

export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : 'n/a';
}

/** Resolves after the current macrotask (lets sockets flush, timers fire). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
