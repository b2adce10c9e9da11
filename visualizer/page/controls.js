// The control buttons: each runs a function on the server (over the WebSocket), and the log
// below them shows how it went.
import { $, html } from './dom.js?token={{token}}';
import { view } from './view.js?token={{token}}';

const MAX_LOG_ROWS = 20;

let controlSeq = 0;

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

export function renderControls(names) {
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

/** "— ok (12 ms) result", "— Error: why" or "— running", after the control's name. */
function outcomeText(message, pending) {
  if (message.status === 'ok') {
    const result =
      message.result === null || message.result === undefined ? '' : JSON.stringify(message.result);
    return ` — ok${pending ? ` (${Date.now() - pending.started} ms)` : ''}${result ? ` ${result}` : ''}`;
  }
  if (message.status === 'error') {
    const error = message.error ?? {};
    return ` — ${error.name ? `${error.name}: ` : ''}${error.message ?? 'failed'}`;
  }
  return ' — running';
}

/** A control's row in the log, made on its first message and rewritten on each later one. */
export function logControl(message) {
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
  const pending = view.controlLog.get(message.id);
  const text = message.name + outcomeText(message, pending);
  html('span', {}, li, text);
  li.title = text;
  while (log.children.length > MAX_LOG_ROWS) log.lastElementChild.remove();
  if (message.status !== 'started' && pending) {
    pending.button.dataset.busy = 'false';
    view.controlLog.delete(message.id);
  }
}

/** The connection dropped: no answer will come to the controls still running. */
export function releaseControls() {
  for (const pending of view.controlLog.values()) pending.button.dataset.busy = 'false';
  view.controlLog.clear();
}
