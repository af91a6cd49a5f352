/**
 * Fairness: a small batch's completion time alone, and while a large batch of another account runs,
 * first on the same provider (where its fair share is half of it), then on another provider (where it
 * should hardly notice).
 *
 *   npx ts-node -r tsconfig-paths/register --transpile-only bench/fairness.ts [--small 200] [--large 20000] [--latency 50] [--concurrency 32] [--repeat 3]
 *     [--driver sqlite|postgres] [--workers N] [--built dist]
 *
 * Two fake upstreams (each its own process, both answering after `--latency` ms) behind two providers of
 * `--concurrency` slots each, one model on each. Account A is the bootstrap account; account B is made
 * through the admin GraphQL API. Every timing is create → completed of B's small batch (`--small` lines),
 * polled every 25 ms, the median of `--repeat` runs (after one untimed warm-up run on each provider):
 *   1. alone: B on provider 1, then on provider 2, with nothing else running;
 *   2. same provider: A's large batch (`--large` lines) on provider 1 is running and finishing lines,
 *      then B's small batches run one after another on provider 1; A's batch is then cancelled;
 *   3. other provider: A's large batch runs again on provider 1 while B's small batches run on provider 2.
 * While B runs beside A, both batches are polled, and their request_counts give each one's lines per
 * second and B's share of provider 1 (the gateway writes counts every 250 ms or 500 lines, so these are
 * approximate). Equal weights make B's fair share half of provider 1, so there its time should be about
 * twice alone's (less when the fixed cost of starting and finalizing a batch weighs). A batch's end is
 * noticed at the scheduler's tick after its last line (every 500 ms), so completion times come in steps
 * of about half a second and a ratio of two small figures is coarse. `--driver postgres`
 * gives the gateway a fresh PostgreSQL database and Bull on Redis (TEST_PG_URL, TEST_REDIS_URL as in the
 * tests), `--workers N` splits it into one ROLE=api and N ROLE=worker processes, `--built DIR` runs
 * compiled JavaScript (see bench/lib.ts). Prints figures; nothing is asserted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  api,
  BatchObject,
  cpuSeconds,
  createBatch,
  GatewayChild,
  Layout,
  report,
  run,
  spawnFakeUpstream,
  spawnLayout,
  stopAll,
  TERMINAL,
  uploadFromDisk,
  waitForBatch,
} from './lib';
import { adminClient } from '../test/support/admin-client';
import { restClient } from '../test/support/rest-client';
import { openaiProvider, RoutingFile, sku, writeRoutingFile } from '../test/support/routing';

const MODELS = ['fair-model-1', 'fair-model-2'] as const;
const POLL_MS = 25;
/** How long A's batch runs alone before B comes in, to read A's pace with the whole provider. */
const A_ALONE_MS = 1000;
const SAME_PROVIDER_TARGET = 2.5;
const OTHER_PROVIDER_TARGET = 1.5;

const finished = (b: BatchObject) => b.request_counts.completed + b.request_counts.failed;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** The routing file: one provider per upstream, one model per provider. */
function twoProviderRouting(upstreamUrls: string[], concurrency: number): RoutingFile {
  return {
    providers: upstreamUrls.map((url, i) => openaiProvider(`fake-${i + 1}`, url, { api_key_env: 'UPSTREAM_FAKE_KEY', max_concurrency: concurrency })),
    skus: MODELS.map((model, i) => sku(model, `fake-${i + 1}`, `fair-upstream-model-${i + 1}`, { priority: 10 })),
  };
}

