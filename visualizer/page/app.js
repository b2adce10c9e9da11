// The visualizer page: draws the laid-out statechart from /graph.json as SVG,
// then follows the inspection messages relayed over /ws. Plain DOM, no framework,
// nothing loaded from anywhere but this server.

const SVG_NS = 'http://www.w3.org/2000/svg';
const TITLE_BAND = 34;
const ROW_HEIGHT = 18;
const LABEL_LINE = 14;
const MAX_TIMELINE_ROWS = 200;
const MAX_EVENT_ROWS = 60;

const token = new URLSearchParams(location.search).get('token') ?? '';
const withToken = (path) => `${path}?token=${encodeURIComponent(token)}`;

/** What one drawn chart keeps: its graph and its elements. */
function chartView() {
  return {
    layout: null,
    graph: null,
    /** state id → <g> */
    stateEls: new Map(),
    /** graph edge id → [<g>] (drawn edges and targetless rows) */
    edgeEls: new Map(),
    /** path "session.connecting" → state id */
    byPath: new Map(),
    /** state id → node */
    nodes: new Map(),
  };
}

/** Companion charts drawn below the main one (the overlay manager's, beside the connection's). */
const companions = [];

const view = {
  ...chartView(),
  sessionId: null,
  sessionActive: false,
  snapshot: null,
  /** sessionId → actor id, to name event sources */
  actorNames: new Map(),
  /** "<session> <timer id>" → { sessionId, id, delayMs, at } */
  scheduled: new Map(),
  lastEdges: [],
  lastTransitionAt: null,
  controlLog: new Map(),
  eventCount: 0,
  ws: null,
  reconnectDelay: 500,
};

const $ = (id) => document.getElementById(id);

function svg(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (parent) parent.appendChild(node);
  return node;
}

