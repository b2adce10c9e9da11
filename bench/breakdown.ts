/**
 * Where the client's own time per request goes, each piece measured in
 * isolation, and the whole measured over an in-memory socket pair (no
 * kernel, no event-loop wake-ups) to check that the pieces add up:
 *
 * - machine: `request.enqueue` and the matching `socket.responses` sent to the
 *   connection actor, whose socket actor is a fake that writes nothing;
 * - codec: `encodeFrame` of the request and `decodeFrame` (validation
 *   included) of the response;
 * - framing: `encodeLengthPrefixed` and `FrameDecoder.push` of one response;
 * - bookkeeping: id allocation, the per-request deadline timer, and a promise
 *   with its Map entry.
 *
 *   node dist/bench/breakdown.js
 */
import { EventEmitter } from 'node:events';
import { Session } from 'node:inspector/promises';
import type { Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { assign, createActor, fromCallback, setup } from 'xstate';
import { connectionMachine, type SocketActorInput } from '../machines/connection.machine.js';
import type { SocketCommand, SocketEvent } from '../machines/connection.types.js';
import { OverlaydClient } from '../src/client/client.js';
import { IdAllocator } from '../src/client/ids.js';
import { decodeFrame, encodeFrameToString, type OverlaydResponse } from '../src/protocol/index.js';
import { encodeLengthPrefixed, FrameDecoder } from '../src/transport/framing.js';
import {
  answerConnection,
  prefixed,
  responseBody,
  STATUS_REQUEST,
  STATUS_RESPONSE,
} from './echo-server.js';
import { MinimalClient } from './minimal-client.js';
import { MinimalXStateClient } from './minimal-xstate-client.js';
import { RawPingPong } from './raw-client.js';
import { XSTATE_WINDOW } from './roundtrip.js';
import { interleavedUs, median } from './stats.js';

export interface BreakdownFigure {
  piece: string;
  /** Median µs per request (bytes when `unit` is 'B'). */
  us: number;
  unit?: 'B';
  /** What the piece is compared with, when it has a natural baseline. */
  baseline?: { name: string; us: number };
  /** The target, when the piece has one: at most this × `baseline`. */
  maxRatio?: number;
}

/** One end of an in-memory stream pair; writes reach the peer as a 'data' event a microtask later. */
class MemorySocket extends EventEmitter {
  peer: MemorySocket | undefined;
  destroyed = false;

  write(data: Uint8Array): boolean {
    const peer = this.peer;
    if (this.destroyed || peer === undefined) return false;
    const chunk = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    queueMicrotask(() => {
      if (!peer.destroyed) peer.emit('data', chunk);
    });
    return true;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    process.nextTick(() => this.emit('close', false));
    const peer = this.peer;
    if (peer !== undefined && !peer.destroyed) process.nextTick(() => peer.destroy());
    return this;
  }

  end(callback?: () => void): this {
    this.destroy();
    callback?.();
    return this;
  }

  pause(): this {
    return this;
  }

  resume(): this {
    return this;
  }
}

/** A connected in-memory pair whose server end answers like the echo server. */
function memoryPair(): { client: Socket; server: MemorySocket } {
  const client = new MemorySocket();
  const server = new MemorySocket();
  client.peer = server;
  server.peer = client;
  answerConnection(server as unknown as Socket);
  return { client: client as unknown as Socket, server };
}

/** The connection actor with a socket actor that connects at once and writes nothing. */
function machineHarness() {
  let reply: ((event: SocketEvent) => void) | undefined;
  const socket = fromCallback<SocketCommand, SocketActorInput, SocketEvent>(
    ({ sendBack, receive }) => {
      reply = sendBack;
      receive(() => {});
      sendBack({ type: 'socket.connected' });
    },
  );
  const actor = createActor(connectionMachine.provide({ actors: { socket } }), {
    input: { endpoint: '/bench.sock' },
  });
  // The client listens to these; an emitted event nobody hears is cheaper.
  actor.on('requests.answered', () => {});
  actor.on('request.failed', () => {});
  actor.start();
  actor.send({ type: 'connect' });
  if (reply === undefined) throw new Error('socket actor did not start');
  const sendBack = reply;
  const response = STATUS_RESPONSE as OverlaydResponse;
  let token = 0;
  return () => {
    token++;
    const id = String(token);
    actor.send({ type: 'request.enqueue', requests: [{ token, id, op: 'status' }] });
    sendBack({ type: 'socket.responses', responses: [{ id, response }] });
  };
}

/** XState's own floor: a two-state toggle, two events per "request". */
function toggleHarness() {
  const toggle = setup({}).createMachine({
    initial: 'a',
    states: { a: { on: { go: 'b' } }, b: { on: { go: 'a' } } },
  });
  const actor = createActor(toggle).start();
  const go = { type: 'go' } as const;
  return () => {
    actor.send(go);
    actor.send(go);
  };
}

/** The toggle again with one assign per event (each clones the snapshot). */
function toggleAssignHarness() {
  const toggle = setup({ types: { context: {} as { n: number } } }).createMachine({
    context: { n: 0 },
    initial: 'a',
    states: {
      a: { on: { go: { target: 'b', actions: assign({ n: ({ context }) => context.n + 1 }) } } },
      b: { on: { go: { target: 'a', actions: assign({ n: ({ context }) => context.n + 1 }) } } },
    },
  });
  const actor = createActor(toggle).start();
  const go = { type: 'go' } as const;
  return () => {
    actor.send(go);
    actor.send(go);
  };
}

function syncPieces(rounds: number): BreakdownFigure[] {
  const machine = machineHarness();
  const toggle = toggleHarness();
  const toggleAssign = toggleAssignHarness();

  const ids = new IdAllocator();
  let id = 0;
  // As the client encodes a request (validated, then UTF-8 bytes from Node's pool).
  const encode = () =>
    Buffer.from(encodeFrameToString({ frame: 'request', id: ++id, request: STATUS_REQUEST }));
  const response = responseBody(12345);
  const decode = () => decodeFrame(response);
  const utf8 = new TextDecoder();
  const naiveEncode = () =>
    Buffer.from(JSON.stringify({ frame: 'request', id: ++id, request: STATUS_REQUEST }));
  const naiveDecode = () => JSON.parse(utf8.decode(response));

  const body = encode();
  const wire = prefixed(response);
  const decoder = new FrameDecoder(() => {});
  const framing = () => {
    encodeLengthPrefixed(body);
    decoder.push(wire);
  };

  const allocId = () => String(ids.next());
  const timer = () => clearTimeout(setTimeout(() => {}, 30_000));
  const pending = new Map<number, (value: number) => void>();
  let token = 0;
  const promise = () => {
    const t = ++token;
    const p = new Promise<number>((resolve) => {
      pending.set(t, resolve);
    });
    const resolve = pending.get(t)!;
    pending.delete(t);
    resolve(t);
    return p;
  };

  const batch = 20_000;
  const [machineUs, toggleUs, toggleAssignUs] = interleavedUs(
    [machine, toggle, toggleAssign],
    rounds,
    batch,
  );
  const [encodeUs, decodeUs, naiveEncodeUs, naiveDecodeUs] = interleavedUs(
    [encode, decode, naiveEncode, naiveDecode],
    rounds,
    batch,
  );
  const [framingUs, idUs, timerUs, promiseUs] = interleavedUs(
    [framing, allocId, timer, promise],
    rounds,
    batch,
  );
  return [
    {
      piece: 'machine: request.enqueue + socket.responses (fake socket actor)',
      us: machineUs!,
      baseline: { name: 'XState two-state toggle, 2 events', us: toggleUs! },
    },
    {
      piece: 'XState toggle, 2 events with one assign each',
      us: toggleAssignUs!,
      baseline: { name: 'same without assign', us: toggleUs! },
    },
    {
      piece: 'codec: Buffer.from(encodeFrameToString(request))',
      us: encodeUs!,
      baseline: { name: 'Buffer.from(JSON.stringify)', us: naiveEncodeUs! },
    },
    {
      piece: 'codec: decodeFrame(response), validation included',
      us: decodeUs!,
      baseline: { name: 'JSON.parse(utf8)', us: naiveDecodeUs! },
    },
    { piece: 'framing: encodeLengthPrefixed + FrameDecoder.push', us: framingUs! },
    { piece: 'id: IdAllocator.next + String(id)', us: idUs! },
    { piece: 'deadline: setTimeout + clearTimeout (30 s)', us: timerUs! },
    { piece: 'promise: new Promise + Map set/get/delete + resolve', us: promiseUs! },
  ];
}

/** OverlaydClient over an in-memory socket pair answered by the echo server's code. */
function memoryClient(): Promise<OverlaydClient> {
  const pair = memoryPair();
  return OverlaydClient.connect('/memory.sock', {
    connect: () => {
      process.nextTick(() => pair.client.emit('connect'));
      return pair.client;
    },
  });
}

/** The minimal XState client (the sequential target's baseline) over an in-memory socket pair. */
function memoryXState(): MinimalXStateClient {
  return MinimalXStateClient.over(memoryPair().client, { window: XSTATE_WINDOW });
}

/** Whole requests over in-memory sockets: the four clients, interleaved. */
async function inMemory(rounds: number, n: number): Promise<BreakdownFigure[]> {
  const rawPair = memoryPair();
  const raw = RawPingPong.over(rawPair.client);
  const minimalPair = memoryPair();
  const minimal = MinimalClient.over(minimalPair.client);
  const xstate = memoryXState();
  const client = await memoryClient();
  const calls = async (call: () => Promise<unknown>): Promise<number> => {
    const latencies: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await call();
      latencies.push((performance.now() - start) * 1e3);
    }
    return median(latencies);
  };
  const subjects: Array<() => Promise<number>> = [
    async () => median(await raw.sequential(n)),
    () => calls(() => minimal.call(STATUS_REQUEST)),
    () => calls(() => xstate.call(STATUS_REQUEST)),
    () => calls(() => client.call(STATUS_REQUEST)),
  ];
  const samples = subjects.map((): number[] => []);
  for (const s of subjects) await s();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < subjects.length; i++) samples[i]!.push(await subjects[i]!());
  }
  raw.close();
  minimal.close();
  xstate.close();
  await client.close();
  const [rawUs, minimalUs, xstateUs, overlaydUs] = samples.map(median);
  return [
    {
      piece: 'whole: OverlaydClient.call over an in-memory socket',
      us: overlaydUs!,
      baseline: { name: 'minimal XState client over the same', us: xstateUs! },
    },
    {
      piece: 'whole: minimal XState client over an in-memory socket',
      us: xstateUs!,
      baseline: { name: 'raw ping-pong over the same', us: rawUs! },
    },
    {
      piece: 'whole: minimal client over an in-memory socket',
      us: minimalUs!,
      baseline: { name: 'raw ping-pong over the same', us: rawUs! },
    },
  ];
}

