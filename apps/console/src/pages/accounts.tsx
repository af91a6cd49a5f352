import { useState } from 'preact/hooks';
import { ApiProblem, request } from '../api/client';
import { useAction, useQuery } from '../api/hooks';
import {
  AccountsDocument,
  CreateAccountDocument,
  CreateApiKeyDocument,
  RevokeApiKeyDocument,
  RotateWebhookSecretDocument,
  SetAccountQuotasDocument,
  SetAccountSpendLimitDocument,
  SetAccountWebhookDocument,
  SetAccountWeightDocument,
  type AccountsQuery,
} from '../gql/graphql';
import { count, dateTime, money } from '../format';
import { Link, navigate, withQuery } from '../router';
import { Confirm, CopyButton, Empty, Field, Id, Loading, Problem, TableBox } from '../ui/components';

type Account = AccountsQuery['accounts'][number];

/**
 * The message of a failure about one of `params` (or a part of it, such as `enqueuedTokenLimits.0.limit`),
 * to show next to that field; others are shown above the form.
 */
function fieldError(error: unknown, ...params: string[]): string | null {
  if (!(error instanceof ApiProblem) || !error.param) return null;
  const { param } = error;
  return params.some((p) => param === p || param.startsWith(`${p}.`) || param.startsWith(`${p}[`)) ? error.message : null;
}

function formError(error: unknown, ...params: string[]): unknown {
  return fieldError(error, ...params) ? null : error;
}

function CreateAccountForm({ onCreated }: { onCreated: (id: string) => void }) {
  const [name, setName] = useState('');
  const create = useAction();
  return (
    <form
      class="inline-form"
      aria-label="Create an account"
      onSubmit={(e) => {
        e.preventDefault();
        void create.run(async () => {
          const { createAccount } = await request(CreateAccountDocument, { name: name.trim() });
          setName('');
          onCreated(createAccount.id);
        });
      }}
    >
      <Field label="New account name" error={fieldError(create.error, 'name')}>
        <input value={name} required maxLength={200} placeholder="e.g. research-team" onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <button type="submit" class="primary" disabled={create.pending || name.trim() === ''}>
        Create account
      </button>
      <Problem error={formError(create.error, 'name')} />
    </form>
  );
}

/** A new key's secret, shown once: the gateway keeps only its hash. */
function NewKey({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div class="new-key" role="status">
      <p>
        <strong>The new API key.</strong> Copy it now: it is shown only this once, and the gateway cannot show it again.
      </p>
      <p class="secret">
        <code data-testid="new-api-key">{secret}</code>
        <CopyButton text={secret} label="Copy key" />
      </p>
      <button type="button" onClick={onDone}>
        I have copied it
      </button>
    </div>
  );
}

