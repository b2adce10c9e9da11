/**
 * The window of requests in flight, as one pure step per event: given the
 * queue, the window and the event, what the event answers, what it skips,
 * what it refuses, and what the window writes next. The connection chart
 * runs one step per event and carries out what it says; every rule about
 * the order of requests lives here.
 *
 * overlayd answers one connection's requests strictly in order and reads
 * nothing ahead, so requests written back to back wait in the socket buffer;
 * correlation stays by id. Arrays are never mutated: the context is
 * immutable, and a step that changes nothing hands back the same array, so
 * the usual cases (a tick's requests fit the window; a read answers the
 * window's oldest, in order) copy nothing they do not have to.
 */
import type { OverlaydResponse } from '../src/protocol/index.js';
import type { RequestRef } from './connection.types.js';

/** How many given-up ids are remembered, to tell late responses from unknown ones. */
export const LATE_IDS_REMEMBERED = 64;

const NONE: RequestRef[] = [];
const NO_ANSWERS: Answer[] = [];
const NO_STRAYS: StrayResponse[] = [];

/** A response decoded from the socket, as the socket actor reports it. */
export interface ResponseRef {
  id: string;
  response: OverlaydResponse;
}

/** A request answered by a response. */
export interface Answer {
  token: number;
  response: OverlaydResponse;
}

/** A response that matched nothing in flight. */
export interface StrayResponse {
  id: string;
  reason: 'late' | 'unknown';
}

/** What a step reads: the chart context's requests and limits. */
export interface RequestWindow {
  /** Requests not yet written, oldest first. */
  queue: RequestRef[];
  /** Requests written and not yet answered, oldest first. */
  inFlight: RequestRef[];
  /** Ids given up on while in flight, newest last. */
  lateIds: string[];
  maxInFlight: number;
  queueLimit: number;
}

/** What one event does to the window. */
export interface WindowStep {
  queue: RequestRef[];
  inFlight: RequestRef[];
  lateIds: string[];
  /** The requests the event answered, oldest first. */
  answers: Answer[];
  /** The responses that answered nothing in flight. */
  strays: StrayResponse[];
  /** Arriving requests with no room to wait: they fail unsent. */
  refused: RequestRef[];
  /** Requests the window took from the queue: written now, in one write. */
  write: RequestRef[];
}

/**
 * Requests arrive on a connection (the calls of one tick, oldest first). They
 * join the queue, which holds `queueLimit` beyond what the window takes at
 * once; the rest are refused. The window then takes the oldest queued, as
 * many as it has room for.
 */
export function arrive(window: RequestWindow, requests: RequestRef[]): WindowStep {
  const room = window.maxInFlight - window.inFlight.length;
  if (window.queue.length === 0 && requests.length <= room) {
    // The usual case: all of them go straight out. The event's array is
    // changed by no one, so the context may hold it as it is.
    const inFlight = window.inFlight.length === 0 ? requests : window.inFlight.concat(requests);
    return outcome(window.queue, inFlight, window.lateIds, NO_ANSWERS, NO_STRAYS, NONE, requests);
  }
  const { queue, refused } = admit(window, requests, window.queueLimit + Math.max(0, room));
  return fill(window, queue, window.inFlight, NO_ANSWERS, NO_STRAYS, refused);
}

/**
 * Requests arrive with no connection to write to: they wait in the queue
 * while it has room, and the rest are refused.
 */
export function wait(window: RequestWindow, requests: RequestRef[]): WindowStep {
  const { queue, refused } = admit(window, requests, window.queueLimit);
  return outcome(queue, window.inFlight, window.lateIds, NO_ANSWERS, NO_STRAYS, refused, NONE);
}

/**
 * One socket read's responses arrive, in order. Each answers the request in
 * flight with its id; one matching nothing is a stray, late if it was given
 * up on. The answered leave the window, which refills from the queue.
 */
export function respond(window: RequestWindow, responses: readonly ResponseRef[]): WindowStep {
  if (answersOldest(window.inFlight, responses)) {
    // The usual case: the read answers the oldest in flight, in their order.
    const answers = responses.map((r, i) => ({
      token: (window.inFlight[i] as RequestRef).token,
      response: r.response,
    }));
    const left =
      responses.length === window.inFlight.length ? NONE : window.inFlight.slice(responses.length);
    return { ...fill(window, window.queue, left), answers };
  }
  const settled = settle(window, responses);
  return {
    ...fill(settled, window.queue, settled.inFlight),
    answers: settled.answers,
    strays: settled.strays,
  };
}

/**
 * Responses arrive while no connection is ready to write (before one is
 * up): they answer what they name, and nothing is written.
 */
