/**
 * An OverlayManager with something to resync: overlayd in a child process,
 * and a manager that declared a global overlay, a service overlay and one
 * attachment on it. Both are closed by the test's cleanups.
 */
import { OverlayManager } from '../../src/index.js';
import { globalOverlay, wgKey } from './manager-fixtures.js';
import { type OverlaydChild, overlaydChild } from './overlayd-child.js';

/** What its resync after a restart re-applies, in order. */
export const DECLARED_STEPS = [
  'set_local_node_id',
  'set_local_wg_pubkey',
  'setup_global_overlay prod',
  'setup_service_overlay web',
  'attach_container linux_pid 4242',
];

export async function declaredManager(
  cleanups: Array<() => Promise<void>>,
): Promise<{ overlayd: OverlaydChild; manager: OverlayManager }> {
  const overlayd = await overlaydChild();
  cleanups.push(() => overlayd.cleanup());
  overlayd.start();
  const manager = await OverlayManager.connect(overlayd.socket, { connectAttempts: 20 });
  cleanups.push(() => manager.close());
  await manager.setupGlobalOverlay(globalOverlay(wgKey()));
  await manager.setupServiceOverlay({ service: 'web', mode: 'shared' });
  await manager.attachContainer({
    handle: { platform: 'linux_pid', pid: 4242 },
    service: 'web',
    joinGlobal: true,
  });
  return { overlayd, manager };
}
