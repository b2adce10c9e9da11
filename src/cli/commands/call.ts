/** `overlayctl call '<json>'`: any request, written as its wire JSON. */
import { CodecError } from '../../errors.js';
import { decodeWire, type OverlaydRequest } from '../../protocol/index.js';
import { UsageError } from '../exit-codes.js';

/** The request in `text`, exactly (u64s beyond 2^53 kept); a usage error naming what is wrong. */
export function parseRequestJson(text: string): OverlaydRequest {
  try {
    return decodeWire('OverlaydRequest', text);
  } catch (error) {
    if (error instanceof CodecError) {
      throw new UsageError(`argument <request> is not a valid request: ${error.message}`);
    }
    throw error;
  }
}