function requestsJsonl(model: string, lines: number, tag: string): string {
  return (
    Array.from({ length: lines }, (_, i) =>
      JSON.stringify({
        custom_id: `${tag}-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model, messages: [{ role: 'user', content: `Fairness ${tag} request ${i}` }], max_tokens: 16 },
      }),
    ).join('\n') + '\n'
  );
}

/** Account B and its API key, through the admin API. */
async function createAccountB(baseUrl: string, adminToken: string): Promise<string> {
  const admin = adminClient(baseUrl, adminToken);
  const { createAccount } = await admin.query<{ createAccount: { id: string } }>('mutation($name: String!) { createAccount(name: $name) { id } }', {
    name: 'bench-fairness-b',
  });
  const { createApiKey } = await admin.query<{ createApiKey: { secret: string } }>('mutation($id: ID!) { createApiKey(accountId: $id) { secret } }', {
    id: createAccount.id,
  });
  return createApiKey.secret;
}

interface Sample {
  t: number;
  b: number;
  /** A's finished lines, when A's batch is polled alongside. */
  a: number;
  aStatus: string;
}

interface SmallRun {
  ms: number;
  status: string;
  failed: number;
  /** A's finished lines at B's create and when B completed. */
  aAtStart: number;
  aAtEnd: number;
  aStatusAtEnd: string;
  /** Each batch's lines and seconds between its count's first and last change while B was sending (null: too few changes). */
  bPace: Pace | null;
  aPace: Pace | null;
  /** A's lines and seconds between its count's first and last change over B's whole run (create → completed). */
  aPaceRun: Pace | null;
  /** Gateway CPU seconds used during the run. */
  cpu: number;
}

interface Pace {
  lines: number;
  ms: number;
}

/**
 * Lines finished between the first and the last change of a count within [from, to] (sample indices).
 * The counts move in steps (the gateway writes results every 250 ms or 500 lines), so a pace is only
 * read from one step to another, never from an arbitrary moment.
 */
function paceBetween(samples: Sample[], count: (s: Sample) => number, from: number, to: number): Pace | null {
  let first = -1;
  let last = -1;
  for (let i = Math.max(1, from); i <= to; i++) {
    if (count(samples[i]) === count(samples[i - 1])) continue;
    if (first < 0) first = i;
    last = i;
  }
  if (first < 0 || last === first) return null;
  return { lines: count(samples[last]) - count(samples[first]), ms: samples[last].t - samples[first].t };
}

/** Creates B's batch and polls it (and A's, if given) every 25 ms until it ends. */
async function runSmall(gateway: GatewayChild, processes: { pid: number }[], keyB: string, fileId: string, aBatchId?: string): Promise<SmallRun> {
  const getA = () => (aBatchId ? api<BatchObject>(gateway.url, 'GET', `/v1/batches/${aBatchId}`) : Promise.resolve(null));
  const aStart = await getA();
  const cpuBefore = cpuSeconds(processes);
  const started = performance.now();
  let batch = await restClient(gateway.url, keyB).createBatch(fileId);
  const samples: Sample[] = [{ t: 0, b: 0, a: aStart ? finished(aStart) : 0, aStatus: aStart?.status ?? '' }];
  for (;;) {
    await sleep(POLL_MS);
    const [b, a] = await Promise.all([api<BatchObject>(gateway.url, 'GET', `/v1/batches/${batch.id}`, undefined, keyB), getA()]);
    batch = b;
    samples.push({ t: performance.now() - started, b: finished(b), a: a ? finished(a) : 0, aStatus: a?.status ?? '' });
    if (TERMINAL.includes(b.status)) break;
    if (performance.now() - started > 600_000) throw new Error(`B's batch ${b.id} still ${b.status} after 600 s`);
  }
  const cpu = cpuSeconds(processes) - cpuBefore;
  // While B was sending: from its count's first change to the poll that saw every line finished.
  const firstB = samples.findIndex((s) => s.b > 0);
  const allB = samples.findIndex((s) => s.b >= batch.request_counts.total);
  const sending = firstB >= 0 && allB > firstB;
  const last = samples[samples.length - 1];
  return {
    ms: last.t,
    status: batch.status,
    failed: batch.request_counts.failed,
    aAtStart: samples[0].a,
    aAtEnd: last.a,
    aStatusAtEnd: last.aStatus,
    bPace: sending ? paceBetween(samples, (s) => s.b, firstB, allB) : null,
    aPace: sending && aBatchId ? paceBetween(samples, (s) => s.a, firstB, allB) : null,
    aPaceRun: aBatchId ? paceBetween(samples, (s) => s.a, 1, samples.length - 1) : null,
    cpu,
  };
}

async function runSmallRepeated(repeat: number, ...args: Parameters<typeof runSmall>): Promise<SmallRun[]> {
  const runs: SmallRun[] = [];
  for (let i = 0; i < repeat; i++) runs.push(await runSmall(...args));
  return runs;
}

interface LargeStart {
  id: string;
  /** A's pace with the whole provider, before B came in. */
  perSecond: number;
  /** Requests in flight to provider 1 meanwhile (the gateway's gauge, scraped every 100 ms), averaged; NaN when unreadable. */
  inFlight: number;
  /** Gateway CPU meanwhile, in cores. */
  cores: number;
}

/** The gauge of requests in flight to a provider, added up over the processes; NaN when it cannot be read. */
async function inFlightNow(processes: GatewayChild[], provider: string): Promise<number> {
  const pattern = new RegExp(`^batch_gateway_upstream_in_flight\\{provider="${provider}"\\} (\\S+)$`, 'm');
  const values = await Promise.all(
    processes.map(async (p) => {
      const text = await fetch(`${p.url}/metrics`).then(
        (r) => (r.ok ? r.text() : ''),
        () => '',
      );
      const match = pattern.exec(text);
      return match ? Number(match[1]) : NaN;
    }),
  );
  return values.reduce((sum, v) => sum + v, 0);
}

/** A's large batch on provider 1, once it runs and has finished lines; with its pace over A_ALONE_MS. */
async function startLarge(gateway: GatewayChild, processes: GatewayChild[], fileId: string): Promise<LargeStart> {
  const created = await createBatch(gateway.url, fileId);
  await waitForBatch(gateway.url, created.id, (b) => b.status === 'in_progress' && finished(b) > 0, 300_000);
  const before = await api<BatchObject>(gateway.url, 'GET', `/v1/batches/${created.id}`);
  const cpuBefore = cpuSeconds(processes);
  const t0 = performance.now();
  const gauge: number[] = [];
  while (performance.now() - t0 < A_ALONE_MS) {
    gauge.push(await inFlightNow(processes, 'fake-1'));
    await sleep(100);
  }
  const after = await api<BatchObject>(gateway.url, 'GET', `/v1/batches/${created.id}`);
  const elapsed = (performance.now() - t0) / 1000;
  if (after.status !== 'in_progress') throw new Error(`A's batch is already ${after.status}: give --large more lines`);
  return {
    id: created.id,
    perSecond: (finished(after) - finished(before)) / elapsed,
    inFlight: gauge.reduce((sum, v) => sum + v, 0) / gauge.length,
    cores: (cpuSeconds(processes) - cpuBefore) / elapsed,
  };
}

/** Cancels A's batch and waits until it is cancelled; with how long that took. */
async function cancelLarge(gateway: GatewayChild, id: string): Promise<{ batch: BatchObject; ms: number }> {
  const started = performance.now();
  await api<BatchObject>(gateway.url, 'POST', `/v1/batches/${id}/cancel`);
  const batch = await waitForBatch(gateway.url, id, (b) => b.status === 'cancelled', 300_000);
  return { batch, ms: performance.now() - started };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      small: { type: 'string', default: '200' },
      large: { type: 'string', default: '20000' },
      latency: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '32' },
      repeat: { type: 'string', default: '3' },
      driver: { type: 'string', default: 'sqlite' },
      workers: { type: 'string', default: '0' },
      built: { type: 'string' },
    },
  });
  const small = Number(values.small);
  const large = Number(values.large);
  const latencyMs = Number(values.latency);
  const concurrency = Number(values.concurrency);
  const repeat = Math.max(1, Number(values.repeat));
  const workers = Number(values.workers);
  const workDir = mkdtempSync(join(tmpdir(), 'bg-bench-fairness-'));
  let layout: Layout | undefined;
  try {
    const upstreams = [await spawnFakeUpstream(latencyMs), await spawnFakeUpstream(latencyMs)];
    const routingFile = writeRoutingFile(
      join(workDir, 'routing.yaml'),
      twoProviderRouting(
        upstreams.map((u) => u.url),
        concurrency,
      ),
    );
    const adminToken = `adm-fairness-${randomBytes(12).toString('hex')}`;
    const env: Record<string, string> = {
      DATA_DIR: join(workDir, 'data'),
      ROUTING_FILE: routingFile,
      UPSTREAM_FAKE_KEY: 'bench-key',
      ADMIN_TOKEN: adminToken,
      MAX_FILE_LINES: String(Math.max(large, small, 50_000)),
    };
    layout = await spawnLayout(env, { driver: values.driver, workers, builtDir: values.built });
    const gateway = layout.apis[0];
    const processes = [...layout.apis, ...layout.workers];
    const keyB = await createAccountB(gateway.url, adminToken);

    const largePath = join(workDir, 'large.jsonl');
    writeFileSync(largePath, requestsJsonl(MODELS[0], large, 'a'));
    const largeFile = await uploadFromDisk(gateway.url, largePath, 'large.jsonl');
    // B's small files, uploaded from memory (uploadFromDisk is the bootstrap account's).
    const asB = restClient(gateway.url, keyB);
    const smallFiles = [await asB.upload(requestsJsonl(MODELS[0], small, 'b1')), await asB.upload(requestsJsonl(MODELS[1], small, 'b2'))];

    // 1. Alone, after one untimed run on each provider (connections, JIT).
    for (const file of smallFiles) await runSmall(gateway, processes, keyB, file);
    const aloneP1 = await runSmallRepeated(repeat, gateway, processes, keyB, smallFiles[0]);
    const aloneP2 = await runSmallRepeated(repeat, gateway, processes, keyB, smallFiles[1]);

    // 2. Beside A's large batch on the same provider.
    const a2 = await startLarge(gateway, processes, largeFile);
    const sameRuns = await runSmallRepeated(repeat, gateway, processes, keyB, smallFiles[0], a2.id);
    const a2Cancelled = await cancelLarge(gateway, a2.id);

    // 3. Beside A's large batch on the other provider.
    const a3 = await startLarge(gateway, processes, largeFile);
    const otherRuns = await runSmallRepeated(repeat, gateway, processes, keyB, smallFiles[1], a3.id);
    const a3Cancelled = await cancelLarge(gateway, a3.id);
    await layout.stop();

    const alone1 = median(aloneP1.map((r) => r.ms));
    const alone2 = median(aloneP2.map((r) => r.ms));
    const same = median(sameRuns.map((r) => r.ms));
    const other = median(otherRuns.map((r) => r.ms));
    const sameRatio = same / alone1;
    const otherRatio = other / alone2;
    const times = (runs: SmallRun[]) => `(${runs.map((r) => (r.ms / 1000).toFixed(2)).join(', ')})`;
    const failures = [...aloneP1, ...aloneP2, ...sameRuns, ...otherRuns].filter((r) => r.status !== 'completed' || r.failed > 0);
    const cpuShare = (runs: SmallRun[]) =>
      `gateway CPU ${((runs.reduce((s, r) => s + r.cpu, 0) / (runs.reduce((s, r) => s + r.ms, 0) / 1000)) * 100).toFixed(0)}% of one core`;
    /** Lines per second of each batch while B was sending (added up over the runs), and B's share of the two. */
    const pace = (runs: SmallRun[]) => {
      const sum = (paces: (Pace | null)[]) => {
        const read = paces.filter((p) => p !== null);
        const ms = read.reduce((s, p) => s + p.ms, 0);
        return read.length ? read.reduce((s, p) => s + p.lines, 0) / (ms / 1000) : NaN;
      };
      const a = sum(runs.map((r) => r.aPace));
      const b = sum(runs.map((r) => r.bPace));
      return { a, b, aRun: sum(runs.map((r) => r.aPaceRun)), share: b / (a + b), read: runs.filter((r) => r.bPace && (r.aPace || !r.aAtStart)).length };
    };
    const samePace = pace(sameRuns);
    const otherPace = pace(otherRuns);
    const aProgress = (runs: SmallRun[], cancelled: { batch: BatchObject; ms: number }) =>
      `${runs.map((r) => `${r.aAtStart}→${r.aAtEnd}`).join(', ')} of ${large} (${runs.every((r) => r.aStatusAtEnd === 'in_progress') ? 'in progress throughout' : `NOT running throughout: ${runs.map((r) => r.aStatusAtEnd).join(', ')}`}); ${cancelled.batch.request_counts.completed} completed when ${cancelled.batch.status} (${seconds(cancelled.ms)} after the cancel)`;
    const rate = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} lines/s` : 'n/a');
    const aAlone = (a: LargeStart) =>
      `${rate(a.perSecond)}, ${Number.isFinite(a.inFlight) ? a.inFlight.toFixed(1) : 'n/a'} of ${concurrency} in flight, gateway CPU ${(a.cores * 100).toFixed(0)}%`;
    const paceNote = (p: { read: number }) => `; read from ${p.read} of ${repeat} run(s), request_counts move in steps`;
    const capacity = (concurrency * 1000) / Math.max(1, latencyMs);

    const share = Number.isFinite(samePace.share) ? `${(samePace.share * 100).toFixed(0)}%` : 'n/a';
    process.stdout.write(
      report([
        ['gateway', `${values.built ? `compiled JavaScript from ${values.built}` : 'the sources through ts-node (transpile-only)'}, ${layout.description}`],
        [
          'setup',
          `2 providers × ${concurrency} slots, upstream latency ${latencyMs} ms (≈ ${capacity.toFixed(0)} lines/s each); B small ${small} lines, A large ${large} lines; median of ${repeat} run(s) (s each)`,
        ],
        ['B alone, provider 1', `${seconds(alone1)}  ${times(aloneP1)}  B ${rate(pace(aloneP1).b)} while sending; ${cpuShare(aloneP1)}`],
        ['B alone, provider 2', `${seconds(alone2)}  ${times(aloneP2)}  B ${rate(pace(aloneP2).b)} while sending; ${cpuShare(aloneP2)}`],
        ['A alone, provider 1', `phase 2: ${aAlone(a2)}; phase 3: ${aAlone(a3)} (${A_ALONE_MS / 1000} s before B came in)`],
        ['B with A, same provider', `${seconds(same)}  ${times(sameRuns)}  ${cpuShare(sameRuns)}`],
        [
          '  pace while both sent',
          `B ${rate(samePace.b)}, A ${rate(samePace.a)}: B's share ${share} (${paceNote(samePace).slice(2)}); A ${rate(samePace.aRun)} over B's whole runs`,
        ],
        ['  A finished meanwhile', aProgress(sameRuns, a2Cancelled)],
        ['B with A, other provider', `${seconds(other)}  ${times(otherRuns)}  ${cpuShare(otherRuns)}`],
        ['  pace', `B ${rate(otherPace.b)} on provider 2 while sending; A ${rate(otherPace.aRun)} on provider 1 over B's whole runs`],
        ['  A finished meanwhile', aProgress(otherRuns, a3Cancelled)],
        ...(failures.length
          ? [
              ['WARNING', `${failures.length} small run(s) did not complete cleanly: ${failures.map((r) => `${r.status}/${r.failed} failed`).join(', ')}`] as [
                string,
                string,
              ],
            ]
          : []),
      ]) +
        '\n\n' +
        report([
          [
            'same provider / alone',
            `${sameRatio.toFixed(2)}x`,
            { text: `≈ fair share (half the provider: ~2x, less with fixed costs), <= ${SAME_PROVIDER_TARGET}x`, met: sameRatio <= SAME_PROVIDER_TARGET },
          ],
          ["B's share of provider 1", `${share} (fair: 50%)`],
          ['other provider / alone', `${otherRatio.toFixed(2)}x`, { text: `<= ${OTHER_PROVIDER_TARGET}x`, met: otherRatio <= OTHER_PROVIDER_TARGET }],
        ]) +
        '\n',
    );
  } finally {
    await stopAll();
    await layout?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

run(main);
