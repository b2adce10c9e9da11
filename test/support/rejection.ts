/** The error a promise rejects with; a promise that resolves fails the test, naming its value. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`expected a rejection, but it resolved with ${String(value)}`);
}
