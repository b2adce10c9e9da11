/** What the demo prints: steps, state transitions with timestamps, events, answers. */

import { type OutputStream, styler } from '../cli/output.js';
import { onStateReport, reportDetail } from '../cli/state-report.js';
import type { OverlaydClient } from '../client/client.js';
import type { OverlayManager } from '../manager/manager.js';

const STATE_WIDTH = 17;

/** Keys are long: their first 8 characters tell them apart well enough here. */
export const short = (text: string): string =>
  /^[A-Za-z0-9+/]{40,}=*$/.test(text) ? `${text.slice(0, 8)}…` : text;

export class Narrator {
  readonly #out: OutputStream;
  readonly #style: ReturnType<typeof styler>;
  readonly #t0 = performance.now();

  constructor(out: OutputStream) {
    this.#out = out;
    this.#style = styler(out);
  }

  get style() {
    return this.#style;
  }

  #time(): string {
    return `${((performance.now() - this.#t0) / 1000).toFixed(3)}s`.padStart(8);
  }

  line(text = ''): void {
    this.#out.write(`${text}\n`);
  }

  /** A new step: `▸ text`. */
  step(text: string): void {
    this.line(`\n${this.#style.bold(`▸ ${text}`)}`);
  }

  /** A timestamped note (not a state). */
  note(text: string): void {
    this.line(`${this.#style.dim(this.#time())}  ${' '.repeat(STATE_WIDTH)}  ${text}`);
  }

  /** An answer, under the lines above. */
  answer(text: string): void {
    this.line(`${' '.repeat(8)}  ${' '.repeat(STATE_WIDTH)}  ${this.#style.green(`← ${text}`)}`);
  }

  /** Print every state transition of the client's connection as it happens. */
  follow(client: OverlaydClient): void {
    onStateReport(client.actor, (report) => {
      const { dim, yellow, green, cyan } = this.#style;
      const colour =
        report.state === 'backoff' || report.state === 'failed'
          ? yellow
          : report.state === 'connected'
            ? green
            : report.state === 'awaitingResponse'
              ? cyan
              : (text: string) => text;
      // The socket path is in the header already.
      const detail = reportDetail(report).replaceAll(` ${client.endpoint}`, '');
      this.line(
        `${dim(this.#time())}  ${colour(report.state.padEnd(STATE_WIDTH))}  ${dim(detail)}`.trimEnd(),
      );
    });
    client.onEvent((event) => {
      const { event: kind, ...fields } = event;
      const detail = Object.entries(fields)
        .map(([key, value]) => `${key}=${short(String(value))}`)
        .join(' ');
      this.line(
        `${this.#style.dim(this.#time())}  ${this.#style.bold('event'.padEnd(STATE_WIDTH))}  ${kind} ${this.#style.dim(detail)}`,
      );
    });
  }

  /** Print the manager's state changes (`mgr reconciling`) and its notices. */
  followManager(manager: OverlayManager): void {
    const { dim, yellow, green, bold } = this.#style;
    let last = '';
    manager.actor.subscribe((snapshot) => {
      const state = String(snapshot.value);
      if (state === last) return;
      last = state;
      const colour = state === 'synced' ? green : state === 'degraded' ? yellow : (t: string) => t;
      const detail =
        state === 'reconciling' ? dim('observe status, re-apply what overlayd lost') : '';
      this.line(
        `${dim(this.#time())}  ${colour(`mgr ${state}`.padEnd(STATE_WIDTH))}  ${detail}`.trimEnd(),
      );
    });
    manager.onEvent((event) => {
      const at = `${dim(this.#time())}  ${bold('event'.padEnd(STATE_WIDTH))}`;
      if (event.event === 'resynced') {
        const steps = event.reapplied
          .map((step) => short(step.step.split(' ')[0] ?? ''))
          .join(', ');
        this.line(
          `${at}  resynced ${dim(`overlayd ${event.overlayd}, ${event.reapplied.length} re-applied in ${event.durationMs} ms: ${steps}`)}`,
        );
      } else if (event.event === 'resyncFailed') {
        this.line(
          `${at}  resyncFailed ${yellow(`${event.step}: ${event.answer ?? event.message}`)}`,
        );
      } else if (event.event === 'guestReattached') {
        this.line(
          `${at}  guestReattached ${dim(`${event.id}: a new WireGuard config, ${event.config.overlay_ip}`)}`,
        );
      } else if (event.event === 'attachmentMoved') {
        this.line(`${at}  attachmentMoved ${yellow(`${event.previousIp} → ${event.ip}`)}`);
      }
    });
  }
}
