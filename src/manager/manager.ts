/**
 * OverlayManager: the daemon's side of overlayd, over one OverlaydClient.
 *
 * Like the upstream daemon's overlay manager it runs one operation at a time
 * (a lock), connects lazily with 6 attempts, and exposes the overlay
 * operations as typed methods. Unlike it, it heals an overlayd restart: it
 * records what the daemon declared and overlayd accepted (`DeclaredState`),
 * and after every reconnect its statechart (`managerMachine`) runs a resync
 * that observes `status` and re-applies what the new overlayd lost. Calls
 * wait behind the resync: a request goes to the client only while the chart
 * is `synced`, so nothing the daemon asks for can overtake the re-apply.
 *
 * It uses only the client's public API (call, onEvent, close, state, actor).
 */
import { type Actor, createActor, fromCallback, type SnapshotFrom } from 'xstate';
import type { BackoffOptions } from '../../machines/backoff.js';
import { DEFAULT_RECONNECT_ATTEMPTS } from '../../machines/connection.machine.js';
import { type ManagerState, managerMachine } from '../../machines/manager.machine.js';
import type {
  ReappliedStep,
  ResyncEvent,
  ResyncFailure,
  ResyncReport,
} from '../../machines/manager.types.js';
import { type ClientEvent, type ClientOptions, OverlaydClient } from '../client/client.js';
import { traceResync } from '../diagnostics/resync.js';
import {
  AbortedError,
  ClosedError,
  OverlaydError,
  OverlayError,
  ProtocolError,
  ResyncError,
} from '../errors.js';
import type {
  OverlaydRequestInput,
  OverlaydResponse,
  RequestInputOf,
  ResponseOf,
  ResultFor,
} from '../protocol/index.js';
import {
  type AttachContainerParams,
  type AttachGuestParams,
  addPeerRequest,
  attachRequest,
  type DetachContainerParams,
  type DetachGuestParams,
  type DnsNameParams,
  type DnsParams,
  type GlobalOverlayParams,
  globalOverlayRequest,
  type PeerParams,
  paramsOf,
  type RemoveGlobalPeerParams,
  type RemoveServicePeerParams,
  type ServiceOverlayParams,
  type ServiceParams,
  type ServicePeerParams,
  wireHandle,
} from './params.js';
import { type AttachmentMoved, DeclaredState, isClearingStep, type PlannedStep } from './record.js';

/** The upstream manager's lazy-connect budget: about 2.5 s against a dead socket. */
export const MANAGER_CONNECT_ATTEMPTS = 6;

export interface OverlayManagerOptions extends ClientOptions {
  /** Attempts of the first connect (default 6, as upstream); the client's reconnect after that. */
  connectAttempts?: number;
  /** Schedule of resync retries after a refused re-apply (default: the `backoff` option's). */
  retryBackoff?: Partial<BackoffOptions>;
}

/** What the manager tells its listeners, beside overlayd's own events. */
export type ManagerNotice =
  | ({ event: 'resynced' } & ResyncReport)
  | ({ event: 'resyncFailed'; retryInMs: number } & ResyncFailure)
  | ({ event: 'attachmentMoved' } & AttachmentMoved)
  /**
   * A guest-managed attachment was re-applied: overlayd gave it a new
   * WireGuard config (its own keys), which the guest needs. Not kept in the
   * chart's context, which the inspector shows: it holds a private key.
   */
  | { event: 'guestReattached'; id: string; service: string; config: ResponseOf<'guest_config'> };

export type ManagerEvent = ClientEvent | ManagerNotice;

export type StatusResult = ResponseOf<'status'>;

export interface GlobalOverlayResult {
  bridgeName: string;
  /** `status` right after the setup, as upstream reads it. */
  status: StatusResult;
}

interface GateWaiter {
  op: string;
  resolve(): void;
  reject(error: OverlaydError): void;
}

