/**
 * What one received frame body means to the connection machine.
 *
 * A body that decodes becomes a response, an event or (a protocol breach) a
 * request. One that does not is sorted by what it can still be tied to,
 * because that decides who pays for it:
 *
 * - a response frame naming an id: that request fails (`socket.undecodable`);
 * - an event frame (a kind this client does not know, from a newer overlayd,
 *   or fields it cannot read): skipped, never failing a request
 *   (`socket.unknownEvent`). The Rust client would fail the waiting request;
 *   skipping keeps an older client working against a newer overlayd;
 * - anything else (empty, not JSON, no or unknown `frame` tag, no id): it
 *   cannot be tied to an id (`socket.unreadable`), so the machine fails the
 *   request that was waiting, as the Rust client does.
 *
 * The length prefix kept the stream in step in every case, so none of them
 * ends the connection.
 */
import type { ResponseRef, SocketEvent } from '../../machines/connection.types.js';
import { CodecError } from '../errors.js';
import { decodeFrame } from '../protocol/index.js';

const LINE_COLUMN = /at line (\d+) column (\d+)/;

/** The byte (1-based, like the parser's column) where a JSON parse error points. */
function byteAt(text: string, line: number, column: number): number {
  let start = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf('\n', start);
    if (next < 0) break;
    start = next + 1;
  }
  return Buffer.byteLength(text.slice(0, start)) + column;
}

/** A frame that could not be decoded, said in a few words, with the codec's own account after. */
function unreadable(what: string, codec: CodecError): SocketEvent {
  return {
    type: 'socket.unreadable',
    error: new CodecError(what, { cause: codec }),
  };
}

/** Sort an undecodable body by what it can still be tied to (see the header). */
function classify(body: Uint8Array, codec: CodecError): SocketEvent {
  if (body.length === 0) return unreadable('empty body', codec);
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    if (codec.message.includes('UTF-8')) return unreadable('body is not valid UTF-8', codec);
    const at = LINE_COLUMN.exec(codec.message);
    const where = at ? ` at byte ${byteAt(text, Number(at[1]), Number(at[2]))}` : '';
    return unreadable(`invalid JSON${where} (${codec.message})`, codec);
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    return unreadable(`not a JSON object (${codec.message})`, codec);
  }
  const tag = (root as { frame?: unknown }).frame;
  if (tag === 'event') return { type: 'socket.unknownEvent', error: codec };
  if (codec.id !== undefined) {
    if (tag === 'response')
      return { type: 'socket.undecodable', error: codec, id: String(codec.id) };
    if (tag === 'request') return { type: 'socket.request', id: String(codec.id) };
  }
  if (tag === undefined) return unreadable(`no frame tag (${codec.message})`, codec);
  return unreadable(codec.message, codec);
}

/**
 * What one received body is: a response (for the socket actor to batch with
 * the others of its read into one `socket.responses`), or the event to send.
 */
export function readBody(body: Uint8Array): ResponseRef | SocketEvent {
  let frame: ReturnType<typeof decodeFrame>;
  try {
    frame = decodeFrame(body);
  } catch (error) {
    const codec =
      error instanceof CodecError
        ? error
        : new CodecError(`frame could not be decoded: ${String(error)}`, { cause: error });
    return classify(body, codec);
  }
  switch (frame.frame) {
    case 'response':
      return { id: String(frame.id), response: frame.response };
    case 'request':
      return { type: 'socket.request', id: String(frame.id) };
    default: {
      const { frame: _tag, ...event } = frame;
      return { type: 'socket.event', event };
    }
  }
}
