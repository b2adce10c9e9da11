/** `OverlaydFrame`, tagged by `frame`: what one length-prefixed body holds. */
import * as v from 'valibot';
import { natEndpointChangedEntries, peerHealthChangedEntries } from './events.js';
import { U64Schema } from './integers.js';
import { OverlaydRequestSchema } from './requests.js';
import { OverlaydResponseSchema } from './responses.js';

export const RequestFrameSchema = v.object({
  frame: v.literal('request'),
  id: U64Schema,
  request: OverlaydRequestSchema,
});

export const ResponseFrameSchema = v.object({
  frame: v.literal('response'),
  id: U64Schema,
  response: OverlaydResponseSchema,
});

/** `Event(OverlaydEvent)` is a newtype variant: the event's tag and fields sit beside `frame`. */
export const EventFrameSchema = v.variant('event', [
  v.object({ frame: v.literal('event'), ...peerHealthChangedEntries }),
  v.object({ frame: v.literal('event'), ...natEndpointChangedEntries }),
]);

export const OverlaydFrameSchema = v.variant('frame', [
  RequestFrameSchema,
  ResponseFrameSchema,
  EventFrameSchema,
]);

export type OverlaydFrame = v.InferOutput<typeof OverlaydFrameSchema>;
export type OverlaydFrameInput = v.InferInput<typeof OverlaydFrameSchema>;
export type RequestFrame = v.InferOutput<typeof RequestFrameSchema>;
export type RequestFrameInput = v.InferInput<typeof RequestFrameSchema>;
export type ResponseFrame = v.InferOutput<typeof ResponseFrameSchema>;
export type ResponseFrameInput = v.InferInput<typeof ResponseFrameSchema>;
export type EventFrame = v.InferOutput<typeof EventFrameSchema>;
export type EventFrameInput = v.InferInput<typeof EventFrameSchema>;
