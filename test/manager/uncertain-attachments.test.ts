/**
 * The rule for attachments overlayd may hold unbeknown to the record, on its
 * own: what goes out before an attach, and what an answer (or none) to an
 * attach or a clearing detach leaves marked. Requests go to a fake overlayd.
 */
import { describe, expect, it } from 'vitest';
import { ClosedError, OverlayError, TimeoutError } from '../../src/errors.js';
import { Declaration } from '../../src/manager/declared.js';
import { type Send, UncertainAttachments } from '../../src/manager/uncertain-attachments.js';
import type {
  OverlaydRequestInput,
  OverlaydResponse,
  RequestInputOf,
} from '../../src/protocol/index.js';

const HANDLE = { platform: 'linux_pid' as const, pid: 5 };
const ATTACH: RequestInputOf<'attach_container'> = {
  op: 'attach_container',
  handle: HANDLE,
  service: 'web',
  join_global: false,
};
const DETACH: RequestInputOf<'detach_container'> = { op: 'detach_container', handle: HANDLE };
const ATTACHED: OverlaydResponse = { result: 'attached', ip: '10.200.0.5' };

/** A fake overlayd: answers each op as told (an Error is thrown), and logs what it was sent. */
function overlayd(answers: Partial<Record<string, OverlaydResponse | Error>> = {}) {
  const sent: string[] = [];
  const send: Send = async (request: OverlaydRequestInput) => {
    sent.push(request.op);
    const answer = answers[request.op] ?? { result: 'ok' };
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { sent, send };
}

const unanswered = () => new ClosedError('connection lost', { delivery: 'sent' });

function uncertainHandle(): UncertainAttachments {
  const uncertain = new UncertainAttachments(new Declaration());
  uncertain.unanswered(ATTACH);
  return uncertain;
}

describe('UncertainAttachments', () => {
  it('sends the attach of a handle it has no doubt about alone', async () => {
    const uncertain = new UncertainAttachments(new Declaration());
    const { sent, send } = overlayd({ attach_container: ATTACHED });
    expect(await uncertain.attach(ATTACH, send)).toEqual(ATTACHED);
    expect(sent).toEqual(['attach_container']);
  });

  it('detaches an uncertain handle before attaching it, and an ok or an err clears it', async () => {
    for (const detachAnswer of [{ result: 'ok' } as const, new OverlayError('not attached')]) {
      const uncertain = uncertainHandle();
      const { sent, send } = overlayd({
        attach_container: ATTACHED,
        detach_container: detachAnswer,
      });
      expect(await uncertain.attach(ATTACH, send)).toEqual(ATTACHED);
      expect(sent).toEqual(['detach_container', 'attach_container']);
      expect(uncertain.isUncertain(HANDLE)).toBe(false);
    }
  });

  it('sends no attach, and keeps the doubt, when the clearing detach goes unanswered', async () => {
    const uncertain = uncertainHandle();
    const { sent, send } = overlayd({ detach_container: unanswered() });
    await expect(uncertain.attach(ATTACH, send)).rejects.toBeInstanceOf(ClosedError);
    expect(sent).toEqual(['detach_container']);
    expect(uncertain.isUncertain(HANDLE)).toBe(true);
  });

  it('marks an attach that went unanswered, and nothing else', async () => {
    const uncertain = new UncertainAttachments(new Declaration());
    const refused = overlayd({ attach_container: new OverlayError('already attached') });
    await expect(uncertain.track(ATTACH, refused.send)).rejects.toBeInstanceOf(OverlayError);
    expect(uncertain.isUncertain(HANDLE)).toBe(false);
    // Never written: overlayd cannot have run it.
    const unsent = overlayd({ attach_container: new TimeoutError(10, { delivery: 'not-sent' }) });
    await expect(uncertain.track(ATTACH, unsent.send)).rejects.toBeInstanceOf(TimeoutError);
    expect(uncertain.isUncertain(HANDLE)).toBe(false);
    // Every other op is idempotent.
    const lost = overlayd({ detach_container: unanswered(), attach_container: unanswered() });
    await expect(uncertain.track(DETACH, lost.send)).rejects.toBeInstanceOf(ClosedError);
    expect(uncertain.isUncertain(HANDLE)).toBe(false);
    await expect(uncertain.track(ATTACH, lost.send)).rejects.toBeInstanceOf(ClosedError);
    expect(uncertain.isUncertain(HANDLE)).toBe(true);
  });

  it('forgets every doubt when overlayd restarted: the retry goes alone', async () => {
    const uncertain = uncertainHandle();
    uncertain.restarted();
    const { sent, send } = overlayd({ attach_container: ATTACHED });
    await uncertain.attach(ATTACH, send);
    expect(sent).toEqual(['attach_container']);
  });

  it('names a Windows container in its clearing detach by the namespace GUID its attach answered', () => {
    const declared = new Declaration();
    const handle = { platform: 'windows_container' as const, container_id: 'c1' };
    const attach = { ...ATTACH, handle };
    declared.attach('windows_container c1', attach, { ...ATTACHED, namespace_guid: 'g1' });
    const uncertain = new UncertainAttachments(declared);
    uncertain.unanswered(attach);
    const detach = uncertain.detachFirst('windows_container c1', handle);
    expect(detach).toEqual({
      op: 'detach_container',
      handle: { platform: 'windows_container', container_id: 'g1' },
    });
    uncertain.cleared(detach!);
    expect(uncertain.detachFirst('windows_container c1', handle)).toBeUndefined();
    expect(uncertain.isUncertain(handle)).toBe(false);
  });
});
