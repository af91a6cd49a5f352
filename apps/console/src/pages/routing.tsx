import { useState } from 'preact/hooks';
import { ApiProblem, request } from '../api/client';
import { useAction, useQuery } from '../api/hooks';
import { RoutingDocument, SetSkuActiveDocument, UpsertProviderDocument, UpsertSkuDocument, type RoutingQuery } from '../gql/graphql';
import { count, percent } from '../format';
import { Confirm, Empty, Field, Loading, Problem, TableBox } from '../ui/components';

type Provider = RoutingQuery['providers'][number];
type Sku = RoutingQuery['skus'][number];

const ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/moderations'];

/** The form field an API error is about: its `param` in the input's own (camelCase) names. */
function fieldOf(error: unknown): string | null {
  if (!(error instanceof ApiProblem) || !error.param) return null;
  const name = error.param.replace(/^input\./, '').replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return name === 'provider' ? 'providerId' : name;
}

/** Text fields of a form: what the operator typed, turned into the input's values (or a problem per field) on submit. */
type Draft = Record<string, string>;
type Problems = Record<string, string>;

function intField(draft: Draft, name: string, problems: Problems, { min, max }: { min?: number; max?: number } = {}): number | undefined {
  const raw = (draft[name] ?? '').trim();
  if (raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value)) problems[name] = 'A whole number.';
  else if (min !== undefined && value < min) problems[name] = `At least ${count(min)}.`;
  else if (max !== undefined && value > max) problems[name] = `At most ${count(max)}.`;
  return value;
}

function numberField(draft: Draft, name: string, problems: Problems): number | undefined {
  const raw = (draft[name] ?? '').trim();
  if (raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) problems[name] = 'A number, 0 or more.';
  return value;
}

function text(value: string | number | null | undefined): string {
  return value == null ? '' : String(value);
}

/** One form's submit: its own checks first, then the API's answer, each problem placed next to its field. */
function useFormSubmit() {
  const action = useAction();
  const [local, setLocal] = useState<Problems>({});
  const apiField = fieldOf(action.error);
  const problem = (name: string) => local[name] ?? (apiField === name ? (action.error as ApiProblem).message : null);
  const submit = (problems: Problems, work: () => Promise<unknown>, onDone: () => void) => {
    setLocal(problems);
    if (Object.keys(problems).length > 0) return;
    void action.run(work).then((ok) => ok && onDone());
  };
  // A failure that names no field of the form is shown above its buttons.
  const formProblem = apiField && apiField !== 'id' ? null : action.error;
  return { action, problem, submit, formProblem, apiField };
}

