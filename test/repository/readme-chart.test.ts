/**
 * README's summary of the connection chart and the visualizer's drawing
 * (`machineGraph`, read from the definition) must tell the same chart: every
 * state, every transition that changes state (its event, guard and target),
 * and nothing the definition does not have.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.machine.js';
import { machineGraph } from '../../visualizer/graph.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const graph = machineGraph(connectionMachine);

/** The fenced block under "## The connection statechart". */
function chartSummary(): string {
  const section = README.split('## The connection statechart')[1] ?? '';
  const block = /```\n([\s\S]*?)```/.exec(section);
  if (block?.[1] === undefined) throw new Error('README has no chart summary block');
  return block[1];
}

/** The event an arrow of the summary names: `connect`, `always`, `after backoffDelay`. */
function arrowEvent(label: string): string {
  const text = label.trim();
  if (text.startsWith('(always)')) return 'always';
  const after = /^after (\w+)/.exec(text);
  if (after) return `after ${after[1]}`;
  return /^[\w.]+/.exec(text)?.[0] ?? text;
}

const summary = chartSummary();
const words = new Set(summary.match(/[\w.]+/g));
const arrows = [...summary.matchAll(/──([^─▶]+)──▶/g)].map((m) => m[1] as string);
const keyOf = (id: string) => graph.nodes.find((node) => node.id === id)?.key ?? id;

describe("README's connection chart summary", () => {
  it('names every state of the definition', () => {
    const states = graph.nodes.filter((node) => node.parent !== null).map((node) => node.key);
    expect(states.length).toBeGreaterThan(5);
    for (const state of states) expect(words, state).toContain(state);
  });

  it('names the event, guard and target of every transition that changes state', () => {
    const moves = graph.edges.filter(
      (edge) => edge.targets.length > 0 && !edge.targets.includes(edge.source),
    );
    const named = new Set(arrows.map(arrowEvent));
    for (const edge of moves) {
      const where = `${edge.source} --${edge.event}--> ${edge.targets.join(',')}`;
      expect(named, where).toContain(edge.event);
      for (const target of edge.targets) expect(words, where).toContain(keyOf(target));
      for (const guard of edge.guard?.split(' && ') ?? []) expect(words, where).toContain(guard);
    }
  });

  it('names no event or guard the definition does not have', () => {
    const events = new Set(graph.edges.map((edge) => edge.event));
    for (const arrow of arrows) expect(events, arrow).toContain(arrowEvent(arrow));
    const guards = new Set(graph.edges.flatMap((edge) => edge.guard?.split(' && ') ?? []));
    const bracketed = [...summary.matchAll(/\[([\w &]+)\]/g)].flatMap((m) => m[1]?.split(' && '));
    expect(bracketed.length).toBeGreaterThan(3);
    for (const guard of bracketed) expect(guards).toContain(guard);
  });
});