function failureOf(step: string, error: unknown): ResyncFailure {
  if (error instanceof OverlayError) {
    return { step, answer: error.reason, code: error.code, message: error.message };
  }
  if (error instanceof OverlaydError) return { step, code: error.code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { step, code: 'OVERLAYD_OTHER', message };
}

export class OverlayManager {
  /** The client underneath: its actor is the connection chart. */
  readonly client: OverlaydClient;
  /** The manager's own chart, running. */
  readonly actor: Actor<typeof managerMachine>;

  readonly #record = new DeclaredState();
  readonly #listeners = new Set<(event: ManagerEvent) => void>();
  readonly #gate: GateWaiter[] = [];
  readonly #syncWaiters: GateWaiter[] = [];
  readonly #reconnectAttempts: number;
  #lock: Promise<unknown> = Promise.resolve();
  #link: 'up' | 'down' | 'lost' = 'down';
  /**
   * Aborted when the connection calls went out on goes down: a call the
   * client still holds unwritten then (queued behind a full window, or put
   * back after a write that provably never left) would otherwise be the
   * first request on the next connection, ahead of the resync, and then be
   * re-applied by it as well: run twice on the new overlayd.
   */
  #connection = new AbortController();
  #closed = false;
  #closing: Promise<void> | undefined;

  /** A manager that has not connected yet; prefer `OverlayManager.connect`. */
  constructor(socket: string, options: OverlayManagerOptions = {}) {
    const { connectAttempts: _, retryBackoff, ...clientOptions } = options;
    this.client = new OverlaydClient(socket, clientOptions);
    const reconnect = options.reconnect ?? true;
    this.#reconnectAttempts =
      reconnect === true
        ? DEFAULT_RECONNECT_ATTEMPTS
        : reconnect === false
          ? 1
          : reconnect.attempts;
    const backoff = retryBackoff ?? options.backoff;
    const machine = managerMachine.provide({
      actors: {
        resync: fromCallback<never, unknown, ResyncEvent>(({ sendBack }) => {
          const stopped = new AbortController();
          void traceResync(socket, () => this.#resync(stopped.signal)).then((event) => {
            // A resync the chart has moved on from must not report into a later one.
            if (!stopped.signal.aborted) sendBack(event);
          });
          return () => stopped.abort();
        }) as never,
      },
    });
    this.actor = createActor(machine, {
      input: { endpoint: socket, ...(backoff ? { backoff } : {}) },
      ...(options.clock ? { clock: options.clock as never } : {}),
      ...(options.inspect ? { inspect: options.inspect } : {}),
    });
    this.actor.on('resynced', ({ report }) => this.#emit({ event: 'resynced', ...report }));
    this.actor.on('resyncFailed', ({ failure, retryInMs }) =>
      this.#emit({ event: 'resyncFailed', retryInMs, ...failure }),
    );
    this.actor.subscribe({
      next: (snapshot) => this.#onState(snapshot),
      error: () => this.#failAll(new ClosedError('manager machine failed', { endpoint: socket })),
    });
    this.actor.start();
    this.client.onEvent((event) => this.#emit(event));
    this.client.actor.subscribe(() => this.#onClientState());
  }

  /**
   * Connect (6 attempts by default, sleeping 100, 200, 400, 800, 1000 ms
   * between them) and resolve once the manager is ready for calls.
   */
  static async connect(
    socket: string,
    options: OverlayManagerOptions = {},
  ): Promise<OverlayManager> {
    const manager = new OverlayManager(socket, options);
    try {
      await manager.open(options.connectAttempts ?? MANAGER_CONNECT_ATTEMPTS);
    } catch (error) {
      await manager.close();
      throw error;
    }
    return manager;
  }

  /**
   * Connect a manager made with `new` (its client not yet connected), with at
   * most `maxAttempts` attempts, and resolve once it is ready for calls.
   */
  async open(maxAttempts: number = MANAGER_CONNECT_ATTEMPTS): Promise<void> {
    await this.client.open(maxAttempts);
    await this.whenSynced();
  }

  /** connecting, reconciling, synced, degraded, reconnecting, offline, closed. */
  get state(): ManagerState {
    return this.actor.getSnapshot().value as ManagerState;
  }

  /** Resolves once what the daemon declared is applied on overlayd (at once when it is). */
  whenSynced(): Promise<void> {
    if (this.state === 'synced') return Promise.resolve();
    if (this.#closed) return Promise.reject(this.#closedError('whenSynced'));
    return new Promise((resolve, reject) => {
      this.#syncWaiters.push({ op: 'whenSynced', resolve, reject });
    });
  }

  /** overlayd's events, the client's `reconnected` notice, and the manager's own notices. */
  onEvent(listener: (event: ManagerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Close the client and settle everything (calls waiting fail as not sent). Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.actor.send({ type: 'close' });
      this.actor.stop();
      this.#failAll(this.#closedError('close'));
      this.#closing = this.client.close();
    }
    return this.#closing.then(() => this.#listeners.clear());
  }

  // ---- the operations -------------------------------------------------------

  /** Sets the node id and WireGuard key, sets up the global overlay, then reads `status`. */
  setupGlobalOverlay(params: GlobalOverlayParams): Promise<GlobalOverlayResult> {
    return this.#exclusive('setupGlobalOverlay', params, async (p) => {
      await this.#send({ op: 'set_local_node_id', node_id: p.nodeId });
      await this.#send({ op: 'set_local_wg_pubkey', pubkey: p.wgPubkey });
      const bridge = await this.#send(globalOverlayRequest(p));
      const status = await this.#send({ op: 'status' });
      return { bridgeName: bridge.name, status };
    });
  }

  /** Sets this node's WireGuard key alone (a key rotation). */
  setWgPubkey(params: { wgPubkey: string }): Promise<void> {
    return this.#exclusive('setWgPubkey', params, async (p) => {
      await this.#send({ op: 'set_local_wg_pubkey', pubkey: p.wgPubkey });
    });
  }

  /** A `service_overlay` answer, or an older server's `bridge_name`. */
  setupServiceOverlay(params: ServiceOverlayParams): Promise<ResultFor<'setup_service_overlay'>> {
    return this.#exclusive('setupServiceOverlay', params, (p) =>
      this.#send({ op: 'setup_service_overlay', service: p.service, mode: p.mode }),
    );
  }

  teardownServiceOverlay(params: ServiceParams): Promise<void> {
    return this.#exclusive('teardownServiceOverlay', params, async (p) => {
      await this.#send({ op: 'teardown_service_overlay', service: p.service });
    });
  }

  /** A Linux pid or a Windows container: answers its address (and namespace GUID on Windows). */
  attachContainer(params: AttachContainerParams): Promise<ResponseOf<'attached'>> {
    return this.#exclusive('attachContainer', params, async (p) => {
      const request = attachRequest(wireHandle(p.handle), p);
      return expect(await this.#attach(request), 'attached', request.op);
    });
  }

  detachContainer(params: DetachContainerParams): Promise<void> {
    return this.#exclusive('detachContainer', params, async (p) => {
      await this.#send({ op: 'detach_container', handle: wireHandle(p.handle) });
    });
  }

  /** A guest-managed attachment: answers the guest's WireGuard config. */
  attachContainerGuest(params: AttachGuestParams): Promise<ResponseOf<'guest_config'>> {
    return this.#exclusive('attachContainerGuest', params, async (p) => {
      const request = attachRequest({ platform: 'guest_managed', id: p.id }, p);
      return expect(await this.#attach(request), 'guest_config', request.op);
    });
  }

  detachContainerGuest(params: DetachGuestParams): Promise<void> {
    return this.#exclusive('detachContainerGuest', params, async (p) => {
      await this.#send({ op: 'detach_container', handle: { platform: 'guest_managed', id: p.id } });
    });
  }

  addGlobalPeer(params: PeerParams): Promise<void> {
    return this.#exclusive('addGlobalPeer', params, async (p) => {
      await this.#send(addPeerRequest(p, { scope: 'global' }));
    });
  }

  removeGlobalPeer(params: RemoveGlobalPeerParams): Promise<void> {
    return this.#exclusive('removeGlobalPeer', params, async (p) => {
      await this.#send({ op: 'remove_peer', pubkey: p.publicKey, scope: { scope: 'global' } });
    });
  }

  /** `add_peer` in the service's scope, then `add_allowed_ip` of `allowedIp`, as upstream. */
  addServicePeer(params: ServicePeerParams): Promise<void> {
    return this.#exclusive('addServicePeer', params, async (p) => {
      const scope = { scope: 'service' as const, service: p.service };
      await this.#send(addPeerRequest(p, scope));
      await this.#send({ op: 'add_allowed_ip', pubkey: p.publicKey, cidr: p.allowedIp, scope });
    });
  }

  removeServicePeer(params: RemoveServicePeerParams): Promise<void> {
    return this.#exclusive('removeServicePeer', params, async (p) => {
      await this.#send({
        op: 'remove_peer',
        pubkey: p.publicKey,
        scope: { scope: 'service', service: p.service },
      });
    });
  }

  registerDns(params: DnsParams): Promise<void> {
    return this.#exclusive('registerDns', params, async (p) => {
      await this.#send({ op: 'register_dns', name: p.name, ip: p.ip });
    });
  }

  unregisterDns(params: DnsNameParams): Promise<void> {
    return this.#exclusive('unregisterDns', params, async (p) => {
      await this.#send({ op: 'unregister_dns', name: p.name });
    });
  }

  natMaintenanceTick(): Promise<void> {
    return this.#exclusive('natMaintenanceTick', {}, async () => {
      await this.#send({ op: 'nat_tick' });
    });
  }

  status(): Promise<StatusResult> {
    return this.#exclusive('status', {}, () => this.#send({ op: 'status' }));
  }

  /** How many service overlays overlayd has, from `status`. */
  serviceCount(): Promise<number> {
    return this.#exclusive('serviceCount', {}, async () => {
      return (await this.#send({ op: 'status' })).service_count;
    });
  }

  /** Tears down the global overlay (its peers and the containers attached through it go too). */
  cleanup(): Promise<void> {
    return this.#exclusive('cleanup', {}, async () => {
      await this.#send({ op: 'teardown_global_overlay' });
    });
  }

  // ---- the machinery --------------------------------------------------------

  /** Run one operation at a time, in call order, as upstream's lock does. */
  #exclusive<P extends object, T>(
    method: string,
    params: P,
    operation: (params: P) => Promise<T>,
  ): Promise<T> {
    let checked: P;
    try {
      checked = paramsOf(method, params);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.#lock.then(() => operation(checked));
    this.#lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Send one request once the chart is `synced`, and record what overlayd accepted. */
  async #send<R extends OverlaydRequestInput>(request: R): Promise<ResultFor<R['op']>> {
    for (;;) {
      while (this.state !== 'synced') await this.#waitForGate(request.op);
      // Same turn as the state check: the request is queued before anything can change it.
      const connection = this.#connection.signal;
      let response: ResultFor<R['op']>;
      try {
        response = await this.client.call(request, { signal: connection });
      } catch (error) {
        // Never written, and its connection is gone: wait behind the next resync, then go.
        if (connection.aborted && !this.#closed && isUnwritten(error)) continue;
        throw error;
      }
      this.#record.accept(request, response as OverlaydResponse);
      // An answer that arrives after close() changes a record nobody will re-apply.
      if (!this.#closed) {
        this.actor.send({ type: 'record.changed', declared: this.#record.counts() });
      }
      return response;
    }
  }

  /**
   * Attach, first detaching a handle an earlier attach may have left on this
   * overlayd unanswered: overlayd refuses a second attach, so the daemon's
   * retry would fail. A refused detach means nothing was attached.
   */
  async #attach(request: RequestInputOf<'attach_container'>): Promise<OverlaydResponse> {
    if (this.#record.isUncertain(request.handle)) {
      const detach: OverlaydRequestInput = { op: 'detach_container', handle: request.handle };
      try {
        await this.#send(detach);
      } catch (error) {
        if (!(error instanceof OverlayError)) throw error;
        this.#record.cleared(detach);
      }
    }
    try {
      return (await this.#send(request)) as OverlaydResponse;
    } catch (error) {
      if (isUnanswered(error)) this.#record.unanswered(request);
      throw error;
    }
  }

  #waitForGate(op: string): Promise<void> {
    switch (this.state) {
      case 'closed':
        return Promise.reject(this.#closedError(op));
      case 'degraded':
        return Promise.reject(this.#resyncError(op));
      case 'offline':
        // The client gave up: a call starts a new connect cycle, as the client's own requests do.
        this.actor.send({ type: 'reconnect' });
        this.client.open(this.#reconnectAttempts).catch(() => {});
        break;
      default:
        break;
    }
    return new Promise((resolve, reject) => {
      this.#gate.push({ op, resolve, reject });
    });
  }

  #onClientState(): void {
    const state = this.client.state;
    if (state === 'closed') return;
    const link =
      state === 'connected' || state === 'awaitingResponse'
        ? 'up'
        : state === 'failed'
          ? 'lost'
          : 'down';
    if (link === this.#link) return;
    if (this.#link === 'up') {
      this.#connection.abort();
      this.#connection = new AbortController();
    }
    this.#link = link;
    this.actor.send({ type: `connection.${link}` });
  }

  #onState(snapshot: SnapshotFrom<typeof managerMachine>): void {
    switch (snapshot.value) {
      case 'synced':
        for (const waiter of this.#gate.splice(0)) waiter.resolve();
        for (const waiter of this.#syncWaiters.splice(0)) waiter.resolve();
        return;
      case 'degraded':
        for (const waiter of this.#gate.splice(0)) waiter.reject(this.#resyncError(waiter.op));
        return;
      case 'offline':
        for (const waiter of this.#gate.splice(0)) {
          waiter.reject(
            new ClosedError('overlayd is unreachable: the client gave up reconnecting', {
              op: waiter.op,
              endpoint: this.client.endpoint,
              delivery: 'not-sent',
            }),
          );
        }
        return;
      default:
        return;
    }
  }

  /** Observe `status`, then re-apply what this overlayd is missing, in dependency order. */
  async #resync(signal: AbortSignal): Promise<ResyncEvent> {
    const started = performance.now();
    let step = 'status';
    try {
      const status = await this.client.call({ op: 'status' }, { signal });
      const overlayd = this.#record.observe(status);
      const reapplied: ReappliedStep[] = [];
      for (const planned of this.#record.plan()) {
        if (signal.aborted) break;
        step = planned.step;
        await this.#reapply(planned, signal);
        reapplied.push({ layer: planned.layer, step: planned.step });
      }
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      return { type: 'resync.done', report: { overlayd, reapplied, durationMs } };
    } catch (error) {
      return { type: 'resync.failed', failure: failureOf(step, error) };
    }
  }

  /** Send one step of a resync and record its outcome. */
  async #reapply(planned: PlannedStep, signal: AbortSignal): Promise<void> {
    let response: OverlaydResponse;
    try {
      response = (await this.client.call(planned.request, { signal })) as OverlaydResponse;
    } catch (error) {
      if (error instanceof OverlayError) {
        // A refused detach: nothing was attached, which is what a clearing step makes sure of.
        if (isClearingStep(planned)) {
          this.#record.cleared(planned.request);
          return;
        }
        throw error;
      }
      if (isUnanswered(error)) this.#record.unanswered(planned.request);
      throw error;
    }
    if (isClearingStep(planned)) {
      this.#record.cleared(planned.request);
      return;
    }
    const moved = this.#record.applied(planned, response);
    if (moved) this.#emit({ event: 'attachmentMoved', ...moved });
    const { request } = planned;
    if (request.op === 'attach_container' && request.handle.platform === 'guest_managed') {
      this.#emit({
        event: 'guestReattached',
        id: request.handle.id,
        service: request.service,
        config: response as ResponseOf<'guest_config'>,
      });
    }
  }

  #resyncError(op: string): ResyncError {
    const failure = this.actor.getSnapshot().context.lastFailure;
    return new ResyncError(
      failure?.step ?? 'resync',
      failure?.answer !== undefined
        ? `overlayd answered err: ${failure.answer}`
        : (failure?.message ?? 'unknown'),
      { op, endpoint: this.client.endpoint },
    );
  }

  #closedError(op: string): ClosedError {
    return new ClosedError('overlay manager is closed', {
      op,
      endpoint: this.client.endpoint,
      delivery: 'not-sent',
    });
  }

  #failAll(error: OverlaydError): void {
    for (const waiter of [...this.#gate.splice(0), ...this.#syncWaiters.splice(0)]) {
      waiter.reject(error);
    }
  }

  #emit(event: ManagerEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener that throws must not break the manager (this runs inside actor callbacks).
      }
    }
  }
}

/** A call written whole whose answer never came (overlayd's own `err` is an answer): it may have run. */
function isUnanswered(error: unknown): boolean {
  return (
    error instanceof OverlaydError && !(error instanceof OverlayError) && error.delivery === 'sent'
  );
}

/** The client's answer for a call aborted before any byte of it was written. */
function isUnwritten(error: unknown): boolean {
  return error instanceof AbortedError && error.delivery === 'not-sent';
}

/** Narrow an answer to the result an op promises, or fail as the client does for a misfit. */
function expect<K extends OverlaydResponse['result']>(
  response: OverlaydResponse,
  result: K,
  op: string,
): ResponseOf<K> {
  if (response.result === result) return response as ResponseOf<K>;
  throw new ProtocolError(
    `overlayd answered op ${op} with result ${response.result} (expected ${result})`,
    {
      op,
      delivery: 'sent',
    },
  );
}
