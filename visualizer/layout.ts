/**
 * Lays the machine graph out with ELK (layered, hierarchical: compound states
 * contain their children), in Node, so that the page only draws SVG.
 *
 * Text is measured by estimate: the page draws state names and labels in a
 * monospace font whose advance is 0.6 em, so widths computed here hold there.
 */

import type { ElkExtendedEdge, ElkLabel, ElkNode, ElkPoint } from 'elkjs';
import elkjs from 'elkjs';
import { type GraphEdge, type GraphNode, invokeName, type MachineGraph } from './graph.js';

export interface Point {
  x: number;
  y: number;
}

export interface NodeRow {
  kind: 'entry' | 'exit' | 'invoke' | 'self' | 'tags';
  text: string;
  /** For `self` rows (targetless transitions): the graph edge id. */
  edgeId?: string;
  /** Actions, for a tooltip. */
  detail?: string;
}

export interface LaidOutNode {
  id: string;
  /** `state` for state nodes; `initial` and `any` are drawing aids, not states. */
  kind: 'state' | 'initial' | 'any';
  /** The state node this belongs to (itself for states, the compound for aids). */
  stateId: string;
  title: string;
  type: GraphNode['type'] | null;
  depth: number;
  x: number;
  y: number;
  width: number;
  height: number;
  /** Height of the title band; rows follow it. */
  headerHeight: number;
  rows: NodeRow[];
}

export interface LaidOutLabel {
  x: number;
  y: number;
  width: number;
  height: number;
  /** `event [guard]` */
  text: string;
  /** Drawn on two lines: the event, then `[guard]`. */
  stacked: boolean;
}

export interface LaidOutEdge {
  /** The drawn path's id (`<edge id>#<target index>`, or `initial:<compound>`). */
  id: string;
  /** The graph edge it draws; null for the initial-state arrows. */
  edgeId: string | null;
  kind: GraphEdge['kind'] | 'initial';
  source: string;
  target: string;
  points: Point[];
  label: LaidOutLabel | null;
  /** Actions, for a tooltip. */
  detail: string;
}

export interface MachineLayout {
  graph: MachineGraph;
  width: number;
  height: number;
  nodes: LaidOutNode[];
  edges: LaidOutEdge[];
}

/** Character advance of the page's monospace fonts, per px of font size. */
const ADVANCE = 0.62;
const TITLE_PX = 14;
const ROW_PX = 11.5;
const LABEL_PX = 11;
const TITLE_BAND = 34;
const ROW_HEIGHT = 18;
const PAD_X = 14;
const PAD_BOTTOM = 12;
const COMPOUND_PAD = 22;
const LABEL_HEIGHT = 18;
const LABEL_LINE = 14;
/** Labels longer than this, with a guard, put the guard on a second line. */
const STACK_OVER = 22;
const INITIAL_SIZE = 12;

const textWidth = (text: string, px: number): number => Math.ceil(text.length * px * ADVANCE);

function rowsOf(node: GraphNode, selfEdges: GraphEdge[]): NodeRow[] {
  const rows: NodeRow[] = [];
  if (node.entry.length > 0) rows.push({ kind: 'entry', text: `entry / ${node.entry.join(', ')}` });
  if (node.exit.length > 0) rows.push({ kind: 'exit', text: `exit / ${node.exit.join(', ')}` });
  for (const invoke of node.invoke) {
    const name = invokeName(invoke);
    rows.push({
      kind: 'invoke',
      text: name === invoke.src ? `invoke ${name}` : `invoke ${name}: ${invoke.src}`,
    });
  }
  if (node.tags.length > 0) rows.push({ kind: 'tags', text: `tags ${node.tags.join(', ')}` });
  for (const edge of selfEdges) {
    rows.push({
      kind: 'self',
      text: `↻ ${edge.label}`,
      edgeId: edge.id,
      detail: edge.actions.length > 0 ? `/ ${edge.actions.join(', ')}` : '',
    });
  }
  return rows;
}

function headerOf(title: string, rows: NodeRow[]): { width: number; height: number } {
  const widths = [
    textWidth(title, TITLE_PX) + 24,
    ...rows.map((row) => textWidth(row.text, ROW_PX)),
  ];
  return {
    width: Math.max(...widths) + PAD_X * 2,
    height: TITLE_BAND + rows.length * ROW_HEIGHT + (rows.length > 0 ? 6 : 0),
  };
}

function isDescendant(byId: Map<string, GraphNode>, id: string, ancestor: string): boolean {
  let current = byId.get(id)?.parent ?? null;
  while (current !== null) {
    if (current === ancestor) return true;
    current = byId.get(current)?.parent ?? null;
  }
  return false;
}