function html(tag, props = {}, parent = null, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'className') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function toneOf(node) {
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

function addEdgeEl(target, edgeId, el) {
  const list = target.edgeEls.get(edgeId) ?? [];
  list.push(el);
  target.edgeEls.set(edgeId, list);
}

function drawChart(layout, target = view, container = $('chart')) {
  const { graph } = layout;
  target.layout = layout;
  target.graph = graph;
  for (const node of graph.nodes) {
    target.nodes.set(node.id, node);
    target.byPath.set(node.path.join('.'), node.id);
  }
  const edgesById = new Map(graph.edges.map((edge) => [edge.id, edge]));

  const root = svg('svg', {
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    role: 'img',
    'aria-label': `statechart of ${graph.id}`,
    'data-machine': graph.id,
  });
  root.style.maxWidth = `${Math.round(layout.width * 1.3)}px`;

  const defs = svg('defs', {}, root);
  for (const [id, color] of [
    ['arrow', '#5d6d8e'],
    ['arrow-taken', '#34d399'],
    ['arrow-initial', '#8593b0'],
  ]) {
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

  const nodeLayer = svg('g', { class: 'nodes' }, root);
  const edgeLayer = svg('g', { class: 'edges' }, root);

  const drawn = [...layout.nodes].sort((a, b) => a.depth - b.depth);
  for (const item of drawn) {
    if (item.kind === 'initial') {
      svg(
        'circle',
        {
          class: 'initial-dot',
          cx: item.x + item.width / 2,
          cy: item.y + item.height / 2,
          r: item.width / 2 - 1,
          'data-initial-of': item.stateId,
        },
        nodeLayer,
      );
      continue;
    }
    if (item.kind === 'any') {
      const g = svg('g', { class: 'any', 'data-any-of': item.stateId }, nodeLayer);
      svg('rect', { x: item.x, y: item.y, width: item.width, height: item.height, rx: 12 }, g);
      svg('text', { x: item.x + 10, y: item.y + item.height / 2 + 4 }, g).textContent = item.title;
      continue;
    }
    const node = target.nodes.get(item.id);
    const isRoot = node.parent === null;
    const compound = node.children.length > 0;
    const classes = ['state', node.type];
    if (compound) classes.push('compound');
    if (isRoot) classes.push('root');
    const g = svg(
      'g',
      {
        class: classes.join(' '),
        'data-state': node.id,
        'data-path': node.path.join('.'),
        'data-type': node.type,
        'data-tone': toneOf(node),
      },
      nodeLayer,
    );
    target.stateEls.set(node.id, g);
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
    if (item.rows.length > 0) {
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
    }
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

  for (const item of layout.edges) {
    const classes = ['edge', item.kind];
    const g = svg(
      'g',
      {
        class: classes.join(' '),
        'data-edge': item.edgeId ?? item.id,
        'data-source': item.source,
        'data-target': item.target,
      },
      edgeLayer,
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
    if (item.label) {
      const label = svg('g', { class: 'label' }, g);
      svg(
        'rect',
        {
          x: item.label.x,
          y: item.label.y,
          width: item.label.width,
          height: item.label.height,
          rx: 5,
        },
        label,
      );
      const firstLine = item.label.stacked
        ? item.label.y + item.label.height / 2 + 4 - LABEL_LINE / 2
        : item.label.y + item.label.height / 2 + 4;
      labelText(label, item.label.text, { x: item.label.x + 5, y: firstLine }, item.label.stacked);
    }
    if (item.edgeId) addEdgeEl(target, item.edgeId, g);
  }

  container.replaceChildren(root);
}

// ---- state ----

function activeIds(value, target = view) {
  const ids = new Set();
  if (target.graph) ids.add(target.graph.root);
  const walk = (prefix, current) => {
    if (typeof current === 'string') {
      const id = target.byPath.get([...prefix, current].join('.'));
      if (id) ids.add(id);
      return;
    }
    if (!current || typeof current !== 'object') return;
    for (const [key, inner] of Object.entries(current)) {
      const path = [...prefix, key];
      const id = target.byPath.get(path.join('.'));
      if (id) ids.add(id);
      walk(path, inner);
    }
  };
  walk([], value);
  return ids;
}

function valueText(value) {
  const leaves = [];
  const walk = (prefix, current) => {
    if (typeof current === 'string') {
      leaves.push([...prefix, current].join('.'));
      return;
    }
    if (!current || typeof current !== 'object') return;
    for (const [key, inner] of Object.entries(current)) walk([...prefix, key], inner);
  };
  walk([], value);
  return leaves.join(', ');
}

/** Marks the active states of `target`'s chart; returns the active leaf's tone. */
function highlight(target, value) {
  const active = activeIds(value, target);
  let leafTone = 'default';
  for (const [id, el] of target.stateEls) {
    const on = active.has(id);
    const node = target.nodes.get(id);
    const leaf = on && !node.children.some((child) => active.has(child));
    el.classList.toggle('active', on);
    el.classList.toggle('leaf', leaf);
    el.setAttribute('data-active', on ? 'true' : 'false');
    if (leaf) leafTone = toneOf(node);
  }
  return leafTone;
}

function applySnapshot(message) {
  const { snapshot } = message;
  const leafTone = highlight(view, snapshot.value);
  const pill = $('current-state');
  pill.textContent = valueText(snapshot.value) || '—';
  pill.dataset.tone = snapshot.status === 'active' ? leafTone : 'done';
  document.body.dataset.state = valueText(snapshot.value);
  const status = $('actor-status');
  status.textContent = `${message.machineId ?? message.actorId} ${message.sessionId} · ${snapshot.status}`;
  const eventType = message.event && typeof message.event === 'object' ? message.event.type : '';
  $('context-event').textContent = eventType ? `after ${eventType}` : '';
  renderContext(snapshot.context, snapshot.value);
}

function onSnapshot(message) {
  if (!view.graph || message.machineId !== view.graph.id) return;
  const active = message.snapshot.status === 'active';
  // A stopped session does not take the picture from a live one.
  if (message.sessionId !== view.sessionId && !active && view.sessionActive) return;
  view.sessionId = message.sessionId;
  view.sessionActive = active;
  view.snapshot = message;
  applySnapshot(message);
}

// ---- companion charts ----

function addCompanion(layout) {
  const target = { ...chartView(), sessionId: null, sessionActive: false };
  const section = html('div', { className: 'companion', dataset: { machine: layout.graph.id } });
  const head = html('div', { className: 'panel-head' }, section);
  html('h2', {}, head, layout.graph.id);
  target.pill = html(
    'span',
    { className: 'pill pill-state', dataset: { tone: 'idle' } },
    head,
    '—',
  );
  const chart = html('div', { className: 'chart' }, section);
  target.context = html('div', { className: 'context companion-context' }, section);
  $('companions').appendChild(section);
  drawChart(layout, target, chart);
  companions.push(target);
}

function onCompanionSnapshot(message) {
  for (const target of companions) {
    if (message.machineId !== target.graph.id) continue;
    const active = message.snapshot.status === 'active';
    if (message.sessionId !== target.sessionId && !active && target.sessionActive) continue;
    target.sessionId = message.sessionId;
    target.sessionActive = active;
    const tone = highlight(target, message.snapshot.value);
    target.pill.textContent = valueText(message.snapshot.value) || '—';
    target.pill.dataset.tone = active ? tone : 'done';
    renderCompanionContext(target.context, message.snapshot.context);
  }
}

/** A companion's context: its scalars and small records as metrics, the rest raw. */
function renderCompanionContext(box, context) {
  box.replaceChildren();
  if (!context || typeof context !== 'object') return;
  const grid = html('div', { className: 'grid' }, box);
  for (const [key, value] of Object.entries(context)) {
    if (value === null || typeof value !== 'object') {
      metric(grid, key, value === null ? 'none' : String(value), {
        tone: value === null ? 'none' : '',
      });
    } else if (key === 'declared') {
      const parts = Object.entries(value).filter(([, count]) => count > 0);
      metric(
        grid,
        key,
        parts.length === 0 ? 'nothing' : parts.map(([k, n]) => `${n} ${k}`).join(', '),
        {
          wide: true,
        },
      );
    } else if (key === 'lastFailure') {
      metric(grid, key, `${value.step}: ${value.answer ?? value.message}`, {
        wide: true,
        tone: 'danger',
      });
    } else if (key === 'lastResync') {
      metric(
        grid,
        key,
        `${value.overlayd}, ${value.reapplied.length} re-applied in ${value.durationMs} ms`,
        {
          wide: true,
        },
      );
    }
  }
  const details = html('details', { className: 'raw' }, box);
  html('summary', {}, details, 'raw context');
  html('pre', {}, details, JSON.stringify(context, null, 2));
}

/** Flash the transitions a companion took (its edge ids are its own). */
function onCompanionMicrostep(message) {
  for (const target of companions) {
    for (const taken of message.transitions ?? []) {
      for (const el of target.edgeEls.get(taken.edgeId) ?? []) {
        el.classList.add('taken');
        setTimeout(() => el.classList.remove('taken'), 900);
      }
    }
  }
}

// ---- context ----

function metric(parent, key, value, options = {}) {
  const box = html('div', { className: `metric${options.wide ? ' wide' : ''}` }, parent);
  html('div', { className: 'k' }, box, key);
  const v = html('div', { className: `v ${options.tone ?? ''}` }, box, value);
  if (options.small) html('small', {}, v, ` ${options.small}`);
  if (options.id) v.id = options.id;
  if (options.title) box.title = options.title;
  return v;
}

function currentTimer() {
  for (const timer of view.scheduled.values()) {
    if (timer.sessionId === view.sessionId) return timer;
  }
  return null;
}

function inState(value, key) {
  return valueText(value)
    .split(', ')
    .some((leaf) => leaf === key || leaf.startsWith(`${key}.`));
}

function renderContext(context, value) {
  const box = $('context');
  box.replaceChildren();
  if (context === undefined) {
    html('p', { className: 'empty' }, box, 'This actor has no context.');
    return;
  }
  const looksLikeConnection =
    context && typeof context === 'object' && 'attempt' in context && 'stats' in context;
  if (looksLikeConnection) {
    const grid = html('div', { className: 'grid' }, box);
    metric(grid, 'attempt', `${context.attempt}`, {
      small: `/ ${context.maxAttempts}`,
      title: `reconnect budget ${context.reconnectAttempts}`,
    });
    const timer = currentTimer();
    const retry = metric(grid, 'next attempt', timer ? '' : '—', {
      id: 'next-retry',
      tone: timer ? 'warn' : 'none',
    });
    if (timer) updateCountdown(retry, timer);
    else if (inState(value, 'backoff') && context.backoff) {
      const b = context.backoff;
      const exact = Math.min(
        b.initialDelayMs * b.multiplier ** (Math.max(context.attempt, 1) - 1),
        b.maxDelayMs,
      );
      retry.textContent = `${exact} ms`;
      retry.className = 'v warn';
    }
    // Written and unanswered, oldest first: the oldest, and how many beside it.
    const window = Array.isArray(context.inFlight) ? context.inFlight : [];
    const flight = window[0];
    metric(
      grid,
      'in flight',
      flight
        ? `#${flight.id} ${flight.op}${window.length > 1 ? ` +${window.length - 1}` : ''}`
        : 'none',
      {
        wide: true,
        tone: flight ? '' : 'none',
        small: flight ? `${window.length} / ${context.maxInFlight ?? 1}` : undefined,
        title: window.map((q) => `#${q.id} ${q.op}`).join('\n'),
      },
    );
    const queue = Array.isArray(context.queue) ? context.queue : [];
    metric(grid, 'queue', `${queue.length}`, {
      small: `/ ${context.queueLimit}`,
      title: queue.map((q) => `#${q.id} ${q.op}`).join('\n'),
      tone: queue.length > 0 ? 'warn' : '',
    });
    const lateIds = Array.isArray(context.lateIds) ? context.lateIds : [];
    metric(grid, 'late ids', lateIds.length === 0 ? 'none' : `${lateIds.length}`, {
      tone: lateIds.length === 0 ? 'none' : '',
      small: lateIds.length === 0 ? undefined : `#${lateIds.slice(-4).join(', #')}`,
      title: lateIds.join(', '),
    });
    const error = context.lastError;
    metric(grid, 'last error', error ? `${error.code}: ${error.message}` : 'none', {
      wide: true,
      tone: error ? 'danger' : 'none',
      title: error ? `${error.code}: ${error.message}` : '',
    });
    metric(grid, 'endpoint', String(context.endpoint ?? ''), { wide: true });

    const stats = html('div', { className: 'stats' }, box);
    for (const key of ['sent', 'answered', 'late', 'unknown', 'events', 'dropped', 'connections']) {
      const count = context.stats?.[key] ?? 0;
      const hot = ['late', 'unknown', 'dropped'].includes(key) && count > 0;
      const cell = html(
        'div',
        { className: `stat${hot ? ' hot' : ''}`, dataset: { stat: key } },
        stats,
      );
      html('b', {}, cell, String(count));
      html('span', {}, cell, key);
    }
  }
  const details = html('details', { className: 'raw' }, box);
  if (!looksLikeConnection) details.open = true;
  html('summary', {}, details, 'raw context');
  html('pre', {}, details, JSON.stringify(context, null, 2));
}

function updateCountdown(el, timer) {
  const left = Math.max(0, timer.at + timer.delayMs - Date.now());
  el.textContent = `in ${left} ms`;
  const small = document.createElement('small');
  small.textContent = ` of ${timer.delayMs} ms`;
  el.appendChild(small);
}

function tick() {
  const el = $('next-retry');
  const timer = currentTimer();
  if (el && timer) updateCountdown(el, timer);
}

// ---- timers (after) ----

function onAction(message) {
  const { type, params } = message.action;
  if (type === 'xstate.raise' && params && typeof params.delay === 'number') {
    if (typeof params.id === 'string' && params.id.startsWith('xstate.after.')) {
      view.scheduled.set(`${message.sessionId} ${params.id}`, {
        sessionId: message.sessionId,
        id: params.id,
        delayMs: params.delay,
        at: Number(message.createdAt),
      });
    }
  } else if (type === 'xstate.cancel' && params && typeof params.sendId === 'string') {
    view.scheduled.delete(`${message.sessionId} ${params.sendId}`);
  }
}

function onMicrostep(message) {
  const type = message.event && typeof message.event === 'object' ? message.event.type : '';
  view.scheduled.delete(`${message.sessionId} ${type}`);
}

// ---- events ----

function clock(ms) {
  const date = new Date(ms);
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function summarize(event) {
  if (!event || typeof event !== 'object') return '';
  const { type: _type, ...rest } = event;
  const text = JSON.stringify(rest);
  return text === '{}' ? '' : text;
}

function onEvent(message, prepend = true) {
  if (!view.graph) return;
  if (message.sessionId !== view.sessionId) return;
  const list = $('events');
  const li = html('li', {});
  html('span', { className: 't' }, li, clock(Number(message.createdAt)));
  const body = html('span', {}, li);
  const type = message.event?.type ?? '?';
  html('span', { className: 'type' }, body, friendlyEvent(type));
  const source =
    message.sourceId === undefined || message.sourceId === null
      ? 'host'
      : message.sourceId === message.sessionId
        ? 'self'
        : (view.actorNames.get(message.sourceId) ?? message.sourceId);
  html('span', { className: 'from' }, body, `  ← ${source}`);
  const payload = summarize(message.event);
  if (payload) {
    const p = html('span', { className: 'payload' }, body, payload);
    p.title = payload;
  }
  if (prepend) list.prepend(li);
  else list.appendChild(li);
  while (list.children.length > MAX_EVENT_ROWS) list.lastElementChild.remove();
  view.eventCount += 1;
  $('event-count').textContent = `${view.eventCount}`;
}

// ---- timeline ----

function flash(edgeIds, persistent) {
  if (persistent) {
    for (const el of view.lastEdges) el.classList.remove('last');
    view.lastEdges = [];
  }
  for (const edgeId of edgeIds) {
    for (const el of view.edgeEls.get(edgeId) ?? []) {
      if (persistent) {
        el.classList.add('last');
        view.lastEdges.push(el);
      }
      el.classList.add('taken');
      setTimeout(() => el.classList.remove('taken'), 900);
    }
  }
}

function onTransition(entry, live = true) {
  const body = $('timeline');
  const tr = html('tr', {
    className: entry.targetless ? 'targetless' : '',
    dataset: { seq: String(entry.seq), from: entry.from, to: entry.to, event: entry.event },
  });
  html('td', { className: 'time' }, tr, clock(entry.at));
  const delta = view.lastTransitionAt === null ? '' : `+${entry.at - view.lastTransitionAt}`;
  view.lastTransitionAt = entry.at;
  html('td', { className: 'delta' }, tr, delta);
  html('td', { className: 'from' }, tr, entry.from || '●');
  html('td', { className: 'arrow' }, tr, entry.targetless ? '↻' : '→');
  const to = html('td', { className: 'to' }, tr, entry.to);
  if (entry.note) html('span', { className: 'note' }, to, entry.note);
  html('td', { className: 'event' }, tr, friendlyEvent(entry.event));
  body.prepend(tr);
  while (body.children.length > MAX_TIMELINE_ROWS) body.lastElementChild.remove();
  $('timeline-count').textContent = `${body.children.length} shown`;
  // Actions-only transitions flash; the last one that changed state stays marked.
  if (entry.edgeIds.length > 0) flash(entry.edgeIds, !entry.targetless);
  if (!live) {
    for (const el of document.querySelectorAll('.taken')) el.classList.remove('taken');
  }
}

function friendlyEvent(type) {
  if (type.startsWith('xstate.after.') && view.graph) {
    const edge = view.graph.edges.find((e) => e.eventType === type);
    if (edge) return edge.event;
  }
  return type;
}

// ---- controls ----

let controlSeq = 0;

function renderControls(names) {
  const box = $('controls');
  box.replaceChildren();
  if (names.length === 0) {
    html('p', { className: 'empty' }, box, 'No controls.');
    return;
  }
  for (const name of names) {
    const button = html(
      'button',
      {
        type: 'button',
        dataset: { control: name, danger: /kill|stop|close|crash/i.test(name) ? 'true' : 'false' },
      },
      box,
      name,
    );
    button.addEventListener('click', () => runControl(name, button));
  }
}

function runControl(name, button) {
  const id = `c${Date.now()}-${++controlSeq}`;
  if (!view.ws || view.ws.readyState !== WebSocket.OPEN) {
    logControl({ id, name, status: 'error', error: { message: 'not connected' } });
    return;
  }
  button.dataset.busy = 'true';
  view.controlLog.set(id, { button, started: Date.now() });
  view.ws.send(JSON.stringify({ type: 'control', name, id }));
}

function logControl(message) {
  const log = $('control-log');
  let li = log.querySelector(`li[data-id="${CSS.escape(String(message.id))}"]`);
  if (!li) {
    li = html('li', { dataset: { id: String(message.id), name: message.name } });
    log.prepend(li);
  }
  li.dataset.status = message.status;
  li.replaceChildren();
  const mark = message.status === 'ok' ? '✓' : message.status === 'error' ? '✗' : '…';
  html('span', { className: 'mark' }, li, `${mark} `);
  let text = message.name;
  const pending = view.controlLog.get(message.id);
  if (message.status === 'ok') {
    const result =
      message.result === null || message.result === undefined ? '' : JSON.stringify(message.result);
    text += ` — ok${pending ? ` (${Date.now() - pending.started} ms)` : ''}${result ? ` ${result}` : ''}`;
  } else if (message.status === 'error') {
    const error = message.error ?? {};
    text += ` — ${error.name ? `${error.name}: ` : ''}${error.message ?? 'failed'}`;
  } else {
    text += ' — running';
  }
  html('span', {}, li, text);
  li.title = text;
  while (log.children.length > 20) log.lastElementChild.remove();
  if (message.status !== 'started' && pending) {
    pending.button.dataset.busy = 'false';
    view.controlLog.delete(message.id);
  }
}

// ---- wire ----

function onHello(message) {
  view.sessionId = null;
  view.sessionActive = false;
  view.scheduled.clear();
  view.lastTransitionAt = null;
  view.eventCount = 0;
  $('timeline').replaceChildren();
  $('events').replaceChildren();
  renderControls(message.controls ?? []);
  for (const [sessionId, actorId] of Object.entries(message.actors ?? {})) {
    view.actorNames.set(sessionId, actorId);
  }
  for (const timer of message.scheduled ?? []) {
    view.scheduled.set(`${timer.sessionId} ${timer.id}`, timer);
  }
  if (message.current) onSnapshot(message.current);
  for (const current of message.companions ?? []) onCompanionSnapshot(current);
  for (const entry of message.transitions ?? []) onTransition(entry, false);
  for (const event of message.events ?? []) onEvent(event);
  document.documentElement.dataset.ready = 'true';
}

function onMessage(message) {
  if (message.sessionId && message.actorId) {
    view.actorNames.set(message.sessionId, message.actorId);
  }
  switch (message.type) {
    case 'viz.hello':
      onHello(message);
      break;
    case '@xstate.snapshot':
      onSnapshot(message);
      onCompanionSnapshot(message);
      break;
    case '@xstate.event':
      onEvent(message);
      break;
    case '@xstate.action':
      onAction(message);
      break;
    case '@xstate.microstep':
      onMicrostep(message);
      onCompanionMicrostep(message);
      break;
    case 'viz.transition':
      onTransition(message.transition);
      break;
    case 'viz.control':
      logControl(message);
      break;
    default:
      break;
  }
}

function setLink(status, text) {
  const link = $('link');
  link.dataset.link = status;
  link.querySelector('.link-text').textContent = text;
}

function connect() {
  const ws = new WebSocket(`ws://${location.host}${withToken('/ws')}`);
  view.ws = ws;
  setLink('connecting', 'connecting');
  ws.addEventListener('open', () => {
    view.reconnectDelay = 500;
    setLink('live', 'live');
  });
  ws.addEventListener('message', (event) => {
    try {
      onMessage(JSON.parse(event.data));
    } catch (error) {
      console.error('visualizer: bad message', error);
    }
  });
  ws.addEventListener('close', () => {
    setLink('down', 'disconnected');
    for (const pending of view.controlLog.values()) pending.button.dataset.busy = 'false';
    view.controlLog.clear();
    setTimeout(connect, view.reconnectDelay);
    view.reconnectDelay = Math.min(view.reconnectDelay * 2, 5000);
  });
}

async function main() {
  const response = await fetch(withToken('/graph.json'), { cache: 'no-store' });
  if (!response.ok) throw new Error(`graph.json: HTTP ${response.status}`);
  drawChart(await response.json());
  const more = await fetch(withToken('/companions.json'), { cache: 'no-store' });
  if (!more.ok) throw new Error(`companions.json: HTTP ${more.status}`);
  for (const layout of await more.json()) addCompanion(layout);
  document.documentElement.dataset.chart = 'drawn';
  connect();
  setInterval(tick, 100);
}

main().catch((error) => {
  setLink('down', `error: ${error.message}`);
  console.error(error);
});
