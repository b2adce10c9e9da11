/** A request the engine turns down: it becomes an `err` answer carrying `message`. */
export class Refusal extends Error {
  override readonly name = 'Refusal';
}

/** Throws a Refusal; typed `never` so it can end an expression (`x ?? refuse(…)`). */
export function refuse(message: string): never {
  throw new Refusal(message);
}

/** `parse(text)`, with a thrown error turned into the refusal `invalid <what> "<text>": <reason>`. */
export function parseOrRefuse<T>(what: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (error) {
    return refuse(`invalid ${what} "${text}": ${(error as Error).message}`);
  }
}
