/**
 * Injected refusals, for tests of a client's recovery: `attach_container:2`
 * answers the next two `attach_container` requests with `err` before the
 * engine sees them (so they change nothing), then lets that op through again.
 */
import { OPS, type Op, type OverlaydRequest } from '../protocol/index.js';

export class RefusalPlan {
  readonly #left = new Map<Op, number>();

  /** Parses `op:count` specs; throws naming the spec that is wrong. */
  static parse(specs: readonly string[]): RefusalPlan {
    const plan = new RefusalPlan();
    for (const spec of specs) {
      const match = /^([a-z_]+):([1-9][0-9]{0,5})$/.exec(spec);
      if (match === null) throw new Error(`invalid refusal "${spec}": expected <op>:<count>`);
      const op = match[1] as Op;
      if (!OPS.includes(op)) throw new Error(`invalid refusal "${spec}": unknown op ${op}`);
      plan.#left.set(op, (plan.#left.get(op) ?? 0) + Number(match[2]));
    }
    return plan;
  }

  /** The `err` message for this request when it is to be refused, else undefined. */
  refusal(request: OverlaydRequest): string | undefined {
    const left = this.#left.get(request.op);
    if (left === undefined) return undefined;
    if (left <= 1) this.#left.delete(request.op);
    else this.#left.set(request.op, left - 1);
    return `refused by the test plan (${request.op}, ${left - 1} more to refuse)`;
  }
}
