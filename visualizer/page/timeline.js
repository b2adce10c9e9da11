// What happened, newest first: the events the main actor received, and the timeline of its
// transitions, which also flashes the edges taken on the chart.
import { $, html } from './dom.js?token={{token}}';
import { flashTaken } from './draw.js?token={{token}}';
import { view } from './view.js?token={{token}}';

const MAX_TIMELINE_ROWS = 200;
const MAX_EVENT_ROWS = 60;

/** hh:mm:ss.mmm, local time. */
function clock(ms) {
  const date = new Date(ms);
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** An event's payload as JSON, without its type ('' when there is nothing else). */
function summarize(event) {
  if (!event || typeof event !== 'object') return '';
  const { type: _type, ...rest } = event;
  const text = JSON.stringify(rest);
  return text === '{}' ? '' : text;
}

/** A delayed transition's event by the delay's name ("after backoffDelay"), not XState's id. */
function friendlyEvent(type) {
  if (type.startsWith('xstate.after.') && view.graph) {
    const edge = view.graph.edges.find((e) => e.eventType === type);
    if (edge) return edge.event;
  }
  return type;
}

/** Who sent an event: the host (no source), the actor itself, or another actor by name. */
function sourceOf(message) {
  if (message.sourceId === undefined || message.sourceId === null) return 'host';
  if (message.sourceId === message.sessionId) return 'self';
  return view.actorNames.get(message.sourceId) ?? message.sourceId;
}

export function onEvent(message, prepend = true) {
  if (!view.graph) return;
  if (message.sessionId !== view.sessionId) return;
  const list = $('events');
  const li = html('li', {});
  html('span', { className: 't' }, li, clock(Number(message.createdAt)));
  const body = html('span', {}, li);
  html('span', { className: 'type' }, body, friendlyEvent(message.event?.type ?? '?'));
  html('span', { className: 'from' }, body, `  ← ${sourceOf(message)}`);
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

/** Flash the edges taken; `persistent` also marks them as the last transition, until the next. */
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
      flashTaken(el);
    }
  }
}

/** A timeline row for a transition; `live` false for the ones replayed to a page that joined late. */
export function onTransition(entry, live = true) {
  // The countdown to the next attempt runs from when the current state was entered.
  if (!entry.targetless) view.enteredState = { sessionId: entry.sessionId, at: entry.at };
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
