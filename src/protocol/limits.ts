/*
 * The framing limits of the wire contract (docs/PROTOCOL.md, "Framing"). They
 * live with the contract, not with the transport: both sides enforce them, and
 * src/protocol/ imports nothing from the layers built on it.
 */

/** Largest frame body, in bytes, either side may send or accept (8 MiB). */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Size of the little-endian u32 length prefix in front of every body. */
export const PREFIX_BYTES = 4;