function ApiKeys({ account, onChange }: { account: Account; onChange: () => void }) {
  const [secret, setSecret] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<Account['apiKeys'][number] | null>(null);
  const create = useAction();
  const revoke = useAction();
  const active = account.apiKeys.filter((k) => k.revokedAt == null);
  return (
    <section class="panel" aria-labelledby="keys-title">
      <div class="panel-head">
        <h2 id="keys-title">API keys</h2>
        <button
          type="button"
          class="primary"
          disabled={create.pending}
          onClick={() =>
            void create.run(async () => {
              const { createApiKey } = await request(CreateApiKeyDocument, { accountId: account.id });
              setSecret(createApiKey.secret);
              onChange();
            })
          }
        >
          Create API key
        </button>
      </div>
      <Problem error={create.error} />
      {secret ? <NewKey secret={secret} onDone={() => setSecret(null)} /> : null}
      {account.apiKeys.length === 0 ? (
        <Empty title="This account has no API key.">Create one, and give it to the client: it calls /v1 with it as its bearer token.</Empty>
      ) : (
        <TableBox>
          <table>
            <thead>
              <tr>
                <th>Key</th>
                <th>Created</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {account.apiKeys.map((k) => (
                <tr key={k.id}>
                  <td class="mono">{k.prefix}…</td>
                  <td>{dateTime(k.createdAt)}</td>
                  <td>{k.revokedAt ? `revoked ${dateTime(k.revokedAt)}` : 'active'}</td>
                  <td>
                    {k.revokedAt ? null : (
                      <button
                        type="button"
                        class="danger"
                        onClick={() => {
                          revoke.clear();
                          setRevoking(k);
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      {active.length === 0 && account.apiKeys.length > 0 ? <p class="muted">Every key is revoked: the account's clients cannot call the API.</p> : null}
      {revoking ? (
        <Confirm
          title="Revoke this API key?"
          confirmLabel="Revoke key"
          danger
          pending={revoke.pending}
          error={revoke.error}
          onClose={() => setRevoking(null)}
          onConfirm={() =>
            void revoke
              .run(() => request(RevokeApiKeyDocument, { id: revoking.id }))
              .then((ok) => {
                if (!ok) return;
                setRevoking(null);
                onChange();
              })
          }
        >
          <p>
            Clients using the key starting <code>{revoking.prefix}</code> are refused from now on. Batches they already created keep running.
          </p>
        </Confirm>
      ) : null}
    </section>
  );
}

function Webhook({ account, onChange }: { account: Account; onChange: () => void }) {
  const [url, setUrl] = useState(account.webhookUrl ?? '');
  const [showSecret, setShowSecret] = useState(false);
  const [rotating, setRotating] = useState(false);
  const save = useAction();
  const rotate = useAction();
  const [saved, setSaved] = useState(false);
  const submit = (value: string | null) =>
    void save
      .run(() => request(SetAccountWebhookDocument, { accountId: account.id, url: value }))
      .then((ok) => {
        setSaved(ok);
        if (ok) onChange();
      });
  return (
    <section class="panel" aria-labelledby="webhook-title">
      <h2 id="webhook-title">Webhook</h2>
      <form
        class="inline-form"
        aria-label="Default webhook URL"
        onSubmit={(e) => {
          e.preventDefault();
          submit(url.trim() || null);
        }}
      >
        <Field
          label="Default webhook URL"
          error={fieldError(save.error, 'url', 'webhook_url', 'webhookUrl')}
          hint="Called when a batch of this account ends, unless the batch has its own callback_url."
        >
          <input
            type="url"
            value={url}
            placeholder="https://example.com/hooks/batches"
            onInput={(e) => {
              setSaved(false);
              setUrl(e.currentTarget.value);
            }}
          />
        </Field>
        <button type="submit" class="primary" disabled={save.pending}>
          Save
        </button>
        {account.webhookUrl ? (
          <button
            type="button"
            disabled={save.pending}
            onClick={() => {
              setUrl('');
              submit(null);
            }}
          >
            Remove
          </button>
        ) : null}
        {saved && !save.pending ? (
          <span class="saved" role="status">
            Saved
          </span>
        ) : null}
      </form>
      <Problem error={formError(save.error, 'url', 'webhook_url', 'webhookUrl')} />
      <div class="secret-row">
        <span class="field-label">Signing secret</span>
        <code class={showSecret ? 'secret' : 'secret hidden-secret'}>{showSecret ? account.webhookSecret : 'whsec_' + '•'.repeat(24)}</code>
        <button type="button" onClick={() => setShowSecret(!showSecret)}>
          {showSecret ? 'Hide' : 'Show'}
        </button>
        {showSecret ? <CopyButton text={account.webhookSecret} /> : null}
        <button
          type="button"
          class="danger"
          onClick={() => {
            rotate.clear();
            setRotating(true);
          }}
        >
          Rotate
        </button>
      </div>
      <p class="field-hint">Receivers check each delivery's Standard Webhooks signature with this secret.</p>
      {rotating ? (
        <Confirm
          title="Rotate the signing secret?"
          confirmLabel="Rotate secret"
          danger
          pending={rotate.pending}
          error={rotate.error}
          onClose={() => setRotating(false)}
          onConfirm={() =>
            void rotate
              .run(() => request(RotateWebhookSecretDocument, { accountId: account.id }))
              .then((ok) => {
                if (!ok) return;
                setRotating(false);
                setShowSecret(true);
                onChange();
              })
          }
        >
          <p>Deliveries are signed with a new secret from now on; receivers still checking with the old one will reject them until they are updated.</p>
        </Confirm>
      ) : null}
    </section>
  );
}

function Weight({ account, onChange }: { account: Account; onChange: () => void }) {
  const [weight, setWeight] = useState(String(account.weight));
  const save = useAction();
  const [saved, setSaved] = useState(false);
  const value = Number(weight);
  const valid = Number.isInteger(value) && value >= 1 && value <= 1000;
  return (
    <section class="panel" aria-labelledby="weight-title">
      <h2 id="weight-title">Fair share</h2>
      <form
        class="inline-form"
        aria-label="Scheduling weight"
        onSubmit={(e) => {
          e.preventDefault();
          void save
            .run(() => request(SetAccountWeightDocument, { accountId: account.id, weight: value }))
            .then((ok) => {
              setSaved(ok);
              if (ok) onChange();
            });
        }}
      >
        <Field
          label="Scheduling weight"
          error={fieldError(save.error, 'weight') ?? (valid ? null : 'A whole number from 1 to 1000.')}
          hint="A busy provider is shared between accounts in proportion to their weights (3 and 1 split it 75/25)."
        >
          <input
            type="number"
            min={1}
            max={1000}
            step={1}
            value={weight}
            onInput={(e) => {
              setSaved(false);
              setWeight(e.currentTarget.value);
            }}
          />
        </Field>
        <button type="submit" class="primary" disabled={save.pending || !valid}>
          Save
        </button>
        {saved && !save.pending ? (
          <span class="saved" role="status">
            Saved
          </span>
        ) : null}
      </form>
      <Problem error={formError(save.error, 'weight')} />
    </section>
  );
}

/** A whole number of 0 or more typed in a field, null for empty; undefined (with a problem) for anything else. */
function wholeOrNone(raw: string, problems: Record<string, string>, name: string): number | null | undefined {
  const text = raw.trim();
  if (text === '') return null;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    problems[name] = 'A whole number, 0 or more (empty: no limit).';
    return undefined;
  }
  return value;
}

function SpendLimit({ account, onChange }: { account: Account; onChange: () => void }) {
  const [amount, setAmount] = useState(account.monthlySpendLimit?.amount ?? '');
  const save = useAction();
  const [saved, setSaved] = useState(false);
  const submit = (value: string | null) =>
    void save
      .run(() => request(SetAccountSpendLimitDocument, { accountId: account.id, amount: value }))
      .then((ok) => {
        setSaved(ok);
        if (ok) onChange();
      });
  const limit = account.monthlySpendLimit;
  return (
    <section class="panel" aria-labelledby="spend-title">
      <h2 id="spend-title">Spend</h2>
      <dl class="facts">
        <div>
          <dt>This month</dt>
          <dd data-testid="month-to-date-spend">{money(account.monthToDateSpend)}</dd>
        </div>
        <div>
          <dt>Monthly limit</dt>
          <dd data-testid="monthly-spend-limit">{limit ? money(limit) : <span class="muted">none</span>}</dd>
        </div>
      </dl>
      <form
        class="inline-form"
        aria-label="Spend limit"
        onSubmit={(e) => {
          e.preventDefault();
          submit(amount.trim() || null);
        }}
      >
        <Field
          label="Monthly spend limit"
          error={fieldError(save.error, 'amount')}
          hint={`In ${account.monthToDateSpend.currency}, e.g. 250.00; empty: no limit. New batches that would pass it are refused, and running ones stop when it is reached.`}
        >
          <input
            inputMode="decimal"
            value={amount}
            onInput={(e) => {
              setSaved(false);
              setAmount(e.currentTarget.value);
            }}
          />
        </Field>
        <button type="submit" class="primary" disabled={save.pending}>
          Save limit
        </button>
        {limit ? (
          <button
            type="button"
            disabled={save.pending}
            onClick={() => {
              setAmount('');
              submit(null);
            }}
          >
            Remove limit
          </button>
        ) : null}
        {saved && !save.pending ? (
          <span class="saved" role="status">
            Saved
          </span>
        ) : null}
      </form>
      <Problem error={formError(save.error, 'amount')} />
    </section>
  );
}

function Quotas({ account, onChange }: { account: Account; onChange: () => void }) {
  const { quotas, quotaUse } = account;
  const [maxBatches, setMaxBatches] = useState(quotas.maxUnfinishedBatches == null ? '' : String(quotas.maxUnfinishedBatches));
  const [maxTokens, setMaxTokens] = useState(quotas.maxEnqueuedTokens == null ? '' : String(quotas.maxEnqueuedTokens));
  const [limits, setLimits] = useState(quotas.enqueuedTokenLimits.map((l) => ({ model: l.model, limit: String(l.limit) })));
  const [local, setLocal] = useState<Record<string, string>>({});
  const save = useAction();
  const [saved, setSaved] = useState(false);
  const problem = (name: string) => local[name] ?? fieldError(save.error, name);
  const edit = (i: number, field: 'model' | 'limit', value: string) => {
    setSaved(false);
    setLimits(limits.map((l, j) => (j === i ? { ...l, [field]: value } : l)));
  };
  const submit = (e: Event) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    const maxUnfinishedBatches = wholeOrNone(maxBatches, problems, 'maxUnfinishedBatches');
    const maxEnqueuedTokens = wholeOrNone(maxTokens, problems, 'maxEnqueuedTokens');
    const enqueuedTokenLimits = limits
      .filter((l) => l.model.trim() !== '' || l.limit.trim() !== '')
      .map((l) => {
        const limit = Number(l.limit.trim());
        if (l.model.trim() === '') problems.enqueuedTokenLimits = 'Each limit needs a model.';
        else if (l.limit.trim() === '' || !Number.isInteger(limit) || limit < 0)
          problems.enqueuedTokenLimits = `The limit for ${l.model.trim()}: a whole number, 0 or more.`;
        return { model: l.model.trim(), limit };
      });
    setLocal(problems);
    if (Object.keys(problems).length > 0) return;
    void save
      .run(() =>
        request(SetAccountQuotasDocument, {
          accountId: account.id,
          input: { maxUnfinishedBatches: maxUnfinishedBatches ?? null, maxEnqueuedTokens: maxEnqueuedTokens ?? null, enqueuedTokenLimits },
        }),
      )
      .then((ok) => {
        setSaved(ok);
        if (ok) onChange();
      });
  };
  return (
    <section class="panel" aria-labelledby="quotas-title">
      <h2 id="quotas-title">Quotas</h2>
      <p data-testid="unfinished-batches">
        Unfinished batches: <strong>{count(quotaUse.unfinishedBatches)}</strong>
        {quotas.maxUnfinishedBatches != null ? ` of at most ${count(quotas.maxUnfinishedBatches)}` : <span class="muted"> (no limit)</span>}
      </p>
      {quotaUse.enqueuedTokens.length === 0 ? (
        <p class="muted">No input tokens enqueued: the account has no unfinished batch.</p>
      ) : (
        <TableBox>
          <table class="quota-use">
            <thead>
              <tr>
                <th>Model</th>
                <th>Enqueued input tokens</th>
                <th>Batches</th>
                <th>Limit</th>
              </tr>
            </thead>
            <tbody>
              {quotaUse.enqueuedTokens.map((u) => (
                <tr key={u.model}>
                  <td class="mono">{u.model}</td>
                  <td>{count(u.tokens)}</td>
                  <td>{count(u.batches)}</td>
                  <td>{u.limit == null ? <span class="muted">none</span> : count(u.limit)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      <form class="quota-forms" aria-label="Quotas" onSubmit={submit} noValidate>
        <div class="form-grid">
          <Field
            label="Max unfinished batches"
            error={problem('maxUnfinishedBatches')}
            hint="Batches validating, in progress or finishing at once. Empty: no limit."
          >
            <input
              inputMode="numeric"
              value={maxBatches}
              onInput={(e) => {
                setSaved(false);
                setMaxBatches(e.currentTarget.value);
              }}
            />
          </Field>
          <Field
            label="Max enqueued tokens per model"
            error={problem('maxEnqueuedTokens')}
            hint="Input tokens of unfinished batches, for models without their own limit. Empty: no limit."
          >
            <input
              inputMode="numeric"
              value={maxTokens}
              onInput={(e) => {
                setSaved(false);
                setMaxTokens(e.currentTarget.value);
              }}
            />
          </Field>
        </div>
        <fieldset class={problem('enqueuedTokenLimits') ? 'endpoints invalid' : 'endpoints'}>
          <legend>Enqueued-token limits per model</legend>
          {limits.map((l, i) => (
            <div key={i} class="limit-row">
              <label class="field inline">
                <span class="field-label">Model</span>
                <input value={l.model} onInput={(e) => edit(i, 'model', e.currentTarget.value)} />
              </label>
              <label class="field inline">
                <span class="field-label">Token limit</span>
                <input inputMode="numeric" value={l.limit} onInput={(e) => edit(i, 'limit', e.currentTarget.value)} />
              </label>
              <button type="button" onClick={() => setLimits(limits.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          ))}
          <button type="button" onClick={() => setLimits([...limits, { model: '', limit: '' }])}>
            Add a model limit
          </button>
          {problem('enqueuedTokenLimits') ? (
            <span class="field-error" role="alert">
              {problem('enqueuedTokenLimits')}
            </span>
          ) : null}
        </fieldset>
        <div class="actions">
          <button type="submit" class="primary" disabled={save.pending}>
            Save quotas
          </button>
          {saved && !save.pending ? (
            <span class="saved" role="status">
              Saved
            </span>
          ) : null}
        </div>
      </form>
      <Problem error={formError(save.error, 'maxUnfinishedBatches', 'maxEnqueuedTokens', 'enqueuedTokenLimits')} />
    </section>
  );
}

function AccountDetail({ account, onChange }: { account: Account; onChange: () => void }) {
  return (
    <article class="account" aria-labelledby="account-title">
      <div class="page-head">
        <div>
          <p class="crumbs">
            <Link to="/accounts">Accounts</Link> /
          </p>
          <h1 id="account-title">{account.name}</h1>
        </div>
        <Link to={withQuery('/batches', { account: account.id })} class="button">
          Its batches
        </Link>
      </div>
      <dl class="facts">
        <div>
          <dt>Account id</dt>
          <dd>
            <Id value={account.id} />
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{dateTime(account.createdAt)}</dd>
        </div>
      </dl>
      <ApiKeys account={account} onChange={onChange} />
      <Webhook key={`${account.id}:${account.webhookUrl ?? ''}`} account={account} onChange={onChange} />
      <Weight key={`${account.id}:${account.weight}`} account={account} onChange={onChange} />
      <SpendLimit key={`${account.id}:${account.monthlySpendLimit?.amount ?? ''}`} account={account} onChange={onChange} />
      <Quotas key={`${account.id}:${JSON.stringify(account.quotas)}`} account={account} onChange={onChange} />
    </article>
  );
}

export function AccountsPage({ selected }: { selected: string | null }) {
  const accounts = useQuery(AccountsDocument, {});
  const list = accounts.data?.accounts;
  const open = (id: string) => {
    accounts.refresh();
    navigate(`/accounts/${encodeURIComponent(id)}`);
  };

  if (selected) {
    const account = list?.find((a) => a.id === selected);
    if (!list) return accounts.error ? <Problem error={accounts.error} /> : <Loading what="the account" />;
    if (!account && accounts.loading) return <Loading what="the account" />;
    if (!account) {
      return (
        <Empty title={`There is no account ${selected}.`}>
          Pick one on the <Link to="/accounts">Accounts</Link> page.
        </Empty>
      );
    }
    return (
      <>
        <Problem error={accounts.error} />
        <AccountDetail account={account} onChange={accounts.refresh} />
      </>
    );
  }

  return (
    <section aria-labelledby="accounts-title">
      <div class="page-head">
        <h1 id="accounts-title">Accounts</h1>
      </div>
      <CreateAccountForm onCreated={open} />
      <Problem error={accounts.error} />
      {!list ? (
        accounts.error ? null : (
          <Loading what="accounts" />
        )
      ) : list.length === 0 ? (
        <Empty title="No accounts yet.">Create one above, then give it an API key.</Empty>
      ) : (
        <TableBox>
          <table class="accounts">
            <thead>
              <tr>
                <th>Name</th>
                <th>Account id</th>
                <th>Active keys</th>
                <th>Weight</th>
                <th>Spend this month</th>
                <th>Unfinished batches</th>
                <th>Webhook</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {list.map((a) => (
                <tr key={a.id}>
                  <td>
                    <Link to={`/accounts/${encodeURIComponent(a.id)}`}>{a.name}</Link>
                  </td>
                  <td>
                    <Id value={a.id} />
                  </td>
                  <td>{a.apiKeys.filter((k) => k.revokedAt == null).length}</td>
                  <td>{a.weight}</td>
                  <td>
                    {money(a.monthToDateSpend)}
                    {a.monthlySpendLimit ? <span class="muted"> of {a.monthlySpendLimit.amount}</span> : null}
                  </td>
                  <td>
                    {count(a.quotaUse.unfinishedBatches)}
                    {a.quotas.maxUnfinishedBatches != null ? <span class="muted"> of {count(a.quotas.maxUnfinishedBatches)}</span> : null}
                  </td>
                  <td class="mono">{a.webhookUrl ?? <span class="muted">none</span>}</td>
                  <td>{dateTime(a.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
    </section>
  );
}
