// The charts following their actors: the active states marked on the main chart and on each
// companion, from the snapshots the server relays.
import { renderCompanionContext, renderContext } from './context.js?token={{token}}';
import { $, html } from './dom.js?token={{token}}';
import { drawChart, flashTaken, toneOf } from './draw.js?token={{token}}';
import { chartView, companions, view } from './view.js?token={{token}}';

/** The ids of the states active in `value` (a snapshot's state value), the root's included. */
function activeIds(value, target) {
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

/** A state value as its active leaves' paths: "session.connected", or several comma-separated. */
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
  renderContext(snapshot.context);
}

export function onSnapshot(message) {
  if (!view.graph || message.machineId !== view.graph.id) return;
  const active = message.snapshot.status === 'active';
  // A stopped session does not take the picture from a live one.
  if (message.sessionId !== view.sessionId && !active && view.sessionActive) return;
  view.sessionId = message.sessionId;
  view.sessionActive = active;
  view.snapshot = message;
  applySnapshot(message);
}

/** Draw a companion chart below the main one, with its state pill and its context. */
export function addCompanion(layout) {
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

export function onCompanionSnapshot(message) {
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

/** Flash the transitions a companion took (its edge ids are its own). */
export function onCompanionMicrostep(message) {
  for (const target of companions) {
    for (const taken of message.transitions ?? []) {
      for (const el of target.edgeEls.get(taken.edgeId) ?? []) flashTaken(el);
    }
  }
}
