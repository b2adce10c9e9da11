/** The reference vectors (../shared/vectors beside the repo), loaded once. */
import { readFileSync } from 'node:fs';

const dir = new URL('../../../shared/vectors/', import.meta.url);

const load = <T>(file: string): T[] => JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as T[];

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

export const valid = load<ValidVector>('valid.json');
export const invalid = load<InvalidVector>('invalid.json');
export const lenient = load<LenientVector>('lenient.json');
