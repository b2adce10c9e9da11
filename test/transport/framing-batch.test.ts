/** Several frames in one buffer, for one write: what a batch of requests goes out as. */
import { describe, expect, it } from 'vitest';
import { FrameTooLargeError } from '../../src/errors.js';
import {
  encodeLengthPrefixed,
  encodeLengthPrefixedAll,
  FrameDecoder,
  MAX_FRAME_BYTES,
} from '../../src/transport/framing.js';

describe('encodeLengthPrefixedAll', () => {
  it('is the frames back to back, each behind its own prefix, and decodes to the same bodies', () => {
    const bodies = [Buffer.from('{"a":1}'), new Uint8Array(0), Buffer.from('x'.repeat(300))];
    const all = encodeLengthPrefixedAll(bodies);
    expect(Buffer.from(all)).toEqual(Buffer.concat(bodies.map(encodeLengthPrefixed)));
    const seen: string[] = [];
    new FrameDecoder((body) => seen.push(Buffer.from(body).toString())).push(all);
    expect(seen).toEqual(bodies.map((b) => Buffer.from(b).toString()));
  });

  it('one body is encoded as encodeLengthPrefixed does', () => {
    const body = Buffer.from('{"frame":"request"}');
    expect(Buffer.from(encodeLengthPrefixedAll([body]))).toEqual(
      Buffer.from(encodeLengthPrefixed(body)),
    );
  });

  it('refuses the whole batch, naming the size, when one body is over the cap', () => {
    const huge = new Uint8Array(MAX_FRAME_BYTES + 1);
    expect(() => encodeLengthPrefixedAll([Buffer.from('{}'), huge])).toThrow(FrameTooLargeError);
    expect(() => encodeLengthPrefixedAll([Buffer.from('{}'), huge])).toThrow(
      `frame too large: ${MAX_FRAME_BYTES + 1} bytes (max ${MAX_FRAME_BYTES})`,
    );
  });
});
