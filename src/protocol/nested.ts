/**
 * The nested types of the wire contract (PROTOCOL.md, "Nested types" and the
 * inline structs of the responses). Entries are declared in serde's field
 * order, tag first: the encoder writes them in this order.
 */
import * as v from 'valibot';
import { defaultedArray, option } from './fields.js';
import { I64Schema, U8Schema, U16Schema, U32Schema, U64Schema } from './integers.js';
import { IpAddrSchema } from './ip.js';

export const OverlayModeSchema = v.picklist(['auto', 'shared', 'dedicated']);

/** `{"mode":"auto"}`; `mode` defaults to auto when absent. */
export const OverlayConfigSchema = v.object({ mode: v.optional(OverlayModeSchema, 'auto') });

export const AttachHandleSchema = v.variant('platform', [
  v.object({ platform: v.literal('linux_pid'), pid: U32Schema }),
  v.object({
    platform: v.literal('windows_container'),
    container_id: v.string(),
    ip: option(IpAddrSchema),
  }),
  v.object({ platform: v.literal('guest_managed'), id: v.string() }),
]);

/** A handle's identity, also its name in messages: `linux_pid 42` (a Windows handle's `ip` is a request, not identity). */
export function attachHandleKey(handle: v.InferInput<typeof AttachHandleSchema>): string {
  switch (handle.platform) {
    case 'linux_pid':
      return `linux_pid ${handle.pid}`;
    case 'windows_container':
      return `windows_container ${handle.container_id}`;
    case 'guest_managed':
      return `guest_managed ${handle.id}`;
  }
}

export const PeerScopeSchema = v.variant('scope', [
  v.object({ scope: v.literal('global') }),
  v.object({ scope: v.literal('service'), service: v.string() }),
]);

/** The `scope` field of the peer requests: absent means global, `null` is refused. */
export const scopeField = v.optional(PeerScopeSchema, () => ({ scope: 'global' as const }));

export const peerSpecEntries = {
  public_key: v.string(),
  endpoint: v.string(),
  allowed_ips: v.string(),
  persistent_keepalive_secs: U64Schema,
};
export const PeerSpecSchema = v.object(peerSpecEntries);

export const attachResultEntries = {
  ip: IpAddrSchema,
  namespace_guid: option(v.string()),
};
export const AttachResultSchema = v.object(attachResultEntries);

export const guestOverlayConfigEntries = {
  overlay_ip: IpAddrSchema,
  prefix_len: U8Schema,
  private_key: v.string(),
  public_key: v.string(),
  listen_port: U16Schema,
  peers: v.array(PeerSpecSchema),
  dns_server: option(IpAddrSchema),
  dns_domain: option(v.string()),
};
export const GuestOverlayConfigSchema = v.object(guestOverlayConfigEntries);

export const PeerStatusSchema = v.object({
  public_key: v.string(),
  endpoint: v.string(),
  allowed_ips: v.string(),
  last_handshake_unix_secs: I64Schema,
});

export const DedicatedServiceStatusSchema = v.object({
  service: v.string(),
  interface: v.string(),
  public_key: v.string(),
  listen_port: U16Schema,
  overlay_ip: IpAddrSchema,
  subnet: v.string(),
  peer_count: U32Schema,
});

export const statusSnapshotEntries = {
  interface: option(v.string()),
  node_ip: option(IpAddrSchema),
  public_key: option(v.string()),
  overlay_cidr: option(v.string()),
  slice_cidr: option(v.string()),
  peer_count: U32Schema,
  service_count: U32Schema,
  peers: defaultedArray(PeerStatusSchema),
  dedicated_services: defaultedArray(DedicatedServiceStatusSchema),
};
export const StatusSnapshotSchema = v.object(statusSnapshotEntries);

export const serviceOverlayInfoEntries = {
  name: v.string(),
  mode: OverlayModeSchema,
  wg_public_key: option(v.string()),
  wg_port: option(U16Schema),
  overlay_ip: option(IpAddrSchema),
  subnet: option(v.string()),
};
export const ServiceOverlayInfoSchema = v.object(serviceOverlayInfoEntries);

export type OverlayMode = v.InferOutput<typeof OverlayModeSchema>;
export type OverlayModeInput = v.InferInput<typeof OverlayModeSchema>;
export type OverlayConfig = v.InferOutput<typeof OverlayConfigSchema>;
export type OverlayConfigInput = v.InferInput<typeof OverlayConfigSchema>;
export type AttachHandle = v.InferOutput<typeof AttachHandleSchema>;
export type AttachHandleInput = v.InferInput<typeof AttachHandleSchema>;
export type PeerScope = v.InferOutput<typeof PeerScopeSchema>;
export type PeerScopeInput = v.InferInput<typeof PeerScopeSchema>;
export type PeerSpec = v.InferOutput<typeof PeerSpecSchema>;
export type PeerSpecInput = v.InferInput<typeof PeerSpecSchema>;
export type AttachResult = v.InferOutput<typeof AttachResultSchema>;
export type AttachResultInput = v.InferInput<typeof AttachResultSchema>;
export type GuestOverlayConfig = v.InferOutput<typeof GuestOverlayConfigSchema>;
export type GuestOverlayConfigInput = v.InferInput<typeof GuestOverlayConfigSchema>;
export type PeerStatus = v.InferOutput<typeof PeerStatusSchema>;
export type PeerStatusInput = v.InferInput<typeof PeerStatusSchema>;
export type DedicatedServiceStatus = v.InferOutput<typeof DedicatedServiceStatusSchema>;
export type DedicatedServiceStatusInput = v.InferInput<typeof DedicatedServiceStatusSchema>;
export type StatusSnapshot = v.InferOutput<typeof StatusSnapshotSchema>;
export type StatusSnapshotInput = v.InferInput<typeof StatusSnapshotSchema>;
export type ServiceOverlayInfo = v.InferOutput<typeof ServiceOverlayInfoSchema>;
export type ServiceOverlayInfoInput = v.InferInput<typeof ServiceOverlayInfoSchema>;