/** Ancestors of a node, itself first, root last. */
function ancestry(byId: Map<string, GraphNode>, id: string): string[] {
  const chain: string[] = [];
  let current: string | null = id;
  while (current !== null) {
    chain.push(current);
    current = byId.get(current)?.parent ?? null;
  }
  return chain;
}

/** The innermost compound that contains both ends (ELK wants an edge declared there). */
function commonContainer(byId: Map<string, GraphNode>, source: string, target: string): string {
  const sourceChain = ancestry(byId, source);
  const targetChain = new Set(ancestry(byId, target));
  for (const id of sourceChain.slice(1)) {
    if (targetChain.has(id)) return id;
  }
  return sourceChain.at(-1) ?? source;
}

interface Meta {
  kind: LaidOutNode['kind'];
  stateId: string;
  title: string;
  type: GraphNode['type'] | null;
  depth: number;
  headerHeight: number;
  rows: NodeRow[];
}

const ROOT_ID = '__canvas__';

export interface LayoutOptions {
  /** Direction transitions mostly flow in (default `DOWN`, which suits a page with a sidebar). */
  direction?: 'RIGHT' | 'DOWN';
  /** Extra ELK layout options for the top level (tuning). */
  elk?: Record<string, string>;
}

export async function layoutMachine(
  graph: MachineGraph,
  options: LayoutOptions = {},
): Promise<MachineLayout> {
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const meta = new Map<string, Meta>();
  const elkNodes = new Map<string, ElkNode>();
  const edgeMeta = new Map<
    string,
    Omit<LaidOutEdge, 'points' | 'label'> & { text: string; stacked: boolean }
  >();

  const selfEdges = new Map<string, GraphEdge[]>();
  for (const edge of graph.edges) {
    if (edge.targets.length > 0) continue;
    const list = selfEdges.get(edge.source) ?? [];
    list.push(edge);
    selfEdges.set(edge.source, list);
  }

  for (const node of graph.nodes) {
    const rows = rowsOf(node, selfEdges.get(node.id) ?? []);
    const header = headerOf(node.key, rows);
    const compound = node.children.length > 0;
    meta.set(node.id, {
      kind: 'state',
      stateId: node.id,
      title: node.key,
      type: node.type,
      depth: node.path.length,
      headerHeight: header.height,
      rows,
    });
    const elkNode: ElkNode = compound
      ? {
          id: node.id,
          children: [],
          edges: [],
          layoutOptions: {
            'elk.padding': `[top=${header.height + 12},left=${COMPOUND_PAD},bottom=${COMPOUND_PAD},right=${COMPOUND_PAD}]`,
            'elk.nodeSize.constraints': 'MINIMUM_SIZE',
            'elk.nodeSize.minimum': `(${header.width}, ${header.height + 40})`,
          },
        }
      : { id: node.id, width: Math.max(header.width, 120), height: header.height + PAD_BOTTOM };
    elkNodes.set(node.id, elkNode);
  }
  for (const node of graph.nodes) {
    const parent = node.parent === null ? null : elkNodes.get(node.parent);
    const self = elkNodes.get(node.id);
    if (parent && self) parent.children?.push(self);
  }

  const addEdge = (container: string, edge: ElkExtendedEdge): void => {
    elkNodes.get(container)?.edges?.push(edge);
  };

  // Initial-state arrows, from a dot inside each compound.
  for (const node of graph.nodes) {
    if (node.initial === null) continue;
    const dot = `initial:${node.id}`;
    meta.set(dot, {
      kind: 'initial',
      stateId: node.id,
      title: '',
      type: null,
      depth: node.path.length + 1,
      headerHeight: 0,
      rows: [],
    });
    elkNodes.get(node.id)?.children?.push({ id: dot, width: INITIAL_SIZE, height: INITIAL_SIZE });
    addEdge(node.id, { id: dot, sources: [dot], targets: [node.initial] });
    edgeMeta.set(dot, {
      id: dot,
      edgeId: null,
      kind: 'initial',
      source: dot,
      target: node.initial,
      detail: '',
      text: '',
      stacked: false,
    });
  }

  for (const edge of graph.edges) {
    edge.targets.forEach((target, index) => {
      const id = `${edge.id}#${index}`;
      let source = edge.source;
      // A compound's transition into its own descendant (e.g. the machine-wide `close`)
      // is drawn from an "any state" marker inside it rather than from its border.
      if (isDescendant(byId, target, edge.source)) {
        source = `any:${edge.source}`;
        if (!meta.has(source)) {
          const owner = byId.get(edge.source);
          meta.set(source, {
            kind: 'any',
            stateId: edge.source,
            title: 'any state',
            type: null,
            depth: (owner?.path.length ?? 0) + 1,
            headerHeight: 0,
            rows: [],
          });
          elkNodes.get(edge.source)?.children?.push({
            id: source,
            width: textWidth('any state', ROW_PX) + 20,
            height: 24,
          });
        }
      }
      const container = isDescendant(byId, target, edge.source)
        ? edge.source
        : commonContainer(byId, source.startsWith('any:') ? edge.source : source, target);
      const stacked = edge.guard !== null && edge.label.length > STACK_OVER;
      const labels: ElkLabel[] = [
        stacked
          ? {
              text: edge.label,
              width:
                Math.max(textWidth(edge.event, LABEL_PX), textWidth(`[${edge.guard}]`, LABEL_PX)) +
                10,
              height: LABEL_HEIGHT + LABEL_LINE,
            }
          : { text: edge.label, width: textWidth(edge.label, LABEL_PX) + 10, height: LABEL_HEIGHT },
      ];
      addEdge(container, { id, sources: [source], targets: [target], labels });
      edgeMeta.set(id, {
        id,
        edgeId: edge.id,
        kind: edge.kind,
        source,
        target,
        detail: edge.actions.length > 0 ? `/ ${edge.actions.join(', ')}` : '',
        text: edge.label,
        stacked,
      });
    });
  }

  const rootNode = elkNodes.get(graph.root);
  if (!rootNode) throw new Error(`machine graph has no root node ${graph.root}`);
  const canvas: ElkNode = {
    id: ROOT_ID,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': options.direction ?? 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
      'elk.spacing.nodeNode': '36',
      'elk.spacing.edgeNode': '18',
      'elk.spacing.edgeEdge': '14',
      'elk.spacing.edgeLabel': '4',
      'elk.layered.spacing.nodeNodeBetweenLayers': '44',
      'elk.layered.spacing.edgeNodeBetweenLayers': '16',
      'elk.layered.spacing.edgeEdgeBetweenLayers': '14',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      ...options.elk,
    },
    children: [rootNode],
    edges: [],
  };

  // elkjs is CommonJS: Node hands ESM its `module.exports`, which also carries itself as `default`.
  const elk = new elkjs.default();
  const result = await elk.layout(canvas);

  const nodes: LaidOutNode[] = [];
  const edges: LaidOutEdge[] = [];
  const origin = new Map<string, Point>();

  const collectEdges = (node: ElkNode, offset: Point): void => {
    for (const edge of node.edges ?? []) {
      const info = edgeMeta.get(edge.id);
      if (!info) continue;
      // ELK reports an edge's coordinates relative to the node it settled in.
      const container = (edge as ElkExtendedEdge & { container?: string }).container;
      const base = (container !== undefined ? origin.get(container) : undefined) ?? offset;
      const points: Point[] = [];
      for (const section of edge.sections ?? []) {
        const sectionPoints: ElkPoint[] = [
          section.startPoint,
          ...(section.bendPoints ?? []),
          section.endPoint,
        ];
        for (const point of sectionPoints)
          points.push({ x: base.x + point.x, y: base.y + point.y });
      }
      const label = edge.labels?.[0];
      const { text, stacked, ...rest } = info;
      edges.push({
        ...rest,
        points,
        label:
          label && text !== ''
            ? {
                x: base.x + (label.x ?? 0),
                y: base.y + (label.y ?? 0),
                width: label.width ?? 0,
                height: label.height ?? 0,
                text,
                stacked,
              }
            : null,
      });
    }
  };

  const walk = (node: ElkNode, parentOrigin: Point): void => {
    const at = { x: parentOrigin.x + (node.x ?? 0), y: parentOrigin.y + (node.y ?? 0) };
    origin.set(node.id, at);
    const info = meta.get(node.id);
    if (info) {
      nodes.push({
        id: node.id,
        ...info,
        x: at.x,
        y: at.y,
        width: node.width ?? 0,
        height: node.height ?? 0,
      });
    }
    for (const child of node.children ?? []) walk(child, at);
  };
  walk(result, { x: 0, y: 0 });
  const collect = (node: ElkNode): void => {
    collectEdges(node, origin.get(node.id) ?? { x: 0, y: 0 });
    for (const child of node.children ?? []) collect(child);
  };
  collect(result);

  return {
    graph,
    width: Math.ceil(result.width ?? 0),
    height: Math.ceil(result.height ?? 0),
    nodes,
    edges,
  };
}