function ProviderForm({ provider, onDone, onCancel }: { provider: Provider | null; onDone: () => void; onCancel: () => void }) {
  const [draft, setDraft] = useState<Draft>({
    id: text(provider?.id),
    kind: provider?.kind ?? 'openai',
    baseUrl: text(provider?.baseUrl),
    apiKeyEnv: text(provider?.apiKeyEnv),
    maxConcurrency: text(provider?.maxConcurrency ?? 16),
    rateLimitPerMinute: text(provider?.rateLimitPerMinute),
    timeoutMs: text(provider?.timeoutMs),
    batchApi: provider?.batchApi ? 'yes' : '',
    batchPollIntervalMs: text(provider?.batchPollIntervalMs),
    maxBatchLines: text(provider?.maxBatchLines),
    maxBatchBytes: text(provider?.maxBatchBytes),
  });
  const form = useFormSubmit();
  const set = (name: string) => (e: Event) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value });
  const save = (e: Event) => {
    e.preventDefault();
    const problems: Problems = {};
    if (!draft.id.trim()) problems.id = 'Give the provider an id.';
    const input = {
      id: draft.id.trim(),
      kind: draft.kind,
      baseUrl: draft.baseUrl.trim() || undefined,
      apiKeyEnv: draft.apiKeyEnv.trim() || undefined,
      maxConcurrency: intField(draft, 'maxConcurrency', problems, { min: 1, max: 10_000 }),
      rateLimitPerMinute: intField(draft, 'rateLimitPerMinute', problems, { min: 1 }),
      timeoutMs: intField(draft, 'timeoutMs', problems, { min: 100 }),
      batchApi: draft.batchApi === 'yes',
      batchPollIntervalMs: intField(draft, 'batchPollIntervalMs', problems),
      maxBatchLines: intField(draft, 'maxBatchLines', problems),
      maxBatchBytes: intField(draft, 'maxBatchBytes', problems),
    };
    form.submit(problems, () => request(UpsertProviderDocument, { input }), onDone);
  };
  return (
    <form class="edit-form panel" aria-label={provider ? `Edit provider ${provider.id}` : 'Add a provider'} onSubmit={save} noValidate>
      <h3>{provider ? `Edit provider ${provider.id}` : 'Add a provider'}</h3>
      <div class="form-grid">
        <Field label="Id" error={form.problem('id')}>
          <input value={draft.id} onInput={set('id')} disabled={provider !== null} placeholder="e.g. openai-main" />
        </Field>
        <Field label="Kind" error={form.problem('kind')}>
          <select value={draft.kind} onChange={set('kind')}>
            <option value="openai">openai (an OpenAI-compatible API)</option>
            <option value="mock">mock (built in, for tests)</option>
          </select>
        </Field>
        <Field label="Base URL" error={form.problem('baseUrl')} hint="e.g. https://api.openai.com/v1">
          <input value={draft.baseUrl} onInput={set('baseUrl')} />
        </Field>
        <Field label="API key variable" error={form.problem('apiKeyEnv')} hint="The environment variable holding the key, never the key itself.">
          <input value={draft.apiKeyEnv} onInput={set('apiKeyEnv')} placeholder="UPSTREAM_…" />
        </Field>
        <Field label="Max concurrency" error={form.problem('maxConcurrency')} hint="Requests in flight at once, 1 to 10,000.">
          <input inputMode="numeric" value={draft.maxConcurrency} onInput={set('maxConcurrency')} />
        </Field>
        <Field label="Rate limit per minute" error={form.problem('rateLimitPerMinute')} hint="Empty: keep as is (none for a new provider).">
          <input inputMode="numeric" value={draft.rateLimitPerMinute} onInput={set('rateLimitPerMinute')} />
        </Field>
        <Field label="Timeout (ms)" error={form.problem('timeoutMs')} hint="Empty: the gateway's UPSTREAM_TIMEOUT_MS.">
          <input inputMode="numeric" value={draft.timeoutMs} onInput={set('timeoutMs')} />
        </Field>
        <Field label="Execution" error={form.problem('batchApi')}>
          <select value={draft.batchApi} onChange={set('batchApi')}>
            <option value="">realtime (one request per line)</option>
            <option value="yes">the provider's Batch API</option>
          </select>
        </Field>
        {draft.batchApi === 'yes' ? (
          <>
            <Field label="Batch poll interval (ms)" error={form.problem('batchPollIntervalMs')}>
              <input inputMode="numeric" value={draft.batchPollIntervalMs} onInput={set('batchPollIntervalMs')} />
            </Field>
            <Field label="Max lines per provider batch" error={form.problem('maxBatchLines')}>
              <input inputMode="numeric" value={draft.maxBatchLines} onInput={set('maxBatchLines')} />
            </Field>
            <Field label="Max bytes per provider batch" error={form.problem('maxBatchBytes')}>
              <input inputMode="numeric" value={draft.maxBatchBytes} onInput={set('maxBatchBytes')} />
            </Field>
          </>
        ) : null}
      </div>
      <Problem error={form.formProblem} />
      <div class="actions">
        <button type="submit" class="primary" disabled={form.action.pending}>
          {provider ? 'Save provider' : 'Add provider'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function SkuForm({ sku, providers, onDone, onCancel }: { sku: Sku | null; providers: Provider[]; onDone: () => void; onCancel: () => void }) {
  const [draft, setDraft] = useState<Draft>({
    id: text(sku?.id),
    model: text(sku?.model),
    providerId: sku?.providerId ?? providers[0]?.id ?? '',
    upstreamModel: text(sku?.upstreamModel),
    priority: text(sku?.priority ?? 0),
    weight: text(sku?.weight ?? 1),
    inputPricePerMtok: text(sku?.inputPricePerMtok),
    outputPricePerMtok: text(sku?.outputPricePerMtok),
    batchDiscount: text(sku?.batchDiscount),
    batchCapable: sku?.batchCapable === false ? '' : 'yes',
  });
  const [endpoints, setEndpoints] = useState<string[]>(sku?.endpoints ?? ['/v1/chat/completions']);
  const form = useFormSubmit();
  const set = (name: string) => (e: Event) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value });
  const save = (e: Event) => {
    e.preventDefault();
    const problems: Problems = {};
    if (!draft.id.trim()) problems.id = 'Give the SKU an id, e.g. model@provider.';
    if (!draft.model.trim()) problems.model = 'The model name clients send.';
    if (!draft.upstreamModel.trim()) problems.upstreamModel = 'The model name the provider expects.';
    if (endpoints.length === 0) problems.endpoints = 'Pick at least one endpoint.';
    const input = {
      id: draft.id.trim(),
      model: draft.model.trim(),
      providerId: draft.providerId,
      upstreamModel: draft.upstreamModel.trim(),
      batchCapable: draft.batchCapable === 'yes',
      endpoints,
      priority: intField(draft, 'priority', problems),
      weight: intField(draft, 'weight', problems, { min: 1 }),
      inputPricePerMtok: numberField(draft, 'inputPricePerMtok', problems),
      outputPricePerMtok: numberField(draft, 'outputPricePerMtok', problems),
      batchDiscount: numberField(draft, 'batchDiscount', problems),
    };
    if (input.batchDiscount !== undefined && !problems.batchDiscount && input.batchDiscount > 1)
      problems.batchDiscount = 'A share from 0 to 1 (0.5 is half price).';
    form.submit(problems, () => request(UpsertSkuDocument, { input }), onDone);
  };
  return (
    <form class="edit-form panel" aria-label={sku ? `Edit SKU ${sku.id}` : 'Add a SKU'} onSubmit={save} noValidate>
      <h3>{sku ? `Edit SKU ${sku.id}` : 'Add a SKU'}</h3>
      <div class="form-grid">
        <Field label="Id" error={form.problem('id')}>
          <input value={draft.id} onInput={set('id')} disabled={sku !== null} placeholder="e.g. gpt-4o-mini@openai-main" />
        </Field>
        <Field label="Model" error={form.problem('model')} hint="What clients put in each line's body.model.">
          <input value={draft.model} onInput={set('model')} />
        </Field>
        <Field label="Provider" error={form.problem('providerId')}>
          <select value={draft.providerId} onChange={set('providerId')}>
            {providers.map((p) => (
              <option key={p.id} value={p.id}>
                {p.id}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Upstream model" error={form.problem('upstreamModel')}>
          <input value={draft.upstreamModel} onInput={set('upstreamModel')} />
        </Field>
        <Field label="Priority" error={form.problem('priority')} hint="The highest-priority active SKU of a model is chosen.">
          <input inputMode="numeric" value={draft.priority} onInput={set('priority')} />
        </Field>
        <Field label="Weight" error={form.problem('weight')} hint="Between SKUs of equal priority.">
          <input inputMode="numeric" value={draft.weight} onInput={set('weight')} />
        </Field>
        <Field label="Input price per million tokens" error={form.problem('inputPricePerMtok')}>
          <input inputMode="decimal" value={draft.inputPricePerMtok} onInput={set('inputPricePerMtok')} />
        </Field>
        <Field label="Output price per million tokens" error={form.problem('outputPricePerMtok')}>
          <input inputMode="decimal" value={draft.outputPricePerMtok} onInput={set('outputPricePerMtok')} />
        </Field>
        <Field
          label="Batch discount"
          error={form.problem('batchDiscount')}
          hint="0 to 1 off both prices when the batch runs on the provider's Batch API (0.5: half price)."
        >
          <input inputMode="decimal" value={draft.batchDiscount} onInput={set('batchDiscount')} />
        </Field>
        <Field label="Batches" error={form.problem('batchCapable')}>
          <select value={draft.batchCapable} onChange={set('batchCapable')}>
            <option value="yes">serves batches</option>
            <option value="">does not serve batches</option>
          </select>
        </Field>
      </div>
      <fieldset class={form.problem('endpoints') ? 'endpoints invalid' : 'endpoints'}>
        <legend>Endpoints</legend>
        {ENDPOINTS.map((ep) => (
          <label key={ep} class="chip">
            <input
              type="checkbox"
              checked={endpoints.includes(ep)}
              onChange={() => setEndpoints(endpoints.includes(ep) ? endpoints.filter((x) => x !== ep) : [...endpoints, ep])}
            />
            {ep}
          </label>
        ))}
        {form.problem('endpoints') ? (
          <span class="field-error" role="alert">
            {form.problem('endpoints')}
          </span>
        ) : null}
      </fieldset>
      <Problem error={form.formProblem} />
      <div class="actions">
        <button type="submit" class="primary" disabled={form.action.pending}>
          {sku ? 'Save SKU' : 'Add SKU'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

type Editing = { kind: 'provider'; item: Provider | null } | { kind: 'sku'; item: Sku | null } | null;

export function RoutingPage() {
  const routing = useQuery(RoutingDocument, {});
  const [editing, setEditing] = useState<Editing>(null);
  const [deactivating, setDeactivating] = useState<Sku | null>(null);
  const toggle = useAction();
  const data = routing.data;

  const setActive = (sku: Sku, active: boolean) =>
    toggle
      .run(() => request(SetSkuActiveDocument, { id: sku.id, active }))
      .then((ok) => {
        if (!ok) return;
        setDeactivating(null);
        routing.refresh();
      });
  const done = () => {
    setEditing(null);
    routing.refresh();
  };

  if (!data) return routing.error ? <Problem error={routing.error} /> : <Loading what="routing" />;
  const othersServing = (sku: Sku) => data.skus.filter((s) => s.id !== sku.id && s.active && s.model === sku.model).length;

  return (
    <section aria-labelledby="routing-title" class="routing">
      <div class="page-head">
        <h1 id="routing-title">Routing</h1>
      </div>
      <p class="lead">
        A batch locks one SKU (a model on a provider) when it is created. Changes here apply to batches created afterwards; running batches keep their route.
      </p>
      <Problem error={routing.error} />

      <section class="panel" aria-labelledby="providers-title">
        <div class="panel-head">
          <h2 id="providers-title">Providers</h2>
          <button type="button" class="primary" onClick={() => setEditing({ kind: 'provider', item: null })}>
            Add provider
          </button>
        </div>
        {editing?.kind === 'provider' && editing.item === null ? <ProviderForm provider={null} onDone={done} onCancel={() => setEditing(null)} /> : null}
        {data.providers.length === 0 ? (
          <Empty title="No providers.">Add one: an OpenAI-compatible base URL and the variable holding its key.</Empty>
        ) : (
          <TableBox>
            <table>
              <thead>
                <tr>
                  <th>Id</th>
                  <th>Kind</th>
                  <th>Base URL</th>
                  <th>Key variable</th>
                  <th>Concurrency</th>
                  <th>Rate limit</th>
                  <th>Timeout</th>
                  <th>Execution</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {data.providers.map((p) => (
                  <tr key={p.id} data-provider-id={p.id}>
                    <td class="mono">{p.id}</td>
                    <td>{p.kind}</td>
                    <td class="mono">{p.baseUrl}</td>
                    <td class="mono">{p.apiKeyEnv ?? '—'}</td>
                    <td>{count(p.maxConcurrency)}</td>
                    <td>{p.rateLimitPerMinute ? `${count(p.rateLimitPerMinute)}/min` : '—'}</td>
                    <td>{p.timeoutMs ? `${count(p.timeoutMs)} ms` : 'default'}</td>
                    <td>{p.batchApi ? 'Batch API' : 'realtime'}</td>
                    <td>
                      <button type="button" onClick={() => setEditing({ kind: 'provider', item: p })}>
                        Edit
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
        {editing?.kind === 'provider' && editing.item ? (
          <ProviderForm key={editing.item.id} provider={editing.item} onDone={done} onCancel={() => setEditing(null)} />
        ) : null}
      </section>

      <section class="panel" aria-labelledby="skus-title">
        <div class="panel-head">
          <h2 id="skus-title">SKUs</h2>
          <button type="button" class="primary" disabled={data.providers.length === 0} onClick={() => setEditing({ kind: 'sku', item: null })}>
            Add SKU
          </button>
        </div>
        <Problem error={deactivating ? null : toggle.error} />
        {editing?.kind === 'sku' && editing.item === null ? (
          <SkuForm sku={null} providers={data.providers} onDone={done} onCancel={() => setEditing(null)} />
        ) : null}
        {data.skus.length === 0 ? (
          <Empty title="No SKUs.">{data.providers.length === 0 ? 'Add a provider first, then a SKU on it.' : 'Add one to route a model to a provider.'}</Empty>
        ) : (
          <TableBox>
            <table>
              <thead>
                <tr>
                  <th>Id</th>
                  <th>Model</th>
                  <th>Provider</th>
                  <th>Upstream model</th>
                  <th>Endpoints</th>
                  <th>Priority</th>
                  <th>Weight</th>
                  <th>Prices per M tokens</th>
                  <th>State</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {data.skus.map((s) => (
                  <tr key={s.id} data-sku-id={s.id} class={s.active ? undefined : 'inactive'}>
                    <td class="mono">{s.id}</td>
                    <td>{s.model}</td>
                    <td class="mono">{s.providerId}</td>
                    <td class="mono">{s.upstreamModel}</td>
                    <td class="endpoints-cell">{s.endpoints.join(' ')}</td>
                    <td>{s.priority}</td>
                    <td>{s.weight}</td>
                    <td>
                      {s.inputPricePerMtok == null && s.outputPricePerMtok == null ? (
                        <span class="muted">none</span>
                      ) : (
                        `${s.inputPricePerMtok ?? '—'} in, ${s.outputPricePerMtok ?? '—'} out`
                      )}
                      {s.batchDiscount ? <span class="muted"> ({percent(s.batchDiscount)} off on the Batch API)</span> : null}
                    </td>
                    <td>
                      <span class={s.active ? 'badge active' : 'badge inactive'}>{s.active ? 'active' : 'inactive'}</span>
                      {s.batchCapable ? null : <span class="muted"> no batches</span>}
                    </td>
                    <td class="row-actions">
                      <button type="button" onClick={() => setEditing({ kind: 'sku', item: s })}>
                        Edit
                      </button>
                      {s.active ? (
                        <button
                          type="button"
                          class="danger"
                          onClick={() => {
                            toggle.clear();
                            setDeactivating(s);
                          }}
                        >
                          Deactivate
                        </button>
                      ) : (
                        <button type="button" disabled={toggle.pending} onClick={() => void setActive(s, true)}>
                          Activate
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
        {editing?.kind === 'sku' && editing.item ? (
          <SkuForm key={editing.item.id} sku={editing.item} providers={data.providers} onDone={done} onCancel={() => setEditing(null)} />
        ) : null}
      </section>

      {deactivating ? (
        <Confirm
          title={`Deactivate ${deactivating.id}?`}
          confirmLabel="Deactivate"
          danger
          pending={toggle.pending}
          error={toggle.error}
          onClose={() => setDeactivating(null)}
          onConfirm={() => void setActive(deactivating, false)}
        >
          <p>
            {othersServing(deactivating) > 0
              ? `New batches for ${deactivating.model} go to its other active SKUs.`
              : `No other active SKU serves ${deactivating.model}: new batches for it are refused (batch_routing_unavailable) until one is active.`}{' '}
            Running batches keep their route.
          </p>
        </Confirm>
      ) : null}
    </section>
  );
}
