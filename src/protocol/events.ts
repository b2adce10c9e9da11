/** `OverlaydEvent`, tagged by `event`: unsolicited notices from overlayd. */
import * as v from 'valibot';

// Shared with the event frame, which carries these fields flattened beside `frame`.
export const peerHealthChangedEntries = {
  event: v.literal('peer_health_changed'),
  pubkey: v.string(),
  healthy: v.boolean(),
};
export const natEndpointChangedEntries = {
  event: v.literal('nat_endpoint_changed'),
  pubkey: v.string(),
  endpoint: v.string(),
};

export const OverlaydEventSchema = v.variant('event', [
  v.object(peerHealthChangedEntries),
  v.object(natEndpointChangedEntries),
]);

export type OverlaydEvent = v.InferOutput<typeof OverlaydEventSchema>;
export type OverlaydEventInput = v.InferInput<typeof OverlaydEventSchema>;
export type EventKind = OverlaydEvent['event'];
