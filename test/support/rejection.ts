/**
 * The error a promise rejects with; a promise that resolves fails the test,
 * naming its value. Given a class, it also asserts that the error is one
 * (`expect(error).toBeInstanceOf(type)`) and returns it typed as such.
 */
import { expect } from 'vitest';

// biome-ignore lint/suspicious/noExplicitAny: any constructor, abstract or not, whatever it takes
type ErrorClass<E> = abstract new (...args: any[]) => E;

export async function rejection(promise: Promise<unknown>): Promise<unknown>;
export async function rejection<E>(promise: Promise<unknown>, type: ErrorClass<E>): Promise<E>;
export async function rejection<E>(
  promise: Promise<unknown>,
  type?: ErrorClass<E>,
): Promise<unknown> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    if (type !== undefined) expect(error).toBeInstanceOf(type);
    return error;
  }
  throw new Error(`expected a rejection, but it resolved with ${String(value)}`);
}
