/**
 * How the socket actor reads one frame body: what each undecodable body can
 * still be tied to, and the words its error uses.
 */
import { describe, expect, it } from 'vitest';
import { CodecError } from '../../src/errors.js';
import { readBody } from '../../src/transport/frame-events.js';

const read = (text: string | Uint8Array) =>
  readBody(typeof text === 'string' ? Buffer.from(text) : text);

function errorOf(event: ReturnType<typeof readBody>): Error {
  if (!('type' in event) || !('error' in event)) throw new Error('no error in this event');
  return event.error;
}

describe('readBody', () => {
  it('a response is handed back for batching, with its id as a decimal string', () => {
    expect(
      read('{"frame":"response","id":18446744073709551615,"response":{"result":"ok"}}'),
    ).toEqual({
      id: '18446744073709551615',
      response: { result: 'ok' },
    });
  });

  it('events and request frames become their events', () => {
    expect(
      read('{"frame":"event","event":"peer_health_changed","pubkey":"k","healthy":true}'),
    ).toEqual({
      type: 'socket.event',
      event: { event: 'peer_health_changed', pubkey: 'k', healthy: true },
    });
    expect(read('{"frame":"request","id":4,"request":{"op":"status"}}')).toEqual({
      type: 'socket.request',
      id: '4',
    });
  });

  it.each([
    ['', /^empty body$/],
    ['{{{"}', /^invalid JSON at byte 2 \(key must be a string at line 1 column 2\)$/],
    ['{\n  "frame": x}', /^invalid JSON at byte 14 /],
    ['[1]', /^not a JSON object \(/],
    ['{"id":3}', /^no frame tag \(missing field frame/],
    ['{"frame":"weird","id":3}', /^unknown variant `weird` for frame/],
    ['{"frame":"response","id":"x"}', /invalid value for id/],
  ])('%j cannot be tied to an id: unreadable, saying %s', (body, words) => {
    const event = read(body);
    expect(event).toMatchObject({ type: 'socket.unreadable' });
    const error = errorOf(event);
    expect(error).toBeInstanceOf(CodecError);
    expect(error.message).toMatch(words);
    expect(error.cause).toBeInstanceOf(CodecError);
  });

  it('a body that is not UTF-8 is unreadable, saying so', () => {
    const event = read(Uint8Array.of(0xff, 0xfe, 0xfd));
    expect(event).toMatchObject({ type: 'socket.unreadable' });
    expect(errorOf(event).message).toBe('body is not valid UTF-8');
  });

  it('an invalid response naming an id is tied to that id', () => {
    const event = read('{"frame":"response","id":7,"response":{"result":"bogus"}}');
    expect(event).toMatchObject({ type: 'socket.undecodable', id: '7' });
    expect(errorOf(event).message).toMatch(/unknown variant `bogus` for response.result/);
  });

  it('an invalid request frame naming an id is still a request frame from the server', () => {
    expect(read('{"frame":"request","id":9,"request":{"op":"nope"}}')).toEqual({
      type: 'socket.request',
      id: '9',
    });
  });

  it('an event this client cannot decode (unknown kind, or unreadable fields) is an unknown event', () => {
    for (const body of [
      '{"frame":"event","event":"mesh_rebalanced","epoch":7}',
      '{"frame":"event","event":"peer_health_changed","pubkey":3}',
    ]) {
      const event = read(body);
      expect(event).toMatchObject({ type: 'socket.unknownEvent' });
      expect(errorOf(event)).toBeInstanceOf(CodecError);
    }
  });
});