export function receive(window: RequestWindow, responses: readonly ResponseRef[]): WindowStep {
  const settled = settle(window, responses);
  return outcome(
    window.queue,
    settled.inFlight,
    settled.lateIds,
    settled.answers,
    settled.strays,
    NONE,
    NONE,
  );
}

/**
 * A request in flight is given up (its deadline passed, its response could
 * not be decoded, or the connection broke the protocol while it was the
 * oldest). It leaves the window, its id is remembered so its answer counts
 * as late, and the window refills.
 */
export function giveUp(window: RequestWindow, token: number): WindowStep {
  const request = window.inFlight.find((r) => r.token === token);
  if (request === undefined) return fill(window, window.queue, window.inFlight);
  const kept = window.inFlight.filter((r) => r.token !== token);
  return fill(
    { ...window, lateIds: remember(window.lateIds, request.id) },
    window.queue,
    kept.length === 0 ? NONE : kept,
  );
}

/** The window takes the oldest queued requests, as many as it has room for. */
export function refill(window: RequestWindow): WindowStep {
  return fill(window, window.queue, window.inFlight);
}

/** The queue with as many arrivals as `capacity` leaves room for; the rest are refused. */
function admit(
  window: RequestWindow,
  requests: RequestRef[],
  capacity: number,
): { queue: RequestRef[]; refused: RequestRef[] } {
  const taken = Math.max(0, Math.min(requests.length, capacity - window.queue.length));
  if (taken === 0) return { queue: window.queue, refused: requests };
  const admitted = taken === requests.length ? requests : requests.slice(0, taken);
  return {
    queue: window.queue.length === 0 ? admitted : window.queue.concat(admitted),
    refused: taken === requests.length ? NONE : requests.slice(taken),
  };
}

/** Match each response to the request in flight with its id; the rest are strays. */
function settle(
  window: RequestWindow,
  responses: readonly ResponseRef[],
): RequestWindow & { answers: Answer[]; strays: StrayResponse[] } {
  const answers: Answer[] = [];
  const strays: StrayResponse[] = [];
  let inFlight = window.inFlight;
  let lateIds = window.lateIds;
  for (const { id, response } of responses) {
    const at = inFlight.findIndex((r) => r.id === id);
    if (at >= 0) {
      answers.push({ token: (inFlight[at] as RequestRef).token, response });
      inFlight = inFlight.filter((_, i) => i !== at);
    } else if (lateIds.includes(id)) {
      strays.push({ id, reason: 'late' });
      lateIds = lateIds.filter((late) => late !== id);
    } else {
      strays.push({ id, reason: 'unknown' });
    }
  }
  return { ...window, inFlight, lateIds, answers, strays };
}

/** True when `responses` answer the oldest requests in flight one for one, in their order. */
function answersOldest(inFlight: RequestRef[], responses: readonly ResponseRef[]): boolean {
  if (responses.length === 0 || responses.length > inFlight.length) return false;
  for (let i = 0; i < responses.length; i++) {
    if ((responses[i] as ResponseRef).id !== (inFlight[i] as RequestRef).id) return false;
  }
  return true;
}

/** The window takes the oldest of `queue`, as many as `inFlight` leaves room for. */
function fill(
  window: RequestWindow,
  queue: RequestRef[],
  inFlight: RequestRef[],
  answers: Answer[] = NO_ANSWERS,
  strays: StrayResponse[] = NO_STRAYS,
  refused: RequestRef[] = NONE,
): WindowStep {
  const room = window.maxInFlight - inFlight.length;
  if (room <= 0 || queue.length === 0) {
    return outcome(queue, inFlight, window.lateIds, answers, strays, refused, NONE);
  }
  const write = queue.length <= room ? queue : queue.slice(0, room);
  return outcome(
    write === queue ? NONE : queue.slice(room),
    inFlight.length === 0 ? write : inFlight.concat(write),
    window.lateIds,
    answers,
    strays,
    refused,
    write,
  );
}

/** A step's outcome, built in one allocation (this runs for every request). */
function outcome(
  queue: RequestRef[],
  inFlight: RequestRef[],
  lateIds: string[],
  answers: Answer[],
  strays: StrayResponse[],
  refused: RequestRef[],
  write: RequestRef[],
): WindowStep {
  return { queue, inFlight, lateIds, answers, strays, refused, write };
}

/** Ids given up on, newest last, at most LATE_IDS_REMEMBERED of them. */
function remember(lateIds: string[], id: string): string[] {
  const all = lateIds.concat(id);
  return all.length > LATE_IDS_REMEMBERED ? all.slice(all.length - LATE_IDS_REMEMBERED) : all;
}
