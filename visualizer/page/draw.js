// Drawing: the laid-out statechart (from /graph.json) as SVG, filling a chartView with the
// elements that the live updates later mark.
import { svg } from './dom.js?token={{token}}';

const TITLE_BAND = 34;
const ROW_HEIGHT = 18;
const LABEL_LINE = 14;

/** Arrowheads by marker id: plain, the transition just taken, the initial arrow. */
const MARKERS = [
  ['arrow', '#5d6d8e'],
  ['arrow-taken', '#34d399'],
  ['arrow-initial', '#8593b0'],
];

/** How a state is coloured when it is the active leaf: its names say what kind of wait it is. */
export function toneOf(node) {
  if (!node) return 'default';
  if (node.type === 'final') return 'done';
  if (/fail|error|dead/i.test(node.key)) return 'danger';
  if (/backoff|retry|sleep|cooldown/i.test(node.key)) return 'warn';
  return 'default';
}

/** "event [guard]" → [event, guard | null] */
function splitLabel(text) {
  const match = /^(.*?) \[(.*)\]$/.exec(text);
  return match ? [match[1], match[2]] : [text, null];
}

/** A transition label, its guard dimmed; `stacked` puts the guard on a line of its own. */
function labelText(parent, text, attrs, stacked = false) {
  const node = svg('text', attrs, parent);
  const [event, guard] = splitLabel(text);
  svg('tspan', {}, node).textContent = event;
  if (guard !== null) {
    const guardAttrs = stacked
      ? { class: 'guard', x: attrs.x, dy: LABEL_LINE }
      : { class: 'guard' };
    svg('tspan', guardAttrs, node).textContent = stacked ? `[${guard}]` : ` [${guard}]`;
  }
  return node;
}

