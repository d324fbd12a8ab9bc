import { useState } from 'preact/hooks';
import { ApprovalList, type ApprovalStatus } from '@flotilla/protocol/api';
import { api, ApiError, canApprove, session } from '../api.ts';
import { ErrorNote } from './error-note.tsx';
import { Time } from './time.tsx';

type Requirement = ApprovalStatus['requirements'][number];

const UPLOAD_MAX_BYTES = 64 * 1024;

function who(requirement: Requirement, author: string): string {
  const from =
    requirement.approvers === null
      ? 'any registered approver'
      : `approvers matching ${requirement.approvers.join(', ')}`;
  return `${from}, never ${author} (the author)`;
}

/** The CLI command an approver runs on their own machine, where their key is. */
function command(rolloutId: string, override: boolean): string {
  const me = session.value?.name ?? 'you@example.com';
  return `flotilla rollout approve ${rolloutId} --key approver-key.json --as ${me}${override ? ' --override-window' : ''}`;
}

/** Reads an approval file the CLI signed (`flotilla rollout approve … --out FILE`). */
async function readApprovalFile(file: File): Promise<Record<string, unknown>> {
  if (file.size > UPLOAD_MAX_BYTES)
    throw new ApiError(0, 'APPROVAL_INVALID', `${file.name} is ${file.size} bytes; a signed approval is far smaller`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await file.text());
  } catch {
    throw new ApiError(0, 'APPROVAL_INVALID', `${file.name} is not JSON: sign it with flotilla rollout approve --out`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ApiError(0, 'APPROVAL_INVALID', `${file.name} holds no signed approval`);
  return parsed as Record<string, unknown>;
}

/**
 * A rollout's approvals (docs/dashboard.md, "Approving"): each policy that holds it for
 * approvals with how many it needs and from whom, the approvals given so far, and for an
 * approver the command that signs one with their own key, or an upload of the file that
 * command signed. The key never reaches the browser; the hub checks an upload as it checks
 * the CLI's.
 */
export function ApprovalsPanel({ status, onChange }: { status: ApprovalStatus; onChange: () => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const approver = canApprove() && status.active;
  const override = status.requirements.some((r) => r.action === 'override-window' && r.needed > 0);

  const upload = (input: HTMLInputElement): void => {
    const file = input.files?.[0];
    if (file === undefined) return;
    setBusy(true);
    setDone(undefined);
    readApprovalFile(file)
      .then((approval) =>
        api('POST', `/v1/rollouts/${encodeURIComponent(status.rolloutId)}/approvals`, ApprovalList, { approval }),
      )
      .then(() => {
        setError(undefined);
        setDone(`${file.name} recorded.`);
        onChange();
      })
      .catch(setError)
      .finally(() => {
        setBusy(false);
        input.value = '';
      });
  };

  return (
    <section class="card" aria-labelledby="approvals">
      <h2 id="approvals">Approvals</h2>
      {status.requirements.length === 0 ? (
        <p class="muted" data-testid="approvals-met">
          No policy holds this rollout for approvals now.
        </p>
      ) : (
        <div class="table-wrap">
          <table class="data">
            <caption class="sr-only">Policies that hold this rollout until they have enough approvals</caption>
            <thead>
              <tr>
                <th scope="col">Policy</th>
                <th scope="col">Needs</th>
                <th scope="col">Counted</th>
                <th scope="col">Still needed</th>
                <th scope="col">From</th>
                <th scope="col">Targets waiting</th>
              </tr>
            </thead>
            <tbody>
              {status.requirements.map((r) => (
                <tr key={`${r.policy} ${r.action}`} data-testid={`requirement-${r.policy}`}>
                  <td class="mono">{r.policy}</td>
                  <td>
                    {r.required} {r.action === 'approve' ? 'approvals' : 'window overrides'}
                  </td>
                  <td>
                    {r.counted.length === 0 ? (
                      <span class="muted">none</span>
                    ) : (
                      r.counted.map((c) => c.approver).join(', ')
                    )}
                  </td>
                  <td class="num" data-testid="still-needed">
                    {r.needed}
                  </td>
                  <td class="small">{who(r, status.author)}</td>
                  <td class="num">{r.waiting}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>Given so far</h3>
      {status.approvals.length === 0 ? (
        <p class="muted">None yet.</p>
      ) : (
        <div class="table-wrap">
          <table class="data">
            <caption class="sr-only">Approvals recorded for this rollout</caption>
            <thead>
              <tr>
                <th scope="col">Approver</th>
                <th scope="col">Action</th>
                <th scope="col">Key</th>
                <th scope="col">Signed</th>
                <th scope="col">Recorded</th>
                <th scope="col">Verifies now</th>
              </tr>
            </thead>
            <tbody>
              {status.approvals.map((a) => (
                <tr key={`${a.action} ${a.keyId}`} data-testid="approval-row">
                  <td>{a.approver}</td>
                  <td>{a.action}</td>
                  <td class="mono clip" title={a.keyId}>
                    {a.keyId}
                  </td>
                  <td>
                    <Time iso={a.approvedAt} />
                  </td>
                  <td>
                    <Time iso={a.recordedAt} /> by {a.recordedBy}
                  </td>
                  <td>{a.valid ? 'yes' : 'no: its key is no longer an approver key'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {approver && status.requirements.some((r) => r.needed > 0) ? (
        <div class="approve" data-testid="approve-actions">
          <h3>Approve</h3>
          <p>An approval is signed with your own approver key, on your machine; the key never enters this page. Run:</p>
          <pre data-testid="approve-command">{command(status.rolloutId, false)}</pre>
          {override ? (
            <p>
              To let it through a closed window (an emergency): <code>{command(status.rolloutId, true)}</code>
            </p>
          ) : null}
          <p>
            Or add <code>--out approval.json</code> to sign into a file, and upload it here; the hub checks it exactly
            as it checks the command's.
          </p>
          <label for="approval-file">Signed approval file</label>{' '}
          <input
            id="approval-file"
            type="file"
            accept=".json,application/json"
            disabled={busy}
            onChange={(e) => upload(e.currentTarget)}
          />
          {done === undefined ? null : (
            <p role="status" class="notice">
              {done}
            </p>
          )}
          <ErrorNote error={error} />
        </div>
      ) : null}
    </section>
  );
}
