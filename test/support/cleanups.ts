/** Cleanups a test registers as it opens servers and clients, run newest first after each test. */
import { afterEach } from 'vitest';

export function cleanupAfterEach(): Array<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}