/** An SVG path through `points`, its corners rounded. */
function roundedPath(points, radius = 7) {
  if (points.length === 0) return '';
  const [first] = points;
  let d = `M${first.x},${first.y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const prev = points[i - 1];
    const point = points[i];
    const next = points[i + 1];
    const inLength = Math.hypot(point.x - prev.x, point.y - prev.y);
    const outLength = Math.hypot(next.x - point.x, next.y - point.y);
    const r = Math.min(radius, inLength / 2, outLength / 2);
    const before = {
      x: point.x - ((point.x - prev.x) / (inLength || 1)) * r,
      y: point.y - ((point.y - prev.y) / (inLength || 1)) * r,
    };
    const after = {
      x: point.x + ((next.x - point.x) / (outLength || 1)) * r,
      y: point.y + ((next.y - point.y) / (outLength || 1)) * r,
    };
    d += ` L${before.x},${before.y} Q${point.x},${point.y} ${after.x},${after.y}`;
  }
  const last = points[points.length - 1];
  d += ` L${last.x},${last.y}`;
  return d;
}

/** Remember `el` as one drawing of the edge, to flash when the edge is taken. */
function addEdgeEl(target, edgeId, el) {
  const list = target.edgeEls.get(edgeId) ?? [];
  list.push(el);
  target.edgeEls.set(edgeId, list);
}

/** Mark a drawn edge (or self row) as just taken, for a moment. */
export function flashTaken(el) {
  el.classList.add('taken');
  setTimeout(() => el.classList.remove('taken'), 900);
}

/** Index the graph's states by id and by path, for the snapshots to find them. */
function indexGraph(target, layout) {
  target.layout = layout;
  target.graph = layout.graph;
  for (const node of layout.graph.nodes) {
    target.nodes.set(node.id, node);
    target.byPath.set(node.path.join('.'), node.id);
  }
}

function chartRoot(layout) {
  const root = svg('svg', {
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    role: 'img',
    'aria-label': `statechart of ${layout.graph.id}`,
    'data-machine': layout.graph.id,
  });
  root.style.maxWidth = `${Math.round(layout.width * 1.3)}px`;
  return root;
}

function drawMarkers(root) {
  const defs = svg('defs', {}, root);
  for (const [id, color] of MARKERS) {
    const marker = svg(
      'marker',
      {
        id,
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: 'auto-start-reverse',
      },
      defs,
    );
    svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: color }, marker);
  }
}

/** The dot an initial transition starts from. */
function drawInitialDot(item, layer) {
  svg(
    'circle',
    {
      class: 'initial-dot',
      cx: item.x + item.width / 2,
      cy: item.y + item.height / 2,
      r: item.width / 2 - 1,
      'data-initial-of': item.stateId,
    },
    layer,
  );
}

/** The box that a state's transitions on any event start from. */
function drawAnyBox(item, layer) {
  const g = svg('g', { class: 'any', 'data-any-of': item.stateId }, layer);
  svg('rect', { x: item.x, y: item.y, width: item.width, height: item.height, rx: 12 }, g);
  svg('text', { x: item.x + 10, y: item.y + item.height / 2 + 4 }, g).textContent = item.title;
}

/** A state's box: its outline (doubled when final), its name, and its kind unless atomic. */
function drawStateBox(g, item, node) {
  const isRoot = node.parent === null;
  svg('title', {}, g).textContent = node.description ?? `${node.id} (${node.type})`;
  svg(
    'rect',
    {
      class: 'body',
      x: item.x,
      y: item.y,
      width: item.width,
      height: item.height,
      rx: isRoot ? 14 : 10,
    },
    g,
  );
  if (node.type === 'final') {
    svg(
      'rect',
      {
        class: 'inner',
        x: item.x + 4,
        y: item.y + 4,
        width: item.width - 8,
        height: item.height - 8,
        rx: 7,
      },
      g,
    );
  }
  svg('text', { class: 'title', x: item.x + 14, y: item.y + 22 }, g).textContent = item.title;
  const kind = isRoot ? 'machine' : node.type === 'atomic' ? '' : node.type;
  if (kind !== '') {
    svg(
      'text',
      { class: 'kind', x: item.x + item.width - 12, y: item.y + 21, 'text-anchor': 'end' },
      g,
    ).textContent = kind;
  }
}

/**
 * The rows under a state's name: transitions that stay in it ("self", flashed when taken like
 * edges) and the rest ("entry …", "invoke …"), whose first word is a keyword.
 */
function drawRows(target, g, item) {
  if (item.rows.length === 0) return;
  svg(
    'line',
    {
      class: 'divider',
      x1: item.x + 1,
      x2: item.x + item.width - 1,
      y1: item.y + TITLE_BAND,
      y2: item.y + TITLE_BAND,
    },
    g,
  );
  item.rows.forEach((row, index) => {
    const attrs = {
      class: `row ${row.kind}`,
      x: item.x + 14,
      y: item.y + TITLE_BAND + 16 + index * ROW_HEIGHT,
    };
    let text;
    if (row.kind === 'self') {
      text = labelText(g, row.text, { ...attrs, 'data-edge': row.edgeId });
      addEdgeEl(target, row.edgeId, text);
    } else {
      text = svg('text', attrs, g);
      const space = row.text.indexOf(' ');
      svg('tspan', { class: 'kw' }, text).textContent = row.text.slice(0, space);
      svg('tspan', {}, text).textContent = row.text.slice(space);
    }
    if (row.detail) svg('title', {}, text).textContent = row.detail;
  });
}

function drawState(target, item, layer) {
  const node = target.nodes.get(item.id);
  const classes = ['state', node.type];
  if (node.children.length > 0) classes.push('compound');
  if (node.parent === null) classes.push('root');
  const g = svg(
    'g',
    {
      class: classes.join(' '),
      'data-state': node.id,
      'data-path': node.path.join('.'),
      'data-type': node.type,
      'data-tone': toneOf(node),
    },
    layer,
  );
  target.stateEls.set(node.id, g);
  drawStateBox(g, item, node);
  drawRows(target, g, item);
}

function drawEdgeLabel(g, label) {
  const box = svg('g', { class: 'label' }, g);
  svg('rect', { x: label.x, y: label.y, width: label.width, height: label.height, rx: 5 }, box);
  const middle = label.y + label.height / 2 + 4;
  const firstLine = label.stacked ? middle - LABEL_LINE / 2 : middle;
  labelText(box, label.text, { x: label.x + 5, y: firstLine }, label.stacked);
}

function drawEdge(target, item, edgesById, layer) {
  const g = svg(
    'g',
    {
      class: `edge ${item.kind}`,
      'data-edge': item.edgeId ?? item.id,
      'data-source': item.source,
      'data-target': item.target,
    },
    layer,
  );
  const graphEdge = item.edgeId ? edgesById.get(item.edgeId) : null;
  if (graphEdge) {
    svg('title', {}, g).textContent =
      `${graphEdge.label}${item.detail ? `\n${item.detail}` : ''}\n${graphEdge.source} → ${item.target}`;
  }
  svg(
    'path',
    {
      d: roundedPath(item.points),
      'marker-end': item.kind === 'initial' ? 'url(#arrow-initial)' : 'url(#arrow)',
    },
    g,
  );
  if (item.label) drawEdgeLabel(g, item.label);
  if (item.edgeId) addEdgeEl(target, item.edgeId, g);
}

/** Draw `layout` into `container`, keeping its elements in `target` (a chartView). */
export function drawChart(layout, target, container) {
  indexGraph(target, layout);
  const root = chartRoot(layout);
  drawMarkers(root);
  // States go under the edges, so that arrows and labels stay visible over nested boxes.
  const nodeLayer = svg('g', { class: 'nodes' }, root);
  const edgeLayer = svg('g', { class: 'edges' }, root);
  // Parents before children, so a child's box is drawn over its parent's.
  const byDepth = [...layout.nodes].sort((a, b) => a.depth - b.depth);
  for (const item of byDepth) {
    if (item.kind === 'initial') drawInitialDot(item, nodeLayer);
    else if (item.kind === 'any') drawAnyBox(item, nodeLayer);
    else drawState(target, item, nodeLayer);
  }
  const edgesById = new Map(layout.graph.edges.map((edge) => [edge.id, edge]));
  for (const item of layout.edges) drawEdge(target, item, edgesById, edgeLayer);
  container.replaceChildren(root);
}
