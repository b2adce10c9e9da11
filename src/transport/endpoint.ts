/**
 * Where overlayd listens by default (PROTOCOL.md, "Endpoint").
 *
 * - Windows: the named pipe `\\.\pipe\zlayer-overlayd`.
 * - Linux with the system data dir `/var/lib/zlayer`: `/var/run/zlayer-overlayd.sock`.
 * - Any other Unix data dir `D`: `D/run/zlayer-overlayd.sock`, unless that path
 *   does not fit in `sockaddr_un.sun_path` (108 bytes on Linux, 104 elsewhere,
 *   NUL included); then `/tmp/zlayer-overlayd-<h>.sock`, where `<h>` is the
 *   first 16 hex digits of SHA-256 of `D` — short, stable for one data dir, and
 *   distinct between data dirs (trailing slashes and `.`/`..` segments are
 *   normalised first).
 *
 * `ZLAYER_DATA_DIR`, when set and non-empty, overrides the data dir.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';

export const SYSTEM_DATA_DIR = '/var/lib/zlayer';
export const SYSTEM_SOCKET_PATH = '/var/run/zlayer-overlayd.sock';
export const SOCKET_FILE_NAME = 'zlayer-overlayd.sock';
export const WINDOWS_PIPE_NAME = '\\\\.\\pipe\\zlayer-overlayd';

/** `sun_path` size, NUL terminator included: the longest usable path is one byte less. */
export function unixSocketPathLimit(platform: NodeJS.Platform): number {
  return platform === 'linux' ? 108 : 104;
}

/** The data dir: `ZLAYER_DATA_DIR` when set and non-empty, else `/var/lib/zlayer`. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.ZLAYER_DATA_DIR;
  return dir === undefined || dir === '' ? SYSTEM_DATA_DIR : dir;
}

/** The endpoint overlayd listens on by default, for this environment and platform. */
export function defaultEndpoint(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (platform === 'win32') return WINDOWS_PIPE_NAME;
  const dir = dataDir(env);
  const normal = posix.normalize(dir).replace(/(.)\/+$/, '$1');
  if (platform === 'linux' && normal === SYSTEM_DATA_DIR) return SYSTEM_SOCKET_PATH;
  const path = posix.join(dir, 'run', SOCKET_FILE_NAME);
  if (Buffer.byteLength(path) < unixSocketPathLimit(platform)) return path;
  const hash = createHash('sha256').update(normal).digest('hex').slice(0, 16);
  return `/tmp/zlayer-overlayd-${hash}.sock`;
}

/** True for a Windows named pipe path (`\\.\pipe\name`, `\\?\pipe\name`, either slash). */
export function isWindowsPipe(path: string): boolean {
  return /^[\\/]{2}[.?][\\/]pipe[\\/]./i.test(path);
}
