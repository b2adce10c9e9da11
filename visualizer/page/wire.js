// The wire: what the page fetches from its server and the WebSocket it follows, each message
// handed to the module whose panel it changes. Every request carries the page's token.
import { onCompanionMicrostep, onCompanionSnapshot, onSnapshot } from './charts.js?token={{token}}';
import { logControl, releaseControls, renderControls } from './controls.js?token={{token}}';
import { $ } from './dom.js?token={{token}}';
import { onEvent, onTransition } from './timeline.js?token={{token}}';
import { view } from './view.js?token={{token}}';

const token = new URLSearchParams(location.search).get('token') ?? '';
const withToken = (path) => `${path}?token=${encodeURIComponent(token)}`;

/** GET one of the server's JSON documents (the layouts). */
export async function fetchJson(path) {
  const response = await fetch(withToken(path), { cache: 'no-store' });
  if (!response.ok) throw new Error(`${path.slice(1)}: HTTP ${response.status}`);
  return response.json();
}

/** The server's state on (re)connecting: start the panels over from it. */
function onHello(message) {
  view.sessionId = null;
  view.sessionActive = false;
  view.enteredState = null;
  view.lastTransitionAt = null;
  view.eventCount = 0;
  $('timeline').replaceChildren();
  $('events').replaceChildren();
  renderControls(message.controls ?? []);
  for (const [sessionId, actorId] of Object.entries(message.actors ?? {})) {
    view.actorNames.set(sessionId, actorId);
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
    case '@xstate.microstep':
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

/** The link indicator in the top bar: connecting, live or down. */
export function setLink(status, text) {
  const link = $('link');
  link.dataset.link = status;
  link.querySelector('.link-text').textContent = text;
}

/** Follow the server's WebSocket; when it drops, connect again, waiting longer each time. */
export function connect() {
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
    releaseControls();
    setTimeout(connect, view.reconnectDelay);
    view.reconnectDelay = Math.min(view.reconnectDelay * 2, 5000);
  });
}
