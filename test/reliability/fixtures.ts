/** What the reliability tests share: a fast backoff, a WireGuard key, the victim request. */
export const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 50 };
export const KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
/** The request that gets the fault. */
export const VICTIM = { op: 'allocate_ip', service: 'web', join_global: true } as const;
