/**
 * The rule for attachments overlayd may hold without the record knowing it.
 *
 * Attach is the one op overlayd does not treat idempotently: it refuses to
 * attach a handle it holds already. So a handle whose attach was sent and
 * never answered (the connection dropped, or the call timed out, while it
 * was in flight) is uncertain: this overlayd may or may not hold it. So is
 * an attachment of a shared overlay that `status` says may be gone, since
 * the overlay may as well have survived. The rule:
 *
 * - The next attach of an uncertain handle, the daemon's or a resync's, is
 *   preceded by a `detach_container` of it. Detach is idempotent: an `ok`
 *   means overlayd does not hold it any more, and an `err` (an older
 *   overlayd's refusal) that it did not hold it. Either clears the mark.
 * - An answered attach or detach of the handle clears the mark, and so does
 *   its overlay going (it took the attachment with it).
 * - A restarted overlayd holds nothing: every mark goes, and a retry goes
 *   alone.
 *
 * The daemon's calls (`attach`) and the resync's steps (`clear`, `track`)
 * both go through here, each with its own way of sending.
 */
import { OverlaydError, OverlayError } from '../errors.js';
import type {
  AttachHandleInput,
  OverlaydRequestInput,
  OverlaydResponse,
  RequestInputOf,
} from '../protocol/index.js';
import type { Declaration } from './declared.js';

/** How a request reaches overlayd: the daemon's calls and the resync each have their own. */
export type Send = (request: OverlaydRequestInput) => Promise<OverlaydResponse>;

/** A call written whole whose answer never came (overlayd's own `err` is an answer): it may have run. */
export function isUnanswered(error: unknown): boolean {
  return (
    error instanceof OverlaydError && !(error instanceof OverlayError) && error.delivery === 'sent'
  );
}

export class UncertainAttachments {
  /** The record's keys of the uncertain handles. */
  readonly #keys = new Set<string>();
  readonly #declared: Declaration;

  constructor(declared: Declaration) {
    this.#declared = declared;
  }

  /** Whether overlayd may hold this handle attached without the record knowing it does. */
  isUncertain(handle: AttachHandleInput): boolean {
    return this.#keys.has(this.#declared.keyOf(handle));
  }

  /**
   * The detach to send before attaching a handle overlayd may hold already
   * (`key` is the record's key of it), naming it as overlayd reads it.
   */
  detachFirst(
    key: string,
    handle: AttachHandleInput,
  ): RequestInputOf<'detach_container'> | undefined {
    if (!this.#keys.has(key)) return undefined;
    return { op: 'detach_container', handle: this.#declared.detachHandle(handle) };
  }

  /** The daemon's attach: detach first when overlayd may hold the handle already. */
  async attach(request: RequestInputOf<'attach_container'>, send: Send): Promise<OverlaydResponse> {
    const detach = this.detachFirst(this.#declared.keyOf(request.handle), request.handle);
    if (detach !== undefined) await this.clear(detach, send);
    return this.track(request, send);
  }

  /** Send a clearing detach: `ok` and `err` alike mean overlayd does not hold the handle. */
  async clear(detach: RequestInputOf<'detach_container'>, send: Send): Promise<void> {
    try {
      await send(detach);
    } catch (error) {
      if (!(error instanceof OverlayError)) throw error;
    }
    this.cleared(detach);
  }

  /** Send a request; an attach whose answer never came leaves its handle uncertain. */
  async track(request: OverlaydRequestInput, send: Send): Promise<OverlaydResponse> {
    try {
      return await send(request);
    } catch (error) {
      if (isUnanswered(error)) this.unanswered(request);
      throw error;
    }
  }

  /**
   * A request was sent and its answer never came. Only an attach needs care:
   * every other op is idempotent.
   */
  unanswered(request: OverlaydRequestInput): void {
    if (request.op === 'attach_container') this.#keys.add(this.#declared.keyOf(request.handle));
  }

  /** A clearing detach is done: overlayd detached the handle, or had not attached it. */
  cleared(request: OverlaydRequestInput): void {
    if (request.op === 'detach_container') this.#keys.delete(this.#declared.keyOf(request.handle));
  }

  /** This overlayd held the attachment, and its overlay may have gone since (or may not). */
  mayHaveLost(key: string): void {
    this.#keys.add(key);
  }

  /** overlayd answered an attach or detach of the attachment, or it went with its overlay. */
  settled(key: string): void {
    this.#keys.delete(key);
  }

  /** A restarted overlayd holds nothing: an attach of any handle goes alone. */
  restarted(): void {
    this.#keys.clear();
  }
}
