import type { Machine } from '../../domain/inventory/schema.js';
import { type ApprovalPreview, runPreviewDigest, runSystems } from '../approval-preview.js';
import type { ApprovalAnswer, ApprovalPort } from '../run-flow.js';
import type { RunControl } from './run-control.js';
import type { RunJobData } from './run-request.js';

/**
 * The approval port of a queued run, over RunControl: approved once enough distinct people
 * approved; denied on a denial or when the request expires; otherwise waiting until the request
 * expires (an approval wakes the parked run at once). `news` when the wait is new or its count of
 * approvals changed since it was last announced, so each change is reported once.
 */
export class QueuedApprovals implements ApprovalPort {
  constructor(
    private readonly control: RunControl,
    private readonly data: RunJobData,
    /** Deploys: the machine's change preview, made when its approval is first asked for. */
    private readonly preview?: (machine: Machine) => Promise<ApprovalPreview>,
  ) {}

  async request(machine: Machine): Promise<ApprovalAnswer> {
    const { control, data } = this;
    const runId = data.state.id;
    const required = data.policy.required[machine.criticalityLevel];
    if (required === 0) return { type: 'approved', approvals: [] };
    const now = await control.read(runId);
    const denial = now.denials[machine.name];
    if (denial) return { type: 'denied', reason: `${machine.name} was denied by ${denial.by}` };
    const voided = now.voided[machine.name];
    if (voided) return { type: 'denied', reason: voided.reason };
    const approvals = await control.approvals(runId, machine.name);
    if (approvals.length >= required) return { type: 'approved', approvals };
    // Shown with the request, so made before it is announced; made again if the run rebuilt.
    if (this.preview) {
      const shown = now.previews[machine.name];
      const digest = runPreviewDigest(data.state, runSystems(data.state));
      if (!shown || shown.digest !== digest) {
        // A preview that cannot be made leaves the request without one; the approval stays bound.
        const made = await this.preview(machine).catch(() => ({ digest, preview: null }));
        await control.setPreview(runId, machine.name, made);
      }
    }
    const { since, first } = await control.markWaiting(runId, machine.name);
    const expiresAt = since + data.policy.timeout * 1000;
    if (Date.now() >= expiresAt)
      return {
        type: 'denied',
        reason: `the approval of ${machine.name} expired: ${approvals.length} of ${required} within ${duration(data.policy.timeout)}`,
      };
    const news = first || (now.announced[machine.name] ?? -1) !== approvals.length;
    if (news) await control.markAnnounced(runId, machine.name, approvals.length);
    return { type: 'waiting', until: expiresAt, required, approvals, news };
  }

  async startNow(machine: string): Promise<{ by: string } | null> {
    const request = (await this.control.read(this.data.state.id)).startNow[machine];
    return request ? { by: request.by } : null;
  }
}

/** Seconds as people say them: "45 s", "30 min", "2 h". */
function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
