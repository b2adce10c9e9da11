/**
 * The window of requests in flight, as pure functions over the machine's
 * context: which arriving requests may wait, which queued ones the window
 * takes (oldest first), and what a batch of responses settles.
 *
 * overlayd answers one connection's requests strictly in order and reads
 * nothing ahead, so requests written back to back wait in the socket buffer;
 * correlation stays by id. Arrays are never mutated: the context is
 * immutable, and a function that changes nothing hands back the same array,
 * so the hot path copies nothing it does not have to.
 */
import type { OverlaydResponse } from '../src/protocol/index.js';
import type { RequestRef } from './connection.types.js';

/** How many given-up ids are remembered, to tell late responses from unknown ones. */
export const LATE_IDS_REMEMBERED = 64;

const NONE: RequestRef[] = [];

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

/**
 * Split arriving requests into those that may wait and those refused.
 * `room` is how many may be held unwritten beyond what is queued now.
 */
export function admit(
  queue: RequestRef[],
  arriving: readonly RequestRef[],
  room: number,
): { queue: RequestRef[]; refused: RequestRef[] } {
  if (arriving.length <= room) {
    // The event's array is not changed by anyone: the context may hold it as it is.
    return {
      queue: queue.length === 0 ? (arriving as RequestRef[]) : queue.concat(arriving),
      refused: NONE,
    };
  }
  const taken = Math.max(0, room);
  return {
    queue: taken === 0 ? queue : queue.concat(arriving.slice(0, taken)),
    refused: arriving.slice(taken),
  };
}

/** Move the oldest queued requests into the window, as many as it has room for. */
export function fill(
  queue: RequestRef[],
  inFlight: RequestRef[],
  maxInFlight: number,
): { queue: RequestRef[]; inFlight: RequestRef[]; taken: RequestRef[] } {
  const room = maxInFlight - inFlight.length;
  if (room <= 0 || queue.length === 0) return { queue, inFlight, taken: NONE };
  if (queue.length <= room) {
    return {
      queue: NONE,
      inFlight: inFlight.length === 0 ? queue : inFlight.concat(queue),
      taken: queue,
    };
  }
  const taken = queue.slice(0, room);
  return {
    queue: queue.slice(room),
    inFlight: inFlight.length === 0 ? taken : inFlight.concat(taken),
    taken,
  };
}

/**
 * True when `responses` answer the oldest requests in flight one for one, in
 * their order (overlayd's usual read: the head of the window, or all of it).
 */
export function answersHead(inFlight: RequestRef[], responses: readonly ResponseRef[]): boolean {
  if (responses.length === 0 || responses.length > inFlight.length) return false;
  for (let i = 0; i < responses.length; i++) {
    if ((responses[i] as ResponseRef).id !== (inFlight[i] as RequestRef).id) return false;
  }
  return true;
}

/** True when `responses` answer the requests in flight one for one, in their order. */
export function inOrder(inFlight: RequestRef[], responses: readonly ResponseRef[]): boolean {
  return responses.length === inFlight.length && answersHead(inFlight, responses);
}

/** The answers to the oldest `responses.length` requests in flight (`answersHead` holds). */
export function headAnswers(inFlight: RequestRef[], responses: readonly ResponseRef[]): Answer[] {
  return responses.map((r, i) => ({
    token: (inFlight[i] as RequestRef).token,
    response: r.response,
  }));
}

/** The window once its oldest `answered` requests have left, refilled from the queue. */
export function refill(
  queue: RequestRef[],
  inFlight: RequestRef[],
  answered: number,
  maxInFlight: number,
): { queue: RequestRef[]; inFlight: RequestRef[]; taken: RequestRef[] } {
  const left = answered >= inFlight.length ? NONE : inFlight.slice(answered);
  return fill(queue, left, maxInFlight);
}

/** True when `responses` answer every request in flight. */
export function answersAll(inFlight: RequestRef[], responses: readonly ResponseRef[]): boolean {
  if (responses.length < inFlight.length) return false;
  // overlayd answers in order: the usual batch answers the window's head, in order.
  for (const request of inFlight) {
    if (!responses.some((r) => r.id === request.id)) return false;
  }
  return true;
}

/** What a batch of responses settles: answers, strays, and what stays in flight. */
export function settle(
  inFlight: RequestRef[],
  lateIds: string[],
  responses: readonly ResponseRef[],
): { answers: Answer[]; strays: StrayResponse[]; inFlight: RequestRef[]; lateIds: string[] } {
  const answers: Answer[] = [];
  let strays: StrayResponse[] | undefined;
  let waiting = inFlight;
  let late = lateIds;
  for (const { id, response } of responses) {
    // The oldest first: in order, that is the one answered.
    const at =
      waiting.length > 0 && waiting[0]?.id === id ? 0 : waiting.findIndex((r) => r.id === id);
    if (at >= 0) {
      answers.push({ token: (waiting[at] as RequestRef).token, response });
      waiting = at === 0 ? waiting.slice(1) : waiting.filter((_, i) => i !== at);
      continue;
    }
    strays ??= [];
    if (late.includes(id)) {
      strays.push({ id, reason: 'late' });
      late = late.filter((l) => l !== id);
    } else {
      strays.push({ id, reason: 'unknown' });
    }
  }
  return {
    answers,
    strays: strays ?? [],
    inFlight: waiting.length === 0 ? NONE : waiting,
    lateIds: late,
  };
}

/** The window without one request (given up, or failed by its own frame). */
export function without(inFlight: RequestRef[], token: number): RequestRef[] {
  const kept = inFlight.filter((r) => r.token !== token);
  return kept.length === 0 ? NONE : kept;
}

/** Ids given up on, newest last, at most LATE_IDS_REMEMBERED of them. */
export function remember(lateIds: string[], ids: readonly string[]): string[] {
  const all = lateIds.concat(ids);
  return all.length > LATE_IDS_REMEMBERED ? all.slice(all.length - LATE_IDS_REMEMBERED) : all;
}