interface SampledNode {
  callFrame: { url: string };
  selfSize: number;
  children: SampledNode[];
}

/**
 * Bytes allocated per call of `call` (garbage included), from V8's sampling
 * heap profiler, and the share of them allocated inside xstate.
 */
async function allocatedPerCall(
  call: () => Promise<unknown>,
  n: number,
): Promise<{ bytes: number; xstateShare: number }> {
  for (let i = 0; i < 1000; i++) await call();
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as never);
    for (let i = 0; i < n; i++) await call();
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as {
      profile: { head: SampledNode };
    };
    let total = 0;
    let xstate = 0;
    // Builtins (Set, Map, spread…) have no URL: they count for their nearest caller that has one.
    const walk = (node: SampledNode, callerUrl: string): void => {
      const url = node.callFrame.url === '' ? callerUrl : node.callFrame.url;
      total += node.selfSize;
      if (url.includes('/node_modules/xstate/')) xstate += node.selfSize;
      for (const child of node.children) walk(child, url);
    };
    walk(profile.head, '');
    return { bytes: total / n, xstateShare: total === 0 ? 0 : xstate / total };
  } finally {
    await session.post('HeapProfiler.disable');
    session.disconnect();
  }
}

/** Allocation per request over in-memory sockets: OverlaydClient and the minimal client. */
async function allocations(n: number): Promise<BreakdownFigure[]> {
  const minimalPair = memoryPair();
  const minimal = MinimalClient.over(minimalPair.client);
  const xstate = memoryXState();
  const client = await memoryClient();
  const base = await allocatedPerCall(() => minimal.call(STATUS_REQUEST), n);
  const chart = await allocatedPerCall(() => xstate.call(STATUS_REQUEST), n);
  const ours = await allocatedPerCall(() => client.call(STATUS_REQUEST), n);
  // XState's own floor for a request's two state changes, garbage included.
  const toggle = toggleAssignHarness();
  const floor = await allocatedPerCall(async () => toggle(), n);
  minimal.close();
  xstate.close();
  await client.close();
  return [
    {
      piece: 'allocated per XState toggle, 2 events with one assign each, in bytes',
      us: floor.bytes,
      unit: 'B',
    },
    {
      piece: `allocated per minimal XState client call, in bytes (${Math.round(chart.xstateShare * 100)}% inside xstate)`,
      us: chart.bytes,
      baseline: { name: 'minimal client', us: base.bytes },
      unit: 'B',
    },
    {
      piece: `allocated per OverlaydClient.call, in bytes (${Math.round(ours.xstateShare * 100)}% inside xstate)`,
      us: ours.bytes,
      // The target is set against a chart that decides every request, as the round trips' are.
      baseline: { name: 'minimal XState client', us: chart.bytes },
      unit: 'B',
      maxRatio: 1.1,
    },
  ];
}

/** Every piece, medians over `rounds`. */
export async function benchBreakdown(rounds = 7): Promise<BreakdownFigure[]> {
  const pieces = syncPieces(rounds);
  const whole = await inMemory(rounds, 5000);
  const allocated = await allocations(20_000);
  return [...pieces, ...whole, ...allocated];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of await benchBreakdown()) {
    const unit = f.unit ?? 'µs';
    const base = f.baseline ? `  (${f.baseline.name}: ${f.baseline.us.toFixed(2)} ${unit})` : '';
    console.log(`${f.piece.padEnd(66)} ${f.us.toFixed(2).padStart(7)} ${unit}${base}`);
  }
}
