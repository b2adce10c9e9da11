/**
 * OverlayManager: the daemon's side of overlayd, over one OverlaydClient.
 *
 * Like the upstream daemon's overlay manager it runs one operation at a time
 * (a lock), connects lazily (on the first call) with 6 attempts, and exposes
 * the overlay operations as typed methods. Unlike it, it heals: it records
 * what the daemon declared and overlayd accepted (`DeclaredState`), keeps
 * reconnecting for as long as it is open, and after every reconnect its
 * statechart (`managerMachine`) runs a resync that observes `status` and
 * re-applies what the overlayd lost. Calls wait behind the resync: a request
 * goes to the client only while the chart is `synced`, so nothing the daemon
 * asks for can overtake the re-apply. Every call settles within its deadline
 * (`CallDeadline`), whatever it waits for.
 *
 * It uses only the client's public API (open, call, onEvent, close, state, actor).
 */
import { type Actor, createActor, fromCallback, type SnapshotFrom } from 'xstate';
import { type BackoffOptions, clampAttempts, reconnectAttempts } from '../../machines/backoff.js';
import {
  MANAGER_CONNECT_ATTEMPTS,
  type ManagerState,
  managerMachine,
} from '../../machines/manager.machine.js';
import type {
  ReappliedStep,
  ResyncEvent,
  ResyncFailure,
  ResyncReport,
} from '../../machines/manager.types.js';
import {
  type ClientEvent,
  type ClientOptions,
  DEFAULT_REQUEST_TIMEOUT_MS,
  OverlaydClient,
} from '../client/client.js';
import { type Clock, realClock } from '../client/clock.js';
import type { ConnectionStatus } from '../client/state.js';
import { type ManagerStateMessage, managerStateChannel } from '../diagnostics/channels.js';
import { traceResync } from '../diagnostics/resync.js';
import {
  AbortedError,
  ClosedError,
  ConnectError,
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
import { CallDeadline, type CallOptions } from './deadline.js';
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
import { isClearingStep, type PlannedStep } from './plan.js';
import { type AttachmentMoved, DeclaredState } from './record.js';
import type { Send } from './uncertain-attachments.js';

export type { CallOptions };
export { MANAGER_CONNECT_ATTEMPTS };

/** DNS defaults forwarded on every attach that names none (upstream's `set_dns_config`). */
export interface DnsConfig {
  /** The DNS server a container is told to use. */
  server?: string;
  /** The zone a container's name is registered in. */
  domain?: string;
}

export interface OverlayManagerOptions extends ClientOptions {
  /**
   * Attempts of each connect cycle (default 6, as upstream: about 2.5 s): the
   * first call's, each call's while overlayd is unreachable, and the
   * reconnect after a drop unless `reconnect` says otherwise.
   */
  connectAttempts?: number;
  /**
   * `true` (default): after a drop, reconnect with the connect budget, then
   * keep reconnecting in the background on the backoff schedule for as long
   * as the manager is open. `{ attempts: n }`: the same, with n attempts
   * right after a drop. `false`: stay down until the next call dials again.
   */
  reconnect?: boolean | { attempts: number };
  /** Schedule of resync retries after a refused re-apply (default: the `backoff` option's). */
  retryBackoff?: Partial<BackoffOptions>;
  /** DNS defaults for attachments (see `setDnsConfig`). */
  dns?: DnsConfig;
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

/** Why the last connect cycle failed, as the client told it. */
interface ConnectFailure {
  attempts: number;
  cause: Error | undefined;
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
  readonly #connectAttempts: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #dns: DnsConfig;
  #lastConnectFailure: ConnectFailure | undefined;
  /** The last `status` overlayd answered the manager: what the overlay is. */
  #overlayStatus: StatusResult | undefined;
  /** The chart's state as last seen, for `overlayd-client:manager:state`. */
  #lastState: ManagerState = 'idle';
  #lock: Promise<void> = Promise.resolve();
  #link: ConnectionStatus = 'down';
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

  /**
   * A manager that connects on its first call (as upstream's), so a daemon's
   * start-up never depends on overlayd being there. `OverlayManager.connect`
   * is for a daemon that wants to fail at start instead.
   */
  constructor(socket: string, options: OverlayManagerOptions = {}) {
    const { connectAttempts, retryBackoff, dns, ...clientOptions } = options;
    this.#connectAttempts = clampAttempts(connectAttempts ?? MANAGER_CONNECT_ATTEMPTS);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#clock = options.clock ?? realClock;
    this.#dns = { ...dns };
    // A drop is dialled again with the manager's connect budget, unless told otherwise.
    const reconnect = reconnectAttempts(options.reconnect, this.#connectAttempts);
    this.client = new OverlaydClient(socket, { ...clientOptions, reconnect });
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
      input: {
        endpoint: socket,
        connectAttempts: this.#connectAttempts,
        heals: reconnect > 0,
        ...(backoff ? { backoff } : {}),
        ...(options.backoff ? { reconnectBackoff: options.backoff } : {}),
      },
      ...(options.clock ? { clock: options.clock as never } : {}),
      ...(options.inspect ? { inspect: options.inspect } : {}),
    });
    // The chart decides when to dial; a failed cycle comes back as connection.lost.
    this.actor.on('connect', ({ maxAttempts }) => {
      this.client.open(maxAttempts).catch(() => {});
    });
    this.client.actor.on('connect.failed', ({ attempts, cause }) => {
      this.#lastConnectFailure = { attempts, cause };
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
    this.client.onConnectionStatus((status) => this.#onConnectionStatus(status));
  }

  /**
   * Connect (6 attempts by default, sleeping 100, 200, 400, 800, 1000 ms
   * between them) and resolve once the manager is ready for calls; rejects
   * with ConnectError when overlayd cannot be reached.
   */
  static async connect(
    socket: string,
    options: OverlayManagerOptions = {},
  ): Promise<OverlayManager> {
    const manager = new OverlayManager(socket, options);
    try {
      await manager.open();
    } catch (error) {
      await manager.close();
      throw error;
    }
    return manager;
  }

  /**
   * Connect now, with at most `maxAttempts` attempts when no connect cycle
   * is running, and resolve once the manager is ready for calls. Calls need
   * no `open`: the first one connects.
   */
  open(maxAttempts: number = this.#connectAttempts): Promise<void> {
    if (this.state === 'synced') return Promise.resolve();
    return this.#waitForGate('open', undefined, maxAttempts);
  }

  /** idle, connecting, reconciling, synced, degraded, reconnecting, offline, closed. */
  get state(): ManagerState {
    return this.actor.getSnapshot().value as ManagerState;
  }

  /**
   * Resolves once what the daemon declared is applied on overlayd (at once
   * when it is). It waits through outages, and dials nothing itself.
   */
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

  // ---- what the overlay is ----------------------------------------------------
  // Read from the last `status` overlayd answered the manager (after
  // `setupGlobalOverlay`, `status`, and each resync) and from the global
  // overlay as declared; each is undefined until known.

  /** This node's address on the global overlay. */
  get nodeIp(): string | undefined {
    return this.#overlayStatus?.node_ip;
  }

  /** The global overlay's interface (its bridge). */
  get globalInterface(): string | undefined {
    return this.#overlayStatus?.interface;
  }

  /** The global overlay's CIDR, as overlayd reports it. */
  get overlayCidr(): string | undefined {
    return this.#overlayStatus?.overlay_cidr;
  }

  /** This node's slice of the cluster CIDR, as overlayd reports it. */
  get sliceCidr(): string | undefined {
    return this.#overlayStatus?.slice_cidr;
  }

  /** The cluster's CIDR, as declared. */
  get clusterCidr(): string | undefined {
    return this.#record.globalOverlay()?.cluster_cidr;
  }

  /** The global overlay's WireGuard port, as declared. */
  get overlayPort(): number | undefined {
    return this.#record.globalOverlay()?.wg_port;
  }

  /** Whether NAT traversal is on, as declared. */
  get natEnabled(): boolean | undefined {
    return this.#record.globalOverlay()?.nat_enabled;
  }

  /** The DNS defaults forwarded on attaches that name none. */
  get dnsConfig(): Readonly<DnsConfig> {
    return this.#dns;
  }

  /**
   * Set the DNS defaults (server, zone domain) forwarded on every attach that
   * names none, as upstream's `set_dns_config`. Sends nothing: attachments
   * already made keep what they were given.
   */
  setDnsConfig(config: DnsConfig): void {
    this.#dns = { ...paramsOf('setDnsConfig', config) };
  }

  // ---- the operations -------------------------------------------------------
  // Each takes CallOptions last: `timeoutMs` and `signal` cover the whole call.

  /** Sets the node id and WireGuard key, sets up the global overlay, then reads `status`. */
  setupGlobalOverlay(
    params: GlobalOverlayParams,
    options?: CallOptions,
  ): Promise<GlobalOverlayResult> {
    return this.#exclusive('setupGlobalOverlay', params, options, async (p, call) => {
      await this.#send({ op: 'set_local_node_id', node_id: p.nodeId }, call);
      await this.#send({ op: 'set_local_wg_pubkey', pubkey: p.wgPubkey }, call);
      const bridge = await this.#send(globalOverlayRequest(p), call);
      const status = await this.#send({ op: 'status' }, call);
      return { bridgeName: bridge.name, status };
    });
  }

  /** Sets this node's WireGuard key alone (a key rotation). */
  setWgPubkey(params: { wgPubkey: string }, options?: CallOptions): Promise<void> {
    return this.#exclusive('setWgPubkey', params, options, async (p, call) => {
      await this.#send({ op: 'set_local_wg_pubkey', pubkey: p.wgPubkey }, call);
    });
  }

  /** A `service_overlay` answer, or an older server's `bridge_name`. */
  setupServiceOverlay(
    params: ServiceOverlayParams,
    options?: CallOptions,
  ): Promise<ResultFor<'setup_service_overlay'>> {
    return this.#exclusive('setupServiceOverlay', params, options, (p, call) =>
      this.#send({ op: 'setup_service_overlay', service: p.service, mode: p.mode }, call),
    );
  }

  teardownServiceOverlay(params: ServiceParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('teardownServiceOverlay', params, options, async (p, call) => {
      await this.#send({ op: 'teardown_service_overlay', service: p.service }, call);
    });
  }

  /**
   * A Linux pid or a Windows container: answers its address (and, for a
   * Windows container, the namespace GUID its detach may name it by). DNS
   * defaults fill in what the parameters leave out.
   */
  attachContainer(
    params: AttachContainerParams,
    options?: CallOptions,
  ): Promise<ResponseOf<'attached'>> {
    return this.#exclusive('attachContainer', params, options, async (p, call) => {
      const request = attachRequest(wireHandle(p.handle), this.#withDnsDefaults(p));
      return expect(await this.#attach(request, call), 'attached', request.op);
    });
  }

  /**
   * Detach a container. A Windows container may be named by the namespace
   * GUID its attach answered (upstream's way) or by its container id: the
   * detach carries the GUID, which is what overlayd reads.
   */
  detachContainer(params: DetachContainerParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('detachContainer', params, options, async (p, call) => {
      const handle = this.#record.detachHandle(wireHandle(p.handle));
      await this.#send({ op: 'detach_container', handle }, call);
    });
  }

  /** A guest-managed attachment: answers the guest's WireGuard config. */
  attachContainerGuest(
    params: AttachGuestParams,
    options?: CallOptions,
  ): Promise<ResponseOf<'guest_config'>> {
    return this.#exclusive('attachContainerGuest', params, options, async (p, call) => {
      const request = attachRequest(
        { platform: 'guest_managed', id: p.id },
        this.#withDnsDefaults(p),
      );
      return expect(await this.#attach(request, call), 'guest_config', request.op);
    });
  }

  detachContainerGuest(params: DetachGuestParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('detachContainerGuest', params, options, async (p, call) => {
      const handle = { platform: 'guest_managed' as const, id: p.id };
      await this.#send({ op: 'detach_container', handle }, call);
    });
  }

  addGlobalPeer(params: PeerParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('addGlobalPeer', params, options, async (p, call) => {
      await this.#send(addPeerRequest(p, { scope: 'global' }), call);
    });
  }

  removeGlobalPeer(params: RemoveGlobalPeerParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('removeGlobalPeer', params, options, async (p, call) => {
      await this.#send(
        { op: 'remove_peer', pubkey: p.publicKey, scope: { scope: 'global' } },
        call,
      );
    });
  }

  /** `add_peer` in the service's scope, then `add_allowed_ip` of `allowedIp`, as upstream. */
  addServicePeer(params: ServicePeerParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('addServicePeer', params, options, async (p, call) => {
      const scope = { scope: 'service' as const, service: p.service };
      await this.#send(addPeerRequest(p, scope), call);
      await this.#send(
        { op: 'add_allowed_ip', pubkey: p.publicKey, cidr: p.allowedIp, scope },
        call,
      );
    });
  }

  removeServicePeer(params: RemoveServicePeerParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('removeServicePeer', params, options, async (p, call) => {
      const scope = { scope: 'service' as const, service: p.service };
      await this.#send({ op: 'remove_peer', pubkey: p.publicKey, scope }, call);
    });
  }

  registerDns(params: DnsParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('registerDns', params, options, async (p, call) => {
      await this.#send({ op: 'register_dns', name: p.name, ip: p.ip }, call);
    });
  }

  unregisterDns(params: DnsNameParams, options?: CallOptions): Promise<void> {
    return this.#exclusive('unregisterDns', params, options, async (p, call) => {
      await this.#send({ op: 'unregister_dns', name: p.name }, call);
    });
  }

  /** Sends `nat_tick`, unless the declared global overlay has NAT off (the tick would do nothing). */
  natMaintenanceTick(options?: CallOptions): Promise<void> {
    return this.#exclusive('natMaintenanceTick', {}, options, async (_, call) => {
      if (this.natEnabled === false) return;
      await this.#send({ op: 'nat_tick' }, call);
    });
  }

  status(options?: CallOptions): Promise<StatusResult> {
    return this.#exclusive('status', {}, options, (_, call) => this.#send({ op: 'status' }, call));
  }

  /** How many service overlays overlayd has, from `status`. */
  serviceCount(options?: CallOptions): Promise<number> {
    return this.#exclusive('serviceCount', {}, options, async (_, call) => {
      return (await this.#send({ op: 'status' }, call)).service_count;
    });
  }

  /** Tears down the global overlay (its peers and the containers attached through it go too). */
  cleanup(options?: CallOptions): Promise<void> {
    return this.#exclusive('cleanup', {}, options, async (_, call) => {
      await this.#send({ op: 'teardown_global_overlay' }, call);
    });
  }

  // ---- the machinery --------------------------------------------------------

  /**
   * Run one operation at a time, in call order, as upstream's lock does,
   * within the call's deadline: a call whose time runs out while it waits
   * for its turn leaves the line unsent, and the next one still waits for
   * the operation that holds the lock.
   */
  #exclusive<P extends object, T>(
    method: string,
    params: P,
    options: CallOptions | undefined,
    operation: (params: P, call: CallDeadline) => Promise<T>,
  ): Promise<T> {
    let checked: P;
    try {
      checked = paramsOf(method, params);
    } catch (error) {
      return Promise.reject(error);
    }
    const call = new CallDeadline(
      this.#clock,
      this.client.endpoint,
      options?.timeoutMs ?? this.#timeoutMs,
      options?.signal,
    );
    const turn = this.#lock;
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#lock = turn.then(() => done);
    const run = async (): Promise<T> => {
      try {
        await call.race(turn, method);
        return await operation(checked, call);
      } finally {
        release();
        call.dispose();
      }
    };
    const result = run();
    // A daemon that lets a call go unawaited must not be taken down by its failure.
    result.catch(() => {});
    return result;
  }

  /** Send one request once the chart is `synced`, and record what overlayd accepted. */
  async #send<R extends OverlaydRequestInput>(
    request: R,
    call: CallDeadline,
  ): Promise<ResultFor<R['op']>> {
    for (;;) {
      while (this.state !== 'synced') await this.#waitForGate(request.op, call);
      // Same turn as the state check: the request is queued before anything can change it.
      const connection = this.#connection.signal;
      const signal = call.linkedWith(connection);
      let response: ResultFor<R['op']>;
      try {
        // The client's own timer is the whole call's: the call's deadline comes first.
        response = await this.client.call(request, {
          signal: signal.signal,
          timeoutMs: call.timeoutMs,
        });
      } catch (error) {
        // Never written, and its connection is gone: wait behind the next resync, then go.
        if (connection.aborted && !call.signal.aborted && !this.#closed && isUnwritten(error)) {
          continue;
        }
        throw call.translate(error);
      } finally {
        signal.dispose();
      }
      this.#record.accept(request, response as OverlaydResponse);
      this.#noteStatus(request, response as OverlaydResponse);
      // An answer that arrives after close() changes a record nobody will re-apply.
      if (!this.#closed) {
        this.actor.send({ type: 'record.changed', declared: this.#record.counts() });
      }
      return response;
    }
  }

  /**
   * The daemon's attach, through the rule for handles overlayd may hold
   * already (`UncertainAttachments`): a retry of one whose answer never came
   * is preceded by a detach, since overlayd refuses a second attach.
   */
  #attach(
    request: RequestInputOf<'attach_container'>,
    call: CallDeadline,
  ): Promise<OverlaydResponse> {
    const send: Send = (sent) => this.#send(sent, call);
    return this.#record.uncertain.attach(request, send);
  }

  /** The DNS defaults fill in what an attach leaves out. */
  #withDnsDefaults<P extends { dnsServer?: string; dnsDomain?: string }>(params: P): P {
    const dnsServer = params.dnsServer ?? this.#dns.server;
    const dnsDomain = params.dnsDomain ?? this.#dns.domain;
    return {
      ...params,
      ...(dnsServer !== undefined && { dnsServer }),
      ...(dnsDomain !== undefined && { dnsDomain }),
    };
  }

  /** Keep what a `status` answer says the overlay is; a torn-down global overlay is no more. */
  #noteStatus(request: OverlaydRequestInput, response: OverlaydResponse): void {
    if (response.result === 'status') this.#overlayStatus = response;
    else if (request.op === 'teardown_global_overlay') this.#overlayStatus = undefined;
  }

  /**
   * Wait until calls may go out (`synced`), dialling first when no connect
   * cycle is running; fail when the cycle fails, a resync is refused, the
   * manager closes, or the call's deadline passes.
   */
  #waitForGate(op: string, call: CallDeadline | undefined, maxAttempts?: number): Promise<void> {
    switch (this.state) {
      case 'closed':
        return Promise.reject(this.#closedError(op));
      case 'degraded':
        return Promise.reject(this.#resyncError(op));
      case 'idle':
      case 'offline':
        this.actor.send({ type: 'connect', ...(maxAttempts !== undefined && { maxAttempts }) });
        break;
      default:
        break;
    }
    let waiter!: GateWaiter;
    const ready = new Promise<void>((resolve, reject) => {
      waiter = { op, resolve, reject };
      this.#gate.push(waiter);
    });
    if (call === undefined) return ready;
    return call.race(ready, op, () => {
      const at = this.#gate.indexOf(waiter);
      if (at >= 0) this.#gate.splice(at, 1);
    });
  }

  #onConnectionStatus(link: ConnectionStatus): void {
    if (this.#link === 'up') {
      this.#connection.abort();
      this.#connection = new AbortController();
    }
    this.#link = link;
    this.actor.send({ type: `connection.${link}` });
  }

  #onState(snapshot: SnapshotFrom<typeof managerMachine>): void {
    this.#publishState(snapshot.value as ManagerState);
    switch (snapshot.value) {
      case 'synced':
        for (const waiter of this.#gate.splice(0)) waiter.resolve();
        for (const waiter of this.#syncWaiters.splice(0)) waiter.resolve();
        return;
      case 'degraded':
        for (const waiter of this.#gate.splice(0)) waiter.reject(this.#resyncError(waiter.op));
        return;
      case 'offline':
        // The connect cycle the waiting calls were given failed: they fail now, not sent.
        for (const waiter of this.#gate.splice(0)) waiter.reject(this.#unreachableError(waiter.op));
        return;
      default:
        return;
    }
  }

  /** Tell `overlayd-client:manager:state` of a new state (the snapshot may change only the context). */
  #publishState(state: ManagerState): void {
    if (state === this.#lastState) return;
    const previous = this.#lastState;
    this.#lastState = state;
    if (!managerStateChannel.hasSubscribers) return;
    managerStateChannel.publish({
      endpoint: this.client.endpoint,
      state,
      previous,
    } satisfies ManagerStateMessage);
  }

  /** Observe `status`, then re-apply what this overlayd is missing, in dependency order. */
  async #resync(signal: AbortSignal): Promise<ResyncEvent> {
    const started = performance.now();
    let step = 'status';
    try {
      const status = await this.client.call({ op: 'status' }, { signal });
      this.#overlayStatus = status;
      const overlayd = this.#record.observe(status);
      const reapplied: ReappliedStep[] = [];
      for (const planned of this.#record.plan()) {
        if (signal.aborted) break;
        step = planned.step;
        await this.#reapply(planned, signal);
        reapplied.push({ layer: planned.layer, step: planned.step });
      }
      if (reapplied.some((done) => done.layer === 'globalOverlay') && !signal.aborted) {
        // What the overlay is (node IP, interface, CIDRs) is read again, as after a setup.
        step = 'status';
        this.#overlayStatus = await this.client.call({ op: 'status' }, { signal });
      }
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      return { type: 'resync.done', report: { overlayd, reapplied, durationMs } };
    } catch (error) {
      return { type: 'resync.failed', failure: failureOf(step, error) };
    }
  }

  /**
   * Send one step of a resync and record its outcome. Attachment steps go
   * through the same rule as the daemon's attaches (`UncertainAttachments`).
   */
  async #reapply(planned: PlannedStep, signal: AbortSignal): Promise<void> {
    const send: Send = (request) => this.client.call(request, { signal });
    if (isClearingStep(planned)) return this.#record.uncertain.clear(planned.request, send);
    const response = await this.#record.uncertain.track(planned.request, send);
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

  /** overlayd could not be reached in the last connect cycle (`open` gets it as the client would). */
  #unreachableError(op: string): ConnectError {
    const failure = this.#lastConnectFailure;
    const attempts = failure?.attempts ?? this.#connectAttempts;
    const cause = failure?.cause === undefined ? {} : { cause: failure.cause };
    if (op === 'open')
      return new ConnectError(attempts, { endpoint: this.client.endpoint, ...cause });
    return new ConnectError(attempts, {
      op,
      endpoint: this.client.endpoint,
      delivery: 'not-sent',
      ...cause,
    });
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
