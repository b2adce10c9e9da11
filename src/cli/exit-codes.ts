/** overlayctl's exit codes, and which error maps to which. */
import { CommanderError } from 'commander';
import {
  ClosedError,
  CodecError,
  ConnectError,
  FrameTooLargeError,
  IoError,
  OverlayError,
  ProtocolError,
  TimeoutError,
} from '../errors.js';

export const EXIT = {
  ok: 0,
  /** Anything unexpected (a bug, or an error with no better code). */
  failure: 1,
  /** Bad command line: unknown command or option, a missing or invalid argument. */
  usage: 2,
  /** overlayd could not be reached, or the connection failed or timed out. */
  connection: 3,
  /** overlayd answered the request with `err`. */
  overlay: 4,
  /** overlayd's answer broke the protocol, or could not be decoded. */
  protocol: 5,
  /** stdout or stderr lost its reader (`| head`): 128 + SIGPIPE, as a shell reports for other tools. */
  closedOutput: 141,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The lines shown under "Exit codes" in `--help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0  ok
  2  usage error (bad command, option or argument)
  3  connection failure (cannot connect, connection closed, I/O error, timeout)
  4  overlayd answered the request with an error
  5  protocol or codec error (an answer that breaks the wire contract)
  1  anything else (unexpected failure)
  141  stdout closed by its reader (e.g. | head): ends quietly, as on SIGPIPE`;

/** A command-line mistake found by overlayctl itself (exit 2). */
export class UsageError extends Error {
  readonly code = 'OVERLAYCTL_USAGE';
  override readonly name = 'UsageError';
}

export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (
    error instanceof ConnectError ||
    error instanceof ClosedError ||
    error instanceof IoError ||
    error instanceof TimeoutError
  ) {
    return EXIT.connection;
  }
  if (error instanceof OverlayError) return EXIT.overlay;
  if (
    error instanceof ProtocolError ||
    error instanceof CodecError ||
    error instanceof FrameTooLargeError
  ) {
    return EXIT.protocol;
  }
  return EXIT.failure;
}
