// The context panel: the connection's context as metrics and counters (any other context raw),
// and each companion's context beside its chart.
import { $, html } from './dom.js?token={{token}}';
import { view } from './view.js?token={{token}}';

/** Counters of the connection's `stats`; the hot ones are highlighted once above zero. */
const STATS = ['sent', 'answered', 'late', 'unknown', 'events', 'dropped', 'connections'];
const HOT_STATS = ['late', 'unknown', 'dropped'];

/** One labelled value in a grid; returns the value's element. */
function metric(parent, key, value, options = {}) {
  const box = html('div', { className: `metric${options.wide ? ' wide' : ''}` }, parent);
  html('div', { className: 'k' }, box, key);
  const v = html('div', { className: `v ${options.tone ?? ''}` }, box, value);
  if (options.small) html('small', {}, v, ` ${options.small}`);
  if (options.id) v.id = options.id;
  if (options.title) box.title = options.title;
  return v;
}

/** The whole context as JSON, folded unless `open`. */
function rawContext(box, context, open = false) {
  const details = html('details', { className: 'raw' }, box);
  if (open) details.open = true;
  html('summary', {}, details, 'raw context');
  html('pre', {}, details, JSON.stringify(context, null, 2));
}

/**
 * The sleep before the next attempt: the chart's own `retryDelayMs` (null out of backoff),
 * counted down from when the actor entered its current state, which is then backoff.
 */
function showNextAttempt(el, context) {
  const delayMs = context.retryDelayMs;
  if (typeof delayMs !== 'number') {
    el.textContent = '—';
    el.className = 'v none';
    return;
  }
  el.className = 'v warn';
  const entered = view.enteredState;
  if (entered === null || entered.sessionId !== view.sessionId) {
    // The transition into backoff has not reached the page yet: the delay, without a countdown.
    el.textContent = `${delayMs} ms`;
    return;
  }
  el.textContent = `in ${Math.max(0, entered.at + delayMs - Date.now())} ms`;
  html('small', {}, el, ` of ${delayMs} ms`);
}

/** Requests as "#id op" lines, for a tooltip. */
const requestLines = (requests) => requests.map((q) => `#${q.id} ${q.op}`).join('\n');

function connectionMetrics(grid, context) {
  metric(grid, 'attempt', `${context.attempt}`, {
    small: `/ ${context.maxAttempts}`,
    title: `reconnect budget ${context.reconnectAttempts}`,
  });
  showNextAttempt(metric(grid, 'next attempt', '', { id: 'next-retry' }), context);
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
      title: requestLines(window),
    },
  );
  const queue = Array.isArray(context.queue) ? context.queue : [];
  metric(grid, 'queue', `${queue.length}`, {
    small: `/ ${context.queueLimit}`,
    title: requestLines(queue),
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
}

function connectionStats(box, context) {
  const stats = html('div', { className: 'stats' }, box);
  for (const key of STATS) {
    const count = context.stats?.[key] ?? 0;
    const hot = HOT_STATS.includes(key) && count > 0;
    const cell = html(
      'div',
      { className: `stat${hot ? ' hot' : ''}`, dataset: { stat: key } },
      stats,
    );
    html('b', {}, cell, String(count));
    html('span', {}, cell, key);
  }
}

/** The main actor's context; a connection's as metrics, any other machine's raw. */
export function renderContext(context) {
  const box = $('context');
  box.replaceChildren();
  if (context === undefined) {
    html('p', { className: 'empty' }, box, 'This actor has no context.');
    return;
  }
  const looksLikeConnection =
    context && typeof context === 'object' && 'attempt' in context && 'stats' in context;
  if (looksLikeConnection) {
    connectionMetrics(html('div', { className: 'grid' }, box), context);
    connectionStats(box, context);
  }
  rawContext(box, context, !looksLikeConnection);
}

/** Every 100 ms: the countdown to the next attempt moves on. */
export function tick() {
  const el = $('next-retry');
  const context = view.snapshot?.snapshot.context;
  if (el && context) showNextAttempt(el, context);
}

/** A companion's context: its scalars and small records as metrics, the rest raw. */
export function renderCompanionContext(box, context) {
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
        { wide: true },
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
        { wide: true },
      );
    }
  }
  rawContext(box, context);
}
