import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ClosedError,
  CodecError,
  FrameTooLargeError,
  IoError,
  OtherError,
  type OverlaydError,
} from '../../src/errors.js';
import { FramedConnection } from '../../src/transport/framed-connection.js';
import { encodeLengthPrefixed, MAX_FRAME_BYTES } from '../../src/transport/framing.js';

let dir: string;
let server: Server;
const sockets: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ovl-'));
  server = createServer();
  await new Promise<void>((resolve) => server.listen(join(dir, 's.sock'), resolve));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** A connected pair of real Unix sockets: [ours, peer]. */
async function pair(): Promise<[Socket, Socket]> {
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const ours = connect(join(dir, 's.sock'));
  await new Promise((resolve) => ours.once('connect', resolve));
  const peer = await accepted;
  sockets.push(ours, peer);
  return [ours, peer];
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

interface Recorder {
  bodies: string[];
  ends: OverlaydError[];
  ended: Promise<OverlaydError>;
  onBody(body: Uint8Array): void;
  onEnd(reason: OverlaydError): void;
}

function recorder(onBody?: (body: Uint8Array) => void): Recorder {
  let resolve!: (e: OverlaydError) => void;
  const r: Recorder = {
    bodies: [],
    ends: [],
    ended: new Promise((res) => {
      resolve = res;
    }),
    onBody(body) {
      r.bodies.push(text(body));
      onBody?.(body);
    },
    onEnd(reason) {
      r.ends.push(reason);
      resolve(reason);
    },
  };
  return r;
}

/** Collect what the raw peer receives until it ends. */
function drain(peer: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => peer.once('close', () => resolve(Buffer.concat(chunks))));
}

const listenerCounts = (s: Socket): number[] =>
  ['data', 'end', 'error', 'close'].map((e) => s.listenerCount(e));

const closedEvent = (s: Socket): Promise<void> =>
  s.destroyed && s.closed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));

