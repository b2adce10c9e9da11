/**
 * The code an error is reported by. Every OverlaydError carries a string `code` (OVERLAYD_TIMEOUT,
 * …), and so do Node's system errors (ECONNREFUSED, …); the connection chart's `lastError`, the
 * OpenTelemetry spans, overlayctl's messages and the visualizer all read it here.
 *
 * It lives in src/diagnostics/, the leaf every layer may import (src/otel/ included), and imports
 * nothing.
 */

/** The error's `code` when it is a string; undefined for any other error or thrown value. */
export function errorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
