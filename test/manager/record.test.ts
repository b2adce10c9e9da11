/**
 * The manager's record on its own (pure logic, no I/O): what accepted answers
 * add and remove, what a `status` answer says is missing, and the re-apply
 * plan in dependency order.
 */
import { describe, expect, it } from 'vitest';
import { isClearingStep } from '../../src/manager/plan.js';
import { DeclaredState } from '../../src/manager/record.js';
import type { OverlaydRequestInput, ResponseOf } from '../../src/protocol/index.js';

const ok = { result: 'ok' } as const;
const GLOBAL: OverlaydRequestInput = {
  op: 'setup_global_overlay',
  deployment: 'prod',
  instance_id: 'a',
  cluster_cidr: '10.200.0.0/16',
  slice_cidr: '10.200.0.0/28',
  wg_port: 51820,
  nat_enabled: false,
};
const EMPTY: ResponseOf<'status'> = {
  result: 'status',
  peer_count: 0,
  service_count: 0,
  peers: [],
  dedicated_services: [],
};

/** A record holding one of everything, with its status as overlayd would show it. */
function populated() {
  const record = new DeclaredState();
  record.accept({ op: 'set_local_node_id', node_id: 7 }, ok);
  record.accept({ op: 'set_local_wg_pubkey', pubkey: 'NODE' }, ok);
  record.accept(GLOBAL, { result: 'bridge_name', name: 'zl-br-1' });
  record.accept(
    { op: 'setup_service_overlay', service: 'web', mode: 'auto' },
    { result: 'service_overlay', name: 'web', mode: 'shared' },
  );
  // An older server's answer: the requested mode is what the record keeps.
  record.accept(
    { op: 'setup_service_overlay', service: 'db', mode: 'dedicated' },
    { result: 'bridge_name', name: 'db' },
  );
  record.accept(
    {
      op: 'add_peer',
      public_key: 'B',
      endpoint: '',
      allowed_ips: '10.200.0.16/28',
      persistent_keepalive_secs: 0,
    },
    ok,
  );
  record.accept({ op: 'add_allowed_ip', pubkey: 'B', cidr: '10.200.0.32/28' }, ok);
  const dbScope = { scope: 'service' as const, service: 'db' };
  record.accept(
    {
      op: 'add_peer',
      public_key: 'C',
      endpoint: '',
      allowed_ips: '',
      persistent_keepalive_secs: 0,
      scope: dbScope,
    },
    ok,
  );
  record.accept({ op: 'register_dns', name: 'n', ip: '10.200.0.2' }, ok);
  record.accept(
    {
      op: 'attach_container',
      handle: { platform: 'linux_pid', pid: 1 },
      service: 'web',
      join_global: false,
    },
    { result: 'attached', ip: '10.200.0.2' },
  );
  record.accept(
    {
      op: 'attach_container',
      handle: { platform: 'linux_pid', pid: 2 },
      service: 'db',
      join_global: false,
    },
    { result: 'attached', ip: '10.201.0.2' },
  );
  const status: ResponseOf<'status'> = {
    result: 'status',
    interface: 'zl-overlay0',
    public_key: 'NODE',
    peer_count: 1,
    service_count: 2,
    peers: [
      {
        public_key: 'B',
        endpoint: '',
        allowed_ips: '10.200.0.16/28,10.200.0.32/28',
        last_handshake_unix_secs: 1,
      },
    ],
    dedicated_services: [
      {
        service: 'db',
        interface: 'zl-svc-db0',
        public_key: 'D',
        listen_port: 51821,
        overlay_ip: '10.201.0.1',
        subnet: '10.201.0.0/24',
        peer_count: 1,
      },
    ],
  };
  return { record, status };
}

const steps = (record: DeclaredState) => record.plan().map((step) => step.step);

