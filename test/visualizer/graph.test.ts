/**
 * The graph is read from the machine definition: every state and every
 * transition of the config must appear, with its event, guard and actions.
 * The expected transitions are counted here from the raw config (`machine.config`),
 * independently of the state-node walk under test.
 */
import { describe, expect, it } from 'vitest';
import {
  type AnyStateMachine,
  and,
  assign,
  createActor,
  createMachine,
  fromPromise,
  not,
  or,
  setup,
  stateIn,
} from 'xstate';
import { connectionMachine } from '../../machines/connection.machine.js';
import {
  activeStateIds,
  edgeIdOf,
  type GraphEdge,
  machineGraph,
  stateValueText,
} from '../../visualizer/graph.js';
import { createFakeSocket } from '../support/fake-socket.js';

interface ConfigTransition {
  sourcePath: string;
  event: string;
  guard: string | null;
  targeted: boolean;
}

const toArray = <T>(value: T | readonly T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? [...value] : [value as T];

/** Guard names as the config spells them; compound guards are and()/or()/not() functions. */
function configGuardName(guard: unknown): string | null {
  if (guard === undefined) return null;
  if (typeof guard === 'string') return guard;
  const fn = guard as { name: string; guards?: unknown[] };
  const parts = (fn.guards ?? []).map(configGuardName);
  if (fn.name === 'and') return parts.join(' && ');
  if (fn.name === 'or') return parts.join(' || ');
  if (fn.name === 'not') return `!${parts[0]}`;
  return fn.name;
}

interface StateConfigLike {
  on?: Record<string, unknown>;
  after?: Record<string, unknown>;
  always?: unknown;
  states?: Record<string, StateConfigLike>;
}

/** Every transition written in a machine config, walked from the raw config object. */
function configTransitions(config: StateConfigLike, path: string[] = []): ConfigTransition[] {
  const found: ConfigTransition[] = [];
  const add = (event: string, value: unknown) => {
    for (const transition of toArray(value)) {
      const t =
        typeof transition === 'string'
          ? { target: transition }
          : (transition as { target?: unknown; guard?: unknown });
      found.push({
        sourcePath: path.join('.'),
        event,
        guard: configGuardName(t.guard),
        targeted: t.target !== undefined,
      });
    }
  };
  for (const [event, value] of Object.entries(config.on ?? {})) add(event, value);
  for (const [delay, value] of Object.entries(config.after ?? {})) add(`after ${delay}`, value);
  if (config.always !== undefined) add('always', config.always);
  for (const [key, child] of Object.entries(config.states ?? {})) {
    found.push(...configTransitions(child, [...path, key]));
  }
  return found;
}

function configStatePaths(config: StateConfigLike, path: string[] = []): string[] {
  const paths = [path.join('.')];
  for (const [key, child] of Object.entries(config.states ?? {})) {
    paths.push(...configStatePaths(child, [...path, key]));
  }
  return paths;
}

describe('machineGraph(connectionMachine)', () => {
  const graph = machineGraph(connectionMachine);
  const config = connectionMachine.config as StateConfigLike;
  const byPath = new Map(graph.nodes.map((node) => [node.path.join('.'), node]));

  it('has a node for every state of the definition, with its nesting', () => {
    const expected = configStatePaths(config);
    expect(expected).toHaveLength(10);
    expect(graph.nodes.map((node) => node.path.join('.')).sort()).toEqual(expected.sort());

    const session = byPath.get('session');
    expect(session).toMatchObject({
      id: 'overlaydConnection.session',
      type: 'compound',
      parent: 'overlaydConnection',
      initial: 'overlaydConnection.session.connecting',
      children: [
        'overlaydConnection.session.connecting',
        'overlaydConnection.session.connected',
        'overlaydConnection.session.awaitingResponse',
      ],
      invoke: [{ id: 'socket', src: 'socket' }],
    });
    expect(byPath.get('')).toMatchObject({
      id: 'overlaydConnection',
      parent: null,
      initial: 'overlaydConnection.idle',
    });
    expect(byPath.get('closed')).toMatchObject({ type: 'final', entry: ['failEverything'] });
    expect(byPath.get('session')?.entry).toEqual(['countAttempt']);
    // XState's own raise/cancel of the `after` timer is not an author's action.
    expect(byPath.get('backoff')).toMatchObject({ entry: [], exit: [] });
    expect(graph.root).toBe('overlaydConnection');
    expect(graph.id).toBe('overlaydConnection');
  });

  it('has an edge for every transition of the definition, with its event and guard', () => {
    const expected = configTransitions(config);
    expect(expected).toHaveLength(31);
    expect(graph.edges).toHaveLength(expected.length);

    const key = (t: {
      sourcePath: string;
      event: string;
      guard: string | null;
      targeted: boolean;
    }) =>
      `${t.sourcePath} | ${t.event} | ${t.guard ?? '-'} | ${t.targeted ? 'targeted' : 'targetless'}`;
    const actual = graph.edges.map((edge) => {
      const source = graph.nodes.find((node) => node.id === edge.source);
      return key({
        sourcePath: source?.path.join('.') ?? '?',
        event: edge.event,
        guard: edge.guard,
        targeted: edge.targets.length > 0,
      });
    });
    expect(actual.sort()).toEqual(expected.map(key).sort());
  });

  it('names targets, guards, actions and the after delay', () => {
    const find = (source: string, event: string, guard: string | null): GraphEdge => {
      const edge = graph.edges.find(
        (e) =>
          e.source === `overlaydConnection.${source}` && e.event === event && e.guard === guard,
      );
      if (!edge) throw new Error(`no edge ${source} ${event} [${guard}]`);
      return edge;
    };

    expect(find('session.connecting', 'socket.closed', 'hasAttemptsLeft')).toMatchObject({
      kind: 'event',
      targets: ['overlaydConnection.backoff'],
      actions: ['recordError', 'planRetry'],
      label: 'socket.closed [hasAttemptsLeft]',
    });
    expect(find('session.connecting', 'socket.connected', null)).toMatchObject({
      targets: ['overlaydConnection.session.connected'],
      actions: ['markConnected'],
    });
    expect(find('session.connected', 'always', 'hasQueued')).toMatchObject({
      kind: 'always',
      targets: ['overlaydConnection.session.awaitingResponse'],
      actions: ['fillWindow'],
    });
    expect(find('session.awaitingResponse', 'socket.responses', null)).toMatchObject({
      targets: [],
      actions: ['settleResponses'],
      label: 'socket.responses',
    });
    expect(find('session.awaitingResponse', 'always', 'nothingInFlight')).toMatchObject({
      kind: 'always',
      targets: ['overlaydConnection.session.connected'],
      actions: [],
    });
    expect(find('dropped', 'always', 'canAutoReconnect')).toMatchObject({
      kind: 'always',
      targets: ['overlaydConnection.backoff'],
      actions: ['startReconnectCycle', 'planRetry'],
    });
    expect(find('session.connected', 'request.enqueue', null)).toMatchObject({
      targets: ['overlaydConnection.session.awaitingResponse'],
      actions: ['takeRequests'],
    });
    expect(find('backoff', 'after backoffDelay', null)).toMatchObject({
      kind: 'after',
      delay: 'backoffDelay',
      eventType: 'xstate.after.backoffDelay.overlaydConnection.backoff',
      targets: ['overlaydConnection.session'],
      label: 'after backoffDelay',
    });
    const close = graph.edges.find((e) => e.eventType === 'close');
    expect(close).toMatchObject({
      source: 'overlaydConnection',
      targets: ['overlaydConnection.closed'],
    });
    expect(find('failed', 'request.enqueue', null).actions).toEqual(['refuseRequests']);
    expect(find('session', 'socket.closed', null)).toMatchObject({
      targets: ['overlaydConnection.dropped'],
      actions: ['failInFlight', 'recordError'],
    });
    expect(find('dropped', 'always', null)).toMatchObject({
      targets: ['overlaydConnection.failed'],
      actions: ['failQueued'],
    });
  });

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(graph))).toEqual(graph);
  });

  it('gives edges ids that the transitions an actor takes map back to, through provide()', () => {
    const sockets = createFakeSocket();
    const taken: Array<string | null> = [];
    const actor = createActor(connectionMachine.provide({ actors: { socket: sockets.logic } }), {
      input: { endpoint: 'x' },
      inspect: (event) => {
        if (event.type === '@xstate.microstep') {
          for (const transition of event._transitions) taken.push(edgeIdOf(transition));
        }
      },
    });
    actor.start();
    actor.send({ type: 'connect' });
    sockets.current.connect();
    actor.send({ type: 'request.enqueue', requests: [{ token: 1, id: '1', op: 'status' }] });
    actor.stop();
    const ids = new Set(graph.edges.map((edge) => edge.id));
    expect(taken).toEqual([
      'overlaydConnection.idle::connect::0',
      'overlaydConnection.session.connecting::socket.connected::0',
      'overlaydConnection.session.connected::request.enqueue::0',
    ]);
    for (const id of taken) expect(ids.has(id as string)).toBe(true);
  });

  it('maps state values to active ids and text', () => {
    expect(activeStateIds(graph, { session: 'awaitingResponse' })).toEqual([
      'overlaydConnection',
      'overlaydConnection.session',
      'overlaydConnection.session.awaitingResponse',
    ]);
    expect(activeStateIds(graph, 'backoff')).toEqual([
      'overlaydConnection',
      'overlaydConnection.backoff',
    ]);
    expect(stateValueText({ session: 'connecting' })).toBe('session.connecting');
    expect(stateValueText('idle')).toBe('idle');
  });
});

