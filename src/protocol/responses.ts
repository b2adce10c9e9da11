/** `OverlaydResponse`, tagged by `result`, and which results answer which op. */
import * as v from 'valibot';
import { IpAddrSchema } from './ip.js';
import {
  attachResultEntries,
  guestOverlayConfigEntries,
  serviceOverlayInfoEntries,
  statusSnapshotEntries,
} from './nested.js';
import type { Op } from './requests.js';

// Newtype variants (attached, guest_config, status, service_overlay) carry
// their struct's fields inline beside the tag.
export const OverlaydResponseSchema = v.variant('result', [
  v.object({ result: v.literal('ok') }),
  v.object({ result: v.literal('ip'), ip: IpAddrSchema }),
  v.object({ result: v.literal('attached'), ...attachResultEntries }),
  v.object({ result: v.literal('guest_config'), ...guestOverlayConfigEntries }),
  v.object({ result: v.literal('bridge_name'), name: v.string() }),
  v.object({ result: v.literal('status'), ...statusSnapshotEntries }),
  v.object({ result: v.literal('service_overlay'), ...serviceOverlayInfoEntries }),
  v.object({ result: v.literal('err'), message: v.string() }),
]);

export type OverlaydResponse = v.InferOutput<typeof OverlaydResponseSchema>;
export type OverlaydResponseInput = v.InferInput<typeof OverlaydResponseSchema>;
export type ResultKind = OverlaydResponse['result'];
/** The response type of one result kind. */
export type ResponseOf<R extends ResultKind> = Extract<OverlaydResponse, { result: R }>;

/**
 * The success answers of each op (`err` may answer any op). Older servers
 * answer `setup_service_overlay` with `bridge_name`.
 */
export const SUCCESS_RESULTS = {
  set_local_node_id: ['ok'],
  set_local_wg_pubkey: ['ok'],
  setup_global_overlay: ['bridge_name'],
  teardown_global_overlay: ['ok'],
  setup_service_overlay: ['service_overlay', 'bridge_name'],
  teardown_service_overlay: ['ok'],
  allocate_ip: ['ip'],
  release_ip: ['ok'],
  attach_container: ['attached', 'guest_config'],
  detach_container: ['ok'],
  add_peer: ['ok'],
  remove_peer: ['ok'],
  add_allowed_ip: ['ok'],
  remove_allowed_ip: ['ok'],
  register_dns: ['ok'],
  unregister_dns: ['ok'],
  status: ['status'],
  nat_tick: ['ok'],
  shutdown: ['ok'],
} as const satisfies Record<Op, readonly ResultKind[]>;

/** The success response type(s) of an op: `ResultFor<'allocate_ip'>` is the `ip` response. */
export type ResultFor<O extends Op> = ResponseOf<(typeof SUCCESS_RESULTS)[O][number]>;
