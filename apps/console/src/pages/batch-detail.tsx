import { Fragment, type ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { request } from '../api/client';
import { useAction, useQuery } from '../api/hooks';
import { AccountsDocument, BatchDocument, BatchRequestDocument, CancelBatchDocument, RerunBatchDocument, type BatchQuery } from '../gql/graphql';
import { bytes, count, dateTime, dateTimeMs, LIVE_POLL_MS, LIVE_STATUSES, money, percent, relative } from '../format';
import { Link, navigate, useLocation, withQuery } from '../router';
import { Confirm, Empty, Field, Id, Loading, Problem, Progress, StatusBadge, TableBox } from '../ui/components';
import { DownloadButton } from '../ui/download';

type Batch = NonNullable<BatchQuery['batch']>;

export const REQUEST_PAGE_SIZE = 50;
const REQUEST_STATUSES = ['pending', 'completed', 'failed'];
/** Statuses from which the API accepts a cancel. */
const CANCELLABLE = ['validating', 'in_progress'];
/** Finished statuses from which the API accepts a rerun of the failed and unrun lines. */
const RERUNNABLE = ['completed', 'expired', 'cancelled'];

function Section({ title, children, id }: { title: string; id: string; children: ComponentChildren }) {
  return (
    <section class="panel" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

function Timeline({ batch }: { batch: Batch }) {
  const steps: [string, number | null][] = [
    ['Created', batch.createdAt],
    ['In progress', batch.inProgressAt ?? null],
    ['Finalizing', batch.finalizingAt ?? null],
    ['Completed', batch.completedAt ?? null],
    ['Failed', batch.failedAt ?? null],
    ['Expired', batch.expiredAt ?? null],
    ['Cancelling', batch.cancellingAt ?? null],
    ['Cancelled', batch.cancelledAt ?? null],
  ];
  return (
    <dl class="facts timeline">
      {steps
        // A running batch shows the states still ahead of it; a finished one only those it went through.
        .filter(([label, at]) => at != null || (LIVE_STATUSES.includes(batch.status) && (label === 'In progress' || label === 'Finalizing')))
        .map(([label, at]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{at == null ? <span class="muted">not yet</span> : dateTime(at)}</dd>
          </div>
        ))}
      <div>
        <dt>Expires</dt>
        <dd>
          {dateTime(batch.expiresAt)} <span class="muted">({relative(batch.expiresAt)})</span>
        </dd>
      </div>
    </dl>
  );
}

function Route({ batch }: { batch: Batch }) {
  const { sku, provider } = batch;
  return (
    <dl class="facts">
      <div>
        <dt>Model</dt>
        <dd>
          {batch.model} → <span class="mono">{batch.upstreamModel}</span>
        </dd>
      </div>
      <div>
        <dt>SKU</dt>
        <dd>
          {sku ? (
            <>
              <Link to="/routing">{sku.id}</Link> {sku.active ? null : <span class="badge inactive">now inactive</span>}
            </>
          ) : (
            <span class="muted">deleted since</span>
          )}
        </dd>
      </div>
      <div>
        <dt>Provider</dt>
        <dd>
          {provider ? (
            <>
              {provider.id}{' '}
              <span class="muted">
                ({provider.kind}, up to {provider.maxConcurrency} in flight)
              </span>
            </>
          ) : (
            <span class="muted">deleted since</span>
          )}
        </dd>
      </div>
      <div>
        <dt>Execution</dt>
        <dd>{batch.execution === 'provider_batch' ? "the provider's Batch API" : 'realtime, one request per line'}</dd>
      </div>
      <div>
        <dt>Throughput</dt>
        <dd>
          {count(batch.throughput.linesLastMinute)} lines in the last minute
          {batch.throughput.providerShare > 0 ? `, ${percent(batch.throughput.providerShare)} of the provider's` : ''}
        </dd>
      </div>
    </dl>
  );
}

function ProviderBatches({ parts }: { parts: Batch['providerBatches'] }) {
  if (parts.length === 0) return null;
  return (
    <TableBox>
      <table>
        <caption>Provider batches</caption>
        <thead>
          <tr>
            <th>Part</th>
            <th>Lines</th>
            <th>State</th>
            <th>Provider batch</th>
            <th>Provider status</th>
            <th>Done</th>
            <th>Last poll</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {parts.map((p) => (
            <tr key={p.part}>
              <td>{p.part}</td>
              <td>
                {p.firstLine}–{p.lastLine}
              </td>
              <td>{p.state}</td>
              <td>{p.providerBatchId ? <Id value={p.providerBatchId} /> : '—'}</td>
              <td>{p.providerStatus ?? '—'}</td>
              <td>
                {p.completed + p.failed}/{p.total}
              </td>
              <td>{dateTime(p.lastPolledAt)}</td>
              <td>{p.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}

/** JSON text indented for reading; text that does not parse (such as a body cut at 64 KiB) as it is. */
function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/** One line's stored answer or error, read from the API when the operator opens it. */
function LineAnswer({ batchId, line }: { batchId: string; line: number }) {
  const answer = useQuery(BatchRequestDocument, { id: batchId, line });
  const r = answer.data?.batch?.request;
  if (!answer.data) return answer.error ? <Problem error={answer.error} /> : <Loading what={`the answer of line ${line}`} />;
  if (!r) return <p class="muted">This line is no longer stored.</p>;
  return (
    <div class="line-answer" data-line={line}>
      {r.errorCode ? (
        <p>
          Error <code>{r.errorCode}</code> {r.errorMessage}
        </p>
      ) : null}
      {r.responseBody != null ? (
        <>
          <p class="muted">
            {r.upstreamStatus != null ? `HTTP ${r.upstreamStatus} answer` : 'Answer'}
            {r.truncated && r.responseBytes != null ? `: the first 64 KiB of ${bytes(r.responseBytes)}; the whole answer is in the output file` : ''}
          </p>
          <pre class="answer-body">{r.truncated ? r.responseBody : pretty(r.responseBody)}</pre>
        </>
      ) : r.errorCode ? null : (
        <p class="muted">{r.status === 'pending' ? 'Not answered yet.' : 'No answer body was recorded.'}</p>
      )}
    </div>
  );
}

function RequestLines({ batch, afterLine, status, trail }: { batch: Batch; afterLine: number; status: string; trail: number[] }) {
  const [open, setOpen] = useState<ReadonlySet<number>>(new Set());
  const toggle = (line: number) => {
    const next = new Set(open);
    if (!next.delete(line)) next.add(line);
    setOpen(next);
  };
  const page = batch.requests;
  const go = (next: { afterLine: number; status: string; trail: number[] }) =>
    navigate(
      withQuery(`/batches/${encodeURIComponent(batch.id)}`, {
        after: next.afterLine ? String(next.afterLine) : null,
        lines: next.status || null,
        back: next.trail.map(String),
      }),
      { replace: true },
    );
  const first = page.rows[0]?.line;
  const last = page.rows[page.rows.length - 1]?.line;
  return (
    <>
      <div class="toolbar">
        <label class="field inline">
          <span class="field-label">Show</span>
          <select value={status} onChange={(e) => go({ afterLine: 0, status: e.currentTarget.value, trail: [] })}>
            <option value="">every line</option>
            {REQUEST_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s} lines
              </option>
            ))}
          </select>
        </label>
        <span class="count">{first === undefined ? '' : `Lines ${first}–${last}`}</span>
      </div>
      {page.rows.length === 0 ? (
        <Empty title={status ? `No ${status} lines.` : 'No request lines yet.'}>
          {status ? 'Show every line instead.' : 'The lines appear once the input file has been validated.'}
        </Empty>
      ) : (
        <TableBox>
          <table class="requests">
            <thead>
              <tr>
                <th>Line</th>
                <th>custom_id</th>
                <th>Status</th>
                <th>Upstream</th>
                <th>Latency</th>
                <th>Attempts</th>
                <th>Answer or error</th>
              </tr>
            </thead>
            <tbody>
              {page.rows.map((r) => (
                <Fragment key={r.line}>
                  <tr>
                    <td>{r.line}</td>
                    <td class="mono">{r.customId}</td>
                    <td>
                      <span class={`badge line-${r.status}`}>{r.status}</span>
                    </td>
                    <td>{r.upstreamStatus ?? '—'}</td>
                    <td>{r.latencyMs == null ? '—' : `${count(r.latencyMs)} ms`}</td>
                    <td>{r.attempts}</td>
                    <td class="answer">
                      {r.errorCode ? (
                        <>
                          <code>{r.errorCode}</code> {r.errorMessage}
                        </>
                      ) : r.status === 'completed' ? (
                        <span class="muted">
                          answered {r.upstreamStatus ?? ''} at {dateTime(r.finishedAt)}
                        </span>
                      ) : (
                        <span class="muted">not answered yet</span>
                      )}
                      {r.status === 'pending' ? null : (
                        <button type="button" class="toggle" aria-expanded={open.has(r.line)} onClick={() => toggle(r.line)}>
                          {open.has(r.line) ? 'Hide answer' : 'Show answer'}
                        </button>
                      )}
                    </td>
                  </tr>
                  {open.has(r.line) && r.status !== 'pending' ? (
                    <tr class="answer-row">
                      <td colSpan={7}>
                        <LineAnswer key={`${r.line}:${r.status}:${r.attempts}`} batchId={batch.id} line={r.line} />
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      <nav class="pager" aria-label="Pages of request lines">
        <button type="button" disabled={trail.length === 0} onClick={() => go({ afterLine: trail[trail.length - 1] ?? 0, status, trail: trail.slice(0, -1) })}>
          Previous lines
        </button>
        <button
          type="button"
          disabled={page.nextAfterLine == null}
          onClick={() => go({ afterLine: page.nextAfterLine ?? 0, status, trail: [...trail, afterLine] })}
        >
          Next lines
        </button>
      </nav>
    </>
  );
}

function Deliveries({ deliveries }: { deliveries: Batch['deliveries'] }) {
  if (deliveries.length === 0) {
    return (
      <Empty title="No webhook deliveries.">
        A batch calls its <code>callback_url</code>, or its account's webhook URL (set on the Accounts page), when it ends.
      </Empty>
    );
  }
  return (
    <>
      {deliveries.map((d) => (
        <article key={d.eventId} class="delivery">
          <h3>
            {d.type} <span class={`badge delivery-${d.status}`}>{d.status}</span>
          </h3>
          <dl class="facts">
            <div>
              <dt>Event</dt>
              <dd>
                <Id value={d.eventId} />
              </dd>
            </div>
            <div>
              <dt>Target</dt>
              <dd class="mono">{d.targetUrl}</dd>
            </div>
            <div>
              <dt>Attempts</dt>
              <dd>{d.attempts}</dd>
            </div>
            <div>
              <dt>{d.deliveredAt ? 'Delivered' : 'Next attempt'}</dt>
              <dd>
                {d.deliveredAt ? dateTime(d.deliveredAt) : d.nextAttemptAt ? `${dateTimeMs(d.nextAttemptAt)} (${relative(d.nextAttemptAt / 1000)})` : '—'}
              </dd>
            </div>
          </dl>
          {d.history.length > 0 ? (
            <TableBox>
              <table>
                <thead>
                  <tr>
                    <th>Attempt</th>
                    <th>At</th>
                    <th>HTTP status</th>
                    <th>Latency</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  {d.history.map((a) => (
                    <tr key={a.attempt}>
                      <td>{a.attempt}</td>
                      <td>{dateTimeMs(a.attemptedAt)}</td>
                      <td>{a.statusCode ?? '—'}</td>
                      <td>{count(a.latencyMs)} ms</td>
                      <td>{a.error ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableBox>
          ) : null}
        </article>
      ))}
    </>
  );
}

export function BatchDetailPage({ id }: { id: string }) {
  const { query } = useLocation();
  const afterLine = Number(query.get('after')) || 0;
  const lineStatus = query.get('lines') ?? '';
  const trail = query.getAll('back').map(Number);
  const [confirming, setConfirming] = useState(false);
  const cancel = useAction();
  const [rerunning, setRerunning] = useState(false);
  const [rerunCodes, setRerunCodes] = useState('');
  const rerun = useAction();
  const accounts = useQuery(AccountsDocument, {});
  const detail = useQuery(
    BatchDocument,
    { id, first: REQUEST_PAGE_SIZE, afterLine, requestStatus: lineStatus || null },
    // While it runs, and while a webhook delivery of it waits for a retry.
    { poll: (d) => (d.batch && (LIVE_STATUSES.includes(d.batch.status) || d.batch.deliveries.some((x) => x.status === 'pending')) ? LIVE_POLL_MS : null) },
  );
  const batch = detail.data?.batch;

  if (!detail.data) return detail.error ? <Problem error={detail.error} /> : <Loading what="the batch" />;
  if (!batch) {
    return (
      <Empty title={`There is no batch ${id}.`}>
        Check the id, or find the batch on the <Link to="/batches">Batches</Link> page.
      </Empty>
    );
  }
  const account = accounts.data?.accounts.find((a) => a.id === batch.accountId);

  const doCancel = () =>
    void cancel
      .run(() => request(CancelBatchDocument, { id: batch.id }))
      .then((ok) => {
        if (!ok) return;
        setConfirming(false);
        detail.refresh();
      });

  const doRerun = () => {
    const codes = rerunCodes
      .split(/[\s,]+/)
      .map((c) => c.trim())
      .filter(Boolean);
    void rerun.run(async () => {
      const { rerunBatch } = await request(RerunBatchDocument, { id: batch.id, errorCodes: codes.length > 0 ? codes : null });
      setRerunning(false);
      setRerunCodes('');
      navigate(`/batches/${encodeURIComponent(rerunBatch.id)}`);
    });
  };
  const { total, completed, failed } = batch.requestCounts;
  const canRerun = RERUNNABLE.includes(batch.status) && (failed > 0 || completed + failed < total);

  return (
    <article class="batch-detail" aria-labelledby="batch-title">
      <div class="page-head">
        <div>
          <p class="crumbs">
            <Link to="/batches">Batches</Link> /
          </p>
          <h1 id="batch-title" class="mono">
            {batch.id}
          </h1>
        </div>
        <div class="head-actions">
          <StatusBadge status={batch.status} />
          {CANCELLABLE.includes(batch.status) ? (
            <button
              type="button"
              class="danger"
              onClick={() => {
                cancel.clear();
                setConfirming(true);
              }}
            >
              Cancel batch
            </button>
          ) : null}
          {canRerun ? (
            <button
              type="button"
              onClick={() => {
                rerun.clear();
                setRerunning(true);
              }}
            >
              Rerun failed lines
            </button>
          ) : null}
        </div>
      </div>
      <Problem error={detail.error} />
      {confirming ? (
        <Confirm
          title="Cancel this batch?"
          confirmLabel="Cancel batch"
          backLabel="Keep it running"
          danger
          pending={cancel.pending}
          error={cancel.error}
          onConfirm={doCancel}
          onClose={() => setConfirming(false)}
        >
          <p>Lines not sent yet will not be sent; lines in flight finish. The output and error files keep what finished. This cannot be undone.</p>
          <p class="mono">{batch.id}</p>
        </Confirm>
      ) : null}
      {rerunning ? (
        <Confirm
          title="Rerun the failed lines?"
          confirmLabel="Rerun lines"
          backLabel="Back"
          pending={rerun.pending}
          error={rerun.error}
          onConfirm={doRerun}
          onClose={() => setRerunning(false)}
        >
          <p>
            A new batch of the same account is created from this batch's lines that failed or never ran ({count(failed)} failed,{' '}
            {count(Math.max(total - completed - failed, 0))} not run), routed as a new batch would be. Its metadata links back here; this batch is not changed.
          </p>
          <Field label="Only these error codes" hint="Separated by commas or spaces. Empty: every failed line except those refused for the request itself.">
            <input value={rerunCodes} placeholder="e.g. upstream_server_error, batch_expired" onInput={(e) => setRerunCodes(e.currentTarget.value)} />
          </Field>
        </Confirm>
      ) : null}

      <div class="summary">
        <Progress counts={batch.requestCounts} />
        <dl class="facts">
          <div>
            <dt>Lines</dt>
            <dd>{count(batch.requestCounts.total)}</dd>
          </div>
          <div>
            <dt>Completed</dt>
            <dd>{count(batch.requestCounts.completed)}</dd>
          </div>
          <div>
            <dt>Failed</dt>
            <dd>{count(batch.requestCounts.failed)}</dd>
          </div>
          <div>
            <dt>Tokens</dt>
            <dd>
              {count(batch.usage.totalTokens)}{' '}
              <span class="muted">
                ({count(batch.usage.inputTokens)} in, {count(batch.usage.outputTokens)} out)
              </span>
            </dd>
          </div>
          <div>
            <dt>Cost</dt>
            <dd data-testid="batch-cost">
              {batch.cost ? money(batch.cost) : <span class="muted">no prices on its SKU</span>}
              {batch.inputPricePerMtok != null || batch.outputPricePerMtok != null ? (
                <span class="muted">
                  {' '}
                  (per million tokens: {batch.inputPricePerMtok ?? '—'} in, {batch.outputPricePerMtok ?? '—'} out)
                </span>
              ) : null}
            </dd>
          </div>
        </dl>
      </div>

      <div class="columns">
        <Section title="Timeline" id="timeline-title">
          <Timeline batch={batch} />
        </Section>
        <Section title="Route" id="route-title">
          <Route batch={batch} />
          <ProviderBatches parts={batch.providerBatches} />
        </Section>
        <Section title="Request" id="request-title">
          <dl class="facts">
            <div>
              <dt>Account</dt>
              <dd>
                <Link to={`/accounts/${encodeURIComponent(batch.accountId)}`}>{account?.name ?? batch.accountId}</Link>
              </dd>
            </div>
            <div>
              <dt>Endpoint</dt>
              <dd class="mono">{batch.endpoint}</dd>
            </div>
            <div>
              <dt>Window</dt>
              <dd>{batch.completionWindow}</dd>
            </div>
            <div>
              <dt>Callback</dt>
              <dd class="mono">{batch.callbackUrl ?? <span class="muted">none (the account's webhook, if set)</span>}</dd>
            </div>
            <div>
              <dt>Metadata</dt>
              <dd>
                {batch.metadata.length === 0 ? (
                  <span class="muted">none</span>
                ) : (
                  batch.metadata.map((m) => (
                    <span key={m.key} class="kv">
                      {m.key}={m.value}
                    </span>
                  ))
                )}
              </dd>
            </div>
          </dl>
        </Section>
        <Section title="Files" id="files-title">
          <ul class="files">
            <FileRow label="Input" fileId={batch.inputFileId} />
            <FileRow label="Output" fileId={batch.outputFileId ?? null} none={LIVE_STATUSES.includes(batch.status) ? 'written when the batch ends' : 'none'} />
            <FileRow label="Errors" fileId={batch.errorFileId ?? null} none={LIVE_STATUSES.includes(batch.status) ? 'written when the batch ends' : 'none'} />
          </ul>
        </Section>
      </div>

      {batch.errors.length > 0 ? (
        <Section title="Errors" id="errors-title">
          <ul class="errors">
            {batch.errors.map((e, i) => (
              <li key={i}>
                <code>{e.code}</code> {e.message}
                {e.line != null ? <span class="muted"> (line {e.line})</span> : null}
                {e.param ? <span class="muted"> ({e.param})</span> : null}
              </li>
            ))}
          </ul>
        </Section>
      ) : null}

      <Section title="Webhook deliveries" id="deliveries-title">
        <Deliveries deliveries={batch.deliveries} />
      </Section>

      <Section title="Request lines" id="lines-title">
        <RequestLines batch={batch} afterLine={afterLine} status={lineStatus} trail={trail} />
      </Section>
    </article>
  );
}

function FileRow({ label, fileId, none = 'none' }: { label: string; fileId: string | null; none?: string }) {
  return (
    <li>
      <span class="file-label">{label}</span>
      {fileId ? (
        <>
          <Id value={fileId} />
          <DownloadButton fileId={fileId} label={`Download ${label.toLowerCase()} file`} />
        </>
      ) : (
        <span class="muted">{none}</span>
      )}
    </li>
  );
}
