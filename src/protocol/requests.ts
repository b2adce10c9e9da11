/** `OverlaydRequest`, tagged by `op`: the 19 requests, fields in serde order. */
import * as v from 'valibot';
import { option } from './fields.js';
import { U16Schema, U64Schema } from './integers.js';
import { IpAddrSchema } from './ip.js';
import { AttachHandleSchema, OverlayModeSchema, peerSpecEntries, scopeField } from './nested.js';

export const OverlaydRequestSchema = v.variant('op', [
  v.object({ op: v.literal('set_local_node_id'), node_id: U64Schema }),
  v.object({ op: v.literal('set_local_wg_pubkey'), pubkey: v.string() }),
  v.object({
    op: v.literal('setup_global_overlay'),
    deployment: v.string(),
    instance_id: v.string(),
    cluster_cidr: v.string(),
    slice_cidr: option(v.string()),
    wg_port: U16Schema,
    nat_enabled: v.boolean(),
  }),
  v.object({ op: v.literal('teardown_global_overlay') }),
  v.object({
    op: v.literal('setup_service_overlay'),
    service: v.string(),
    mode: OverlayModeSchema,
  }),
  v.object({ op: v.literal('teardown_service_overlay'), service: v.string() }),
  v.object({ op: v.literal('allocate_ip'), service: v.string(), join_global: v.boolean() }),
  v.object({ op: v.literal('release_ip'), ip: IpAddrSchema }),
  v.object({
    op: v.literal('attach_container'),
    handle: AttachHandleSchema,
    service: v.string(),
    join_global: v.boolean(),
    dns_server: option(IpAddrSchema),
    dns_domain: option(v.string()),
  }),
  v.object({ op: v.literal('detach_container'), handle: AttachHandleSchema }),
  // PeerSpec is #[serde(flatten)]ed beside the tag.
  v.object({ op: v.literal('add_peer'), ...peerSpecEntries, scope: scopeField }),
  v.object({ op: v.literal('remove_peer'), pubkey: v.string(), scope: scopeField }),
  v.object({
    op: v.literal('add_allowed_ip'),
    pubkey: v.string(),
    cidr: v.string(),
    scope: scopeField,
  }),
  v.object({
    op: v.literal('remove_allowed_ip'),
    pubkey: v.string(),
    cidr: v.string(),
    scope: scopeField,
  }),
  v.object({ op: v.literal('register_dns'), name: v.string(), ip: IpAddrSchema }),
  v.object({ op: v.literal('unregister_dns'), name: v.string() }),
  v.object({ op: v.literal('status') }),
  v.object({ op: v.literal('nat_tick') }),
  v.object({ op: v.literal('shutdown') }),
]);

export type OverlaydRequest = v.InferOutput<typeof OverlaydRequestSchema>;
export type OverlaydRequestInput = v.InferInput<typeof OverlaydRequestSchema>;
export type Op = OverlaydRequest['op'];
/** The request type of one op. */
export type RequestOf<O extends Op> = Extract<OverlaydRequest, { op: O }>;
export type RequestInputOf<O extends Op> = Extract<OverlaydRequestInput, { op: O }>;

/** Every op, in declaration order. */
export const OPS: readonly Op[] = OverlaydRequestSchema.options.map((o) => o.entries.op.literal);