describe('FramedConnection over a real Unix socket', () => {
  it('exchanges frames both ways, one write per frame', async () => {
    const [a, b] = await pair();
    const ra = recorder();
    const rb = recorder();
    const ca = new FramedConnection(a, ra);
    const cb = new FramedConnection(b, rb);
    const write = vi.spyOn(a, 'write');
    ca.send(utf8('hello'));
    ca.send(utf8(''));
    ca.send(utf8('world'));
    expect(write).toHaveBeenCalledTimes(3);
    await vi.waitFor(() => expect(rb.bodies).toEqual(['hello', '', 'world']));
    cb.send(utf8('back'));
    await vi.waitFor(() => expect(ra.bodies).toEqual(['back']));
    expect(ca.ended).toBe(false);
  });

  it('refuses an oversized body before writing anything', async () => {
    const [a] = await pair();
    const c = new FramedConnection(a, recorder());
    const write = vi.spyOn(a, 'write');
    expect(() => c.send(new Uint8Array(MAX_FRAME_BYTES + 1))).toThrow(FrameTooLargeError);
    expect(write).not.toHaveBeenCalled();
    c.send(new Uint8Array(MAX_FRAME_BYTES));
    expect(write).toHaveBeenCalledTimes(1);
  });

  it('reports a clean close at a frame boundary once, as ClosedError, and leaves no listener', async () => {
    const [a, b] = await pair();
    const before = listenerCounts(a);
    const r = recorder();
    new FramedConnection(a, r);
    b.end(encodeLengthPrefixed(utf8('last')));
    const reason = await r.ended;
    expect(reason).toBeInstanceOf(ClosedError);
    expect(reason.message).toBe('connection closed by peer');
    expect(r.bodies).toEqual(['last']);
    await closedEvent(a);
    expect(listenerCounts(a)).toEqual(before);
    expect(r.ends).toHaveLength(1);
  });

  it('reports a close inside the length prefix as ClosedError', async () => {
    const [a, b] = await pair();
    const r = recorder();
    new FramedConnection(a, r);
    b.end(new Uint8Array([1, 0]));
    expect(await r.ended).toBeInstanceOf(ClosedError);
  });

  it('reports a close inside a body as IoError', async () => {
    const [a, b] = await pair();
    const r = recorder();
    new FramedConnection(a, r);
    b.end(new Uint8Array([10, 0, 0, 0, 1, 2, 3]));
    const reason = await r.ended;
    expect(reason).toBeInstanceOf(IoError);
    expect(reason.message).toContain('early eof (received 3 of 10 body bytes)');
  });

  it('fails on an oversized advertised length and destroys the socket', async () => {
    const [a, b] = await pair();
    const r = recorder();
    const c = new FramedConnection(a, r);
    const peerGone = drain(b);
    b.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2]));
    const reason = await r.ended;
    expect(reason).toBeInstanceOf(FrameTooLargeError);
    expect(a.destroyed).toBe(true);
    await peerGone;
    expect(c.ended).toBe(true);
    expect(() => c.send(utf8('x'))).toThrow(ClosedError);
  });

  it('reports a socket error as IoError with the OS error as cause', async () => {
    const [a] = await pair();
    const r = recorder();
    new FramedConnection(a, r);
    const os = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    a.destroy(os);
    const reason = await r.ended;
    expect(reason).toBeInstanceOf(IoError);
    expect(reason.cause).toBe(os);
    expect(reason.message).toBe('io error: read ECONNRESET');
    await closedEvent(a);
    expect(r.ends).toHaveLength(1);
  });

  it('contains a throwing onBody: ends with that error, nothing uncaught', async () => {
    const [a, b] = await pair();
    const uncaught = vi.fn();
    process.on('uncaughtException', uncaught);
    try {
      const boom = new Error('boom');
      const r = recorder(() => {
        throw boom;
      });
      new FramedConnection(a, r);
      b.write(Buffer.concat([encodeLengthPrefixed(utf8('1')), encodeLengthPrefixed(utf8('2'))]));
      const reason = await r.ended;
      expect(reason).toBeInstanceOf(OtherError);
      expect(reason.cause).toBe(boom);
      expect(r.bodies).toEqual(['1']);
      expect(a.destroyed).toBe(true);

      const [c, d] = await pair();
      const codec = new CodecError('bad');
      const r2 = recorder(() => {
        throw codec;
      });
      new FramedConnection(c, r2);
      d.write(encodeLengthPrefixed(utf8('x')));
      expect(await r2.ended).toBe(codec);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(uncaught).not.toHaveBeenCalled();
    } finally {
      process.off('uncaughtException', uncaught);
    }
  });

  it('close() flushes sent frames, reports ClosedError once, and is idempotent', async () => {
    const [a, b] = await pair();
    const before = listenerCounts(a);
    const r = recorder();
    const c = new FramedConnection(a, r);
    const received = drain(b);
    b.on('end', () => b.end());
    c.send(utf8('one'));
    c.send(new Uint8Array(1024 * 1024));
    c.close();
    c.close();
    c.destroy();
    expect(r.ends).toHaveLength(1);
    expect(r.ends[0]).toBeInstanceOf(ClosedError);
    expect(() => c.send(utf8('late'))).toThrow(ClosedError);
    const bytes = await received;
    expect(bytes.length).toBe(4 + 3 + 4 + 1024 * 1024);
    await closedEvent(a);
    expect(listenerCounts(a)).toEqual(before);
  });

  it('close() with a reason reports that reason', async () => {
    const [a] = await pair();
    const r = recorder();
    const c = new FramedConnection(a, r);
    const why = new CodecError('undecodable');
    c.close(why);
    expect(await r.ended).toBe(why);
  });

  it('stops delivering once closed from inside onBody, even mid-chunk', async () => {
    const [a, b] = await pair();
    let conn: FramedConnection | undefined;
    const r = recorder(() => conn?.destroy());
    conn = new FramedConnection(a, r);
    b.write(Buffer.concat(['1', '2', '3'].map((s) => encodeLengthPrefixed(utf8(s)))));
    await r.ended;
    expect(r.bodies).toEqual(['1']);
  });

  it('pause() holds frames back until resume()', async () => {
    const [a, b] = await pair();
    const r = recorder();
    const c = new FramedConnection(a, r);
    c.pause();
    b.write(encodeLengthPrefixed(utf8('held')));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(r.bodies).toEqual([]);
    c.resume();
    await vi.waitFor(() => expect(r.bodies).toEqual(['held']));
  });

  it('a socket that is already destroyed ends on the next tick', async () => {
    const [a] = await pair();
    a.destroy();
    await closedEvent(a);
    const before = listenerCounts(a);
    const r = recorder();
    new FramedConnection(a, r);
    expect(r.ends).toHaveLength(0);
    expect(await r.ended).toBeInstanceOf(ClosedError);
    expect(listenerCounts(a)).toEqual(before);
  });

  it('a throwing onEnd becomes a process warning, not a crash', async () => {
    const [a, b] = await pair();
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    new FramedConnection(a, {
      onBody() {},
      onEnd() {
        throw new Error('bad onEnd');
      },
    });
    b.end();
    expect((await warned).message).toContain('bad onEnd');
  });
});
