/** The reference vectors vendored in this folder (see README.md here), each file parsed once. */
import { readFileSync } from 'node:fs';

const load = <T>(file: string): T =>
  JSON.parse(readFileSync(new URL(file, import.meta.url), 'utf8')) as T;

export interface ValidVector {
  name: string;
  type: string;
  json: string;
}
export interface InvalidVector {
  name: string;
  json: string;
  why: string;
  serde_error: string;
}
export interface LenientVector {
  name: string;
  json: string;
  why: string;
  reserialized: string;
}
/** One fact of framing.json: exact wire bytes, or what the reference reports for an input. */
export interface FramingFact {
  name: string;
  body?: string;
  wire_hex?: string;
  body_len?: number;
  result?: string;
  input_hex?: string;
  recv?: 'Ok' | 'Closed' | 'Io' | 'FrameTooLarge' | 'Codec';
  detail?: string;
}
export interface FramingVectors {
  facts: FramingFact[];
  max_frame_bytes: number;
  protocol_version_const: number;
}

export const valid = load<ValidVector[]>('valid.json');
export const invalid = load<InvalidVector[]>('invalid.json');
export const lenient = load<LenientVector[]>('lenient.json');
export const framing = load<FramingVectors>('framing.json');