describe('DeclaredState', () => {
  it('counts what was accepted and plans nothing while all of it is present', () => {
    const { record, status } = populated();
    expect(record.counts()).toEqual({
      identity: 2,
      globalOverlay: 1,
      serviceOverlays: 2,
      peers: 2,
      allowedIps: 1,
      dns: 1,
      attachments: 2,
    });
    expect(record.observe(status)).toBe('same');
    expect(record.plan()).toEqual([]);
  });

  it('re-applies everything, in dependency order, to an empty overlayd', () => {
    const { record } = populated();
    expect(record.observe(EMPTY)).toBe('restarted');
    expect(steps(record)).toEqual([
      'set_local_node_id',
      'set_local_wg_pubkey',
      'setup_global_overlay prod',
      'setup_service_overlay web',
      'setup_service_overlay db',
      'add_peer global B',
      'add_allowed_ip global B 10.200.0.32/28',
      'add_peer service db C',
      'register_dns n',
      'attach_container linux_pid 1',
      'attach_container linux_pid 2',
    ]);
    // The add_allowed_ip step keeps the peer's scope (global here: none given).
    expect(record.plan()[6]?.request).toEqual({
      op: 'add_allowed_ip',
      pubkey: 'B',
      cidr: '10.200.0.32/28',
    });
  });

  it('on the same overlayd, re-applies only what status shows missing, with what depends on it', () => {
    const { record, status } = populated();
    record.observe({ ...status, public_key: 'OTHER' });
    expect(steps(record)).toEqual(['set_local_wg_pubkey']);

    const noGlobal = populated();
    noGlobal.record.observe({ ...noGlobal.status, interface: undefined as never, peers: [] });
    // The global overlay takes its peers and the attachments drawn from its slice (web is shared).
    expect(steps(noGlobal.record)).toEqual([
      'setup_global_overlay prod',
      'add_peer global B',
      'add_allowed_ip global B 10.200.0.32/28',
      'attach_container linux_pid 1',
    ]);

    const lostAllowed = populated();
    lostAllowed.record.observe({
      ...lostAllowed.status,
      peers: [{ ...lostAllowed.status.peers[0]!, allowed_ips: '10.200.0.16/28' }],
    });
    expect(steps(lostAllowed.record)).toEqual(['add_allowed_ip global B 10.200.0.32/28']);

    const lostListed = populated();
    lostListed.record.observe({
      ...lostListed.status,
      peers: [{ ...lostListed.status.peers[0]!, allowed_ips: '10.200.0.32/28' }],
    });
    expect(steps(lostListed.record)).toEqual([
      'add_peer global B',
      'add_allowed_ip global B 10.200.0.32/28',
    ]);

    const noDedicated = populated();
    noDedicated.record.observe({ ...noDedicated.status, dedicated_services: [] });
    expect(steps(noDedicated.record)).toEqual([
      'setup_service_overlay db',
      'add_peer service db C',
      'attach_container linux_pid 2',
    ]);

    const fewerPeers = populated();
    fewerPeers.record.observe({
      ...fewerPeers.status,
      dedicated_services: [{ ...fewerPeers.status.dedicated_services[0]!, peer_count: 0 }],
    });
    expect(steps(fewerPeers.record)).toEqual(['add_peer service db C']);

    // A shared overlay is not shown by name: fewer of them re-sends the (idempotent) setup, and
    // its attachments are detached, then attached, since the overlay may have survived.
    const fewerServices = populated();
    fewerServices.record.observe({ ...fewerServices.status, service_count: 1 });
    expect(steps(fewerServices.record)).toEqual([
      'setup_service_overlay web',
      'detach_container linux_pid 1',
      'attach_container linux_pid 1',
    ]);

    // A dedicated overlay gone is shown by name: the shared ones are not suspected for it.
    const dedicatedGone = populated();
    dedicatedGone.record.observe({
      ...dedicatedGone.status,
      service_count: 1,
      dedicated_services: [],
    });
    expect(steps(dedicatedGone.record)).toEqual([
      'setup_service_overlay db',
      'add_peer service db C',
      'attach_container linux_pid 2',
    ]);
  });

  it('takes out what teardown, remove and detach remove', () => {
    const { record } = populated();
    record.accept({ op: 'remove_allowed_ip', pubkey: 'B', cidr: '10.200.0.32/28' }, ok);
    record.accept({ op: 'remove_allowed_ip', pubkey: 'B', cidr: '10.200.0.16/28' }, ok);
    record.accept({ op: 'remove_allowed_ip', pubkey: 'nobody', cidr: '10.0.0.0/8' }, ok);
    record.accept({ op: 'add_allowed_ip', pubkey: 'nobody', cidr: '10.0.0.0/8' }, ok);
    record.observe(EMPTY);
    expect(record.plan().find((step) => step.request.op === 'add_peer')?.request).toMatchObject({
      public_key: 'B',
      allowed_ips: '',
    });
    expect(steps(record)).not.toContain('add_allowed_ip global B 10.200.0.32/28');

    record.accept({ op: 'teardown_service_overlay', service: 'db' }, ok);
    record.accept({ op: 'unregister_dns', name: 'n' }, ok);
    record.accept({ op: 'detach_container', handle: { platform: 'linux_pid', pid: 1 } }, ok);
    record.accept({ op: 'remove_peer', pubkey: 'B' }, ok);
    record.accept({ op: 'nat_tick' }, ok);
    expect(record.counts()).toEqual({
      identity: 2,
      globalOverlay: 1,
      serviceOverlays: 1,
      peers: 0,
      allowedIps: 0,
      dns: 0,
      attachments: 0,
    });
    record.accept({ op: 'teardown_global_overlay' }, ok);
    expect(steps(record)).toEqual([
      'set_local_node_id',
      'set_local_wg_pubkey',
      'setup_service_overlay web',
    ]);
  });

  it('re-adding a peer replaces its later allowed IPs, as overlayd does', () => {
    const { record } = populated();
    record.accept(
      {
        op: 'add_peer',
        public_key: 'B',
        endpoint: '',
        allowed_ips: '10.200.0.48/28',
        persistent_keepalive_secs: 0,
      },
      ok,
    );
    record.accept({ op: 'add_allowed_ip', pubkey: 'B', cidr: '10.200.0.48/28' }, ok);
    expect(record.counts().allowedIps).toBe(0);
  });

  it('returns an attachment that came back with another address, and keeps the new one', () => {
    const { record } = populated();
    record.observe(EMPTY);
    const attach = record.plan().find((step) => step.step === 'attach_container linux_pid 1')!;
    expect(record.applied(attach, { result: 'attached', ip: '10.200.0.2' })).toBeUndefined();
    const other = record.plan().find((step) => step.step === 'attach_container linux_pid 2')!;
    const moved = record.applied(other, { result: 'attached', ip: '10.201.0.7' });
    expect(moved).toMatchObject({
      handle: { platform: 'linux_pid', pid: 2 },
      service: 'db',
      previousIp: '10.201.0.2',
      ip: '10.201.0.7',
    });
    expect(record.attachmentIp({ platform: 'linux_pid', pid: 2 })).toBe('10.201.0.7');
    expect(record.plan().map((step) => step.step)).not.toContain('attach_container linux_pid 2');
  });

  it('clears an attachment whose re-apply went unanswered before sending it again, until it is answered', () => {
    const { record, status } = populated();
    record.observe(EMPTY);
    const attach = record.plan().find((step) => step.step === 'attach_container linux_pid 1')!;
    record.unanswered(attach.request);
    // The same overlayd again: it may hold the attachment, so it is detached first.
    record.observe(status);
    const plan = record.plan();
    const detach = plan.find((step) => step.step === 'detach_container linux_pid 1')!;
    expect(isClearingStep(detach)).toBe(true);
    expect(detach.request).toEqual({
      op: 'detach_container',
      handle: { platform: 'linux_pid', pid: 1 },
    });
    expect(plan[plan.indexOf(detach) + 1]?.step).toBe('attach_container linux_pid 1');
    record.cleared(detach.request);
    expect(steps(record)).not.toContain('detach_container linux_pid 1');
    expect(steps(record)).toContain('attach_container linux_pid 1');

    // Unanswered again, then answered: nothing is left to clear.
    record.unanswered(attach.request);
    record.applied(attach, { result: 'attached', ip: '10.200.0.2' });
    expect(steps(record).filter((step) => step.includes('linux_pid 1'))).toEqual([]);

    // Unanswered again, then a new overlayd: it holds nothing, so nothing needs clearing.
    record.unanswered(attach.request);
    record.observe(EMPTY);
    expect(steps(record).filter((step) => step.includes('linux_pid 1'))).toEqual([
      'attach_container linux_pid 1',
    ]);
  });

  it("remembers the daemon's own unanswered attach of an undeclared handle until it is detached or overlayd is new", () => {
    const { record, status } = populated();
    const handle = { platform: 'linux_pid' as const, pid: 40 };
    const attach: OverlaydRequestInput = {
      op: 'attach_container',
      handle,
      service: 'web',
      join_global: false,
    };
    expect(record.isUncertain(handle)).toBe(false);
    record.unanswered(attach);
    expect(record.isUncertain(handle)).toBe(true);
    // Not declared: no resync step re-applies or clears it; the daemon's retry does.
    expect(steps(record).filter((step) => step.includes('linux_pid 40'))).toEqual([]);
    record.observe(status);
    expect(record.isUncertain(handle)).toBe(true);
    record.cleared({ op: 'detach_container', handle });
    expect(record.isUncertain(handle)).toBe(false);
    // Every other op is idempotent: nothing to remember.
    record.unanswered({ op: 'register_dns', name: 'x.local', ip: '10.0.0.9' });
    record.unanswered(attach);
    record.observe(EMPTY);
    expect(record.isUncertain(handle)).toBe(false);
  });

  it('forgets an unanswered attachment that left with its overlay or was detached', () => {
    const { record, status } = populated();
    record.observe(EMPTY);
    const attachDb = record.plan().find((step) => step.step === 'attach_container linux_pid 2')!;
    const attachWeb = record.plan().find((step) => step.step === 'attach_container linux_pid 1')!;
    record.unanswered(attachDb.request);
    record.unanswered(attachWeb.request);
    // The dedicated overlay is gone on this overlayd: so is what was attached to it.
    record.observe({ ...status, service_count: 1, dedicated_services: [] });
    expect(steps(record)).not.toContain('detach_container linux_pid 2');
    // The daemon detached the other one.
    record.accept({ op: 'detach_container', handle: { platform: 'linux_pid', pid: 1 } }, ok);
    expect(steps(record).filter((step) => step.startsWith('detach_container'))).toEqual([]);
  });
});
