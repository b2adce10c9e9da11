/** `npm start -- --otel`: spans printed as they end, metrics when it stops. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startConsoleOtel } from '../../src/demo/otel-console.js';
import { cleanupAfterEach } from '../support/cleanups.js';
import { connectedPair } from '../support/connected-pair.js';

const cleanups = cleanupAfterEach();
afterEach(() => {
  vi.restoreAllMocks();
});

describe('the demo’s console OpenTelemetry', () => {
  it('prints a span per request and, once stopped, the call-duration histogram', async () => {
    const printed: unknown[] = [];
    vi.spyOn(console, 'dir').mockImplementation((item) => {
      printed.push(item);
    });
    vi.spyOn(console, 'log').mockImplementation((item) => {
      printed.push(item);
    });
    const stop = await startConsoleOtel();
    const { client } = await connectedPair(cleanups);
    await client.call({ op: 'status' });
    expect(printed).toContainEqual(
      expect.objectContaining({
        name: 'status',
        attributes: expect.objectContaining({ 'rpc.method': 'status' }),
      }),
    );
    await stop();
    const metricNames = JSON.stringify(printed);
    expect(metricNames).toContain('rpc.client.call.duration');
  });
});