describe('machineGraph on other shapes', () => {
  const machine: AnyStateMachine = setup({
    guards: { ready: () => true, ok: () => true, busy: () => false },
    actions: { note: () => {} },
    delays: { slow: 500 },
    actors: { job: fromPromise(async () => 1) },
  }).createMachine({
    id: 'shapes',
    initial: 'a',
    states: {
      a: {
        always: [{ guard: or(['ready', not('busy')]), target: 'b' }],
        after: { 250: { target: 'c' }, slow: { target: 'c', actions: 'note' } },
      },
      b: {
        invoke: { src: 'job', onDone: { target: 'c' }, onError: 'a' },
        on: {
          go: { guard: and(['ok', stateIn('#shapes.b')]), target: 'p' },
          poke: { actions: [assign({}), 'note', () => {}] },
        },
      },
      c: { type: 'final' },
      p: {
        type: 'parallel',
        states: {
          left: {
            initial: 'l1',
            states: { l1: { on: { split: { target: ['#shapes.p.left.l1'] } } } },
          },
          right: { initial: 'r1', states: { r1: {} } },
        },
      },
    },
  });
  const graph = machineGraph(machine);
  const edge = (event: string) => graph.edges.find((e) => e.event === event);

  it('names always, numeric and named after delays, invoke outcomes and compound guards', () => {
    expect(edge('always')).toMatchObject({
      kind: 'always',
      guard: 'ready || !busy',
      targets: ['shapes.b'],
    });
    expect(edge('after 250ms')).toMatchObject({ kind: 'after', delay: 250, targets: ['shapes.c'] });
    expect(edge('after slow')).toMatchObject({ kind: 'after', delay: 'slow', actions: ['note'] });
    expect(edge('done: job')).toMatchObject({ kind: 'event', targets: ['shapes.c'] });
    expect(edge('error: job')).toMatchObject({ kind: 'event', targets: ['shapes.a'] });
    expect(edge('go')?.guard).toBe('ok && in(#shapes.b)');
    expect(edge('poke')?.actions).toEqual(['assign', 'note', 'inline action']);
  });

  it('keeps parallel regions and every config state', () => {
    expect(graph.nodes.find((n) => n.id === 'shapes.p')).toMatchObject({
      type: 'parallel',
      initial: null,
      children: ['shapes.p.left', 'shapes.p.right'],
    });
    expect(graph.nodes.map((n) => n.path.join('.')).sort()).toEqual(
      configStatePaths(machine.config as StateConfigLike).sort(),
    );
    expect(activeStateIds(graph, { p: { left: 'l1', right: 'r1' } })).toEqual([
      'shapes',
      'shapes.p',
      'shapes.p.left',
      'shapes.p.left.l1',
      'shapes.p.right',
      'shapes.p.right.r1',
    ]);
    expect(stateValueText({ p: { left: 'l1', right: 'r1' } })).toBe('p.left.l1, p.right.r1');
  });

  it('works on a machine made without setup()', () => {
    const plain = createMachine({
      id: 'plain',
      initial: 'x',
      states: { x: { on: { y: 'y' } }, y: {} },
    });
    const g = machineGraph(plain);
    expect(g.nodes).toHaveLength(3);
    expect(g.edges).toEqual([
      expect.objectContaining({ source: 'plain.x', targets: ['plain.y'], event: 'y', guard: null }),
    ]);
  });
});
