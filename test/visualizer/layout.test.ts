import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.machine.js';
import { machineGraph } from '../../visualizer/graph.js';
import { layoutMachine } from '../../visualizer/layout.js';

describe('layoutMachine (ELK)', async () => {
  const graph = machineGraph(connectionMachine);
  const layout = await layoutMachine(graph);
  const boxes = new Map(layout.nodes.map((node) => [node.id, node]));

  it('places every state with a size, children inside their parent', () => {
    for (const node of graph.nodes) {
      const box = boxes.get(node.id);
      expect(box, node.id).toBeDefined();
      if (!box) continue;
      expect(box.kind).toBe('state');
      expect(box.width).toBeGreaterThan(40);
      expect(box.height).toBeGreaterThan(20);
      const parent = node.parent === null ? undefined : boxes.get(node.parent);
      if (parent) {
        expect(box.x).toBeGreaterThanOrEqual(parent.x);
        expect(box.y).toBeGreaterThanOrEqual(parent.y + parent.headerHeight);
        expect(box.x + box.width).toBeLessThanOrEqual(parent.x + parent.width);
        expect(box.y + box.height).toBeLessThanOrEqual(parent.y + parent.height);
      }
    }
    expect(layout.width).toBeGreaterThan(0);
    expect(layout.height).toBeGreaterThan(0);
  });

  it('routes every targeted transition, lists targetless ones in their state, and draws initial arrows', () => {
    for (const edge of graph.edges) {
      if (edge.targets.length === 0) {
        const rows = boxes.get(edge.source)?.rows ?? [];
        expect(
          rows.some((row) => row.edgeId === edge.id),
          edge.id,
        ).toBe(true);
        continue;
      }
      const drawn = layout.edges.filter((e) => e.edgeId === edge.id);
      expect(drawn, edge.id).toHaveLength(edge.targets.length);
      for (const path of drawn) {
        expect(path.points.length).toBeGreaterThanOrEqual(2);
        expect(path.label?.text).toBe(edge.label);
      }
    }
    const initial = layout.edges.filter((e) => e.kind === 'initial');
    expect(initial.map((e) => e.target).sort()).toEqual([
      'overlaydConnection.idle',
      'overlaydConnection.session.connecting',
    ]);
    // The machine-wide `close` is drawn from an "any state" marker inside the root.
    expect(layout.edges.find((e) => e.label?.text === 'close')?.source).toBe(
      'any:overlaydConnection',
    );
  });

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(layout))).toEqual(layout);
  });
});
