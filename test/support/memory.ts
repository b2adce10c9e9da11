/**
 * Memory readings a test can compare. V8 frees array buffers on background
 * threads after a collection, so a reading taken right after gc() may still
 * drop by a freed buffer's size while a test measures; readings here wait
 * until that work is done.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** A full collection, callable without starting node with --expose-gc. */
export const gc = runInNewContext('gc') as () => void;

/** Heap in use after three full collections. */
export function settledHeap(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Bytes held by array buffers once collection and the background freeing it
 * starts have finished: the same reading twice, 10 ms apart, after a gc each.
 */
export async function settledArrayBuffers(): Promise<number> {
  let last = Number.NaN;
  for (let i = 0; i < 50; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = process.memoryUsage().arrayBuffers;
    if (now === last) return now;
    last = now;
  }
  throw new Error(`array buffer memory did not settle: last reading ${last} bytes`);
}
