import { randomBytes } from 'node:crypto';
import { adminClient } from './support/admin-client';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { BatchObject, restClient, TERMINAL } from './support/rest-client';
import { openaiProvider, RoutingFile, sku } from './support/routing';
import { LineLeases } from '../libs/execution/src/realtime/line-leases.repository';

/**
 * The fair scheduler, on both drivers: capacity belongs to providers and is shared between accounts
 * (by weight) and then between an account's batches, so a small batch never waits behind another
 * account's large one, a batch on an idle provider runs as if the busy one did not exist, and a
 * provider's max_concurrency is reached and never exceeded. Orderings and shares are asserted, not
 * wall-clock times.
 */

const SLOW = { model: 'slow-model', provider: 'slow', concurrency: 10, latencyMs: 50 };
const OTHER = { model: 'other-model', provider: 'other', concurrency: 10, latencyMs: 20 };
// Answers take 2 s: long enough for a loaded machine to put all 1,000 requests in flight before the first ones return.
const WIDE = { model: 'wide-model', provider: 'wide', concurrency: 1000, latencyMs: 2000 };

jest.setTimeout(120_000);

const tag = () => randomBytes(4).toString('hex');

function routing(upstreams: Record<string, FakeUpstream>): RoutingFile {
  return {
    providers: [SLOW, OTHER, WIDE].map((p) => openaiProvider(p.provider, upstreams[p.provider].url, { max_concurrency: p.concurrency })),
    skus: [SLOW, OTHER, WIDE].map((p) => sku(p.model, p.provider, `${p.model}-upstream`)),
  };
}

describe('Fair scheduler', () => {
  let gw: TestGateway;
  const upstreams: Record<string, FakeUpstream> = {};

  beforeAll(async () => {
    for (const p of [SLOW, OTHER, WIDE]) upstreams[p.provider] = await startFakeUpstream({ latencyMs: p.latencyMs });
    gw = await startGateway({}, routing(upstreams));
  });

  afterAll(async () => {
    await gw?.close();
    for (const u of Object.values(upstreams)) await u.close();
  });

  /** A batch of `count` lines whose contents start with `prefix` (the fake upstream records them). */
  async function submit(tenant: Tenant, model: string, prefix: string, count: number): Promise<BatchObject> {
    const api = restClient(gw, tenant.apiKey);
    const lines = Array.from({ length: count }, (_, i) => ({ ...requestLine(i, model, { messages: [{ role: 'user', content: `${prefix} ${i}` }] }) }));
    return api.createBatch(await api.upload(jsonl(lines)));
  }

  const read = (tenant: Tenant, id: string) => restClient(gw, tenant.apiKey).batch(id);
  const finished = (b: BatchObject) => b.request_counts.completed + b.request_counts.failed;
  const ended = (b: BatchObject) => TERMINAL.includes(b.status);

  async function cancelAndEnd(tenant: Tenant, id: string): Promise<void> {
    await restClient(gw, tenant.apiKey)
      .cancel(id)
      .catch(() => undefined);
    await waitFor(() => read(tenant, id), ended, 60_000);
  }

  /** The share of `prefixA` among the `window` requests that arrived after the first of `prefixB`. */
  function shareAfterFirst(upstream: FakeUpstream, prefixA: string, prefixB: string, window: number): number {
    const start = upstream.arrivals.findIndex((c) => c.startsWith(prefixB));
    const slice = upstream.arrivals.slice(start, start + window);
    expect(slice).toHaveLength(window);
    return slice.filter((c) => c.startsWith(prefixA)).length / window;
  }

  it("finishes a small batch beside another account's large batch on the same provider before the large one is a quarter done", async () => {
    const [a, b] = [await gw.newTenant('big'), await gw.newTenant('small')];
    const t = tag();
    const big = await submit(a, SLOW.model, `big ${t}`, 2000);
    await waitFor(
      () => read(a, big.id),
      (x) => finished(x) >= 20,
    );

    const small = await submit(b, SLOW.model, `small ${t}`, 20);
    const smallDone = await waitFor(() => read(b, small.id), ended, 60_000);
    const bigThen = await read(a, big.id);

    expect(smallDone).toMatchObject({ status: 'completed', request_counts: { total: 20, completed: 20, failed: 0 } });
    expect(bigThen.status).toBe('in_progress');
    expect(finished(bigThen)).toBeLessThan(2000 / 4);
    await cancelAndEnd(a, big.id);
  });

  it("runs a batch on an idle provider while another provider is saturated, before the busy one's batch is a quarter done", async () => {
    const [a, b] = [await gw.newTenant('busy'), await gw.newTenant('elsewhere')];
    const t = tag();
    const big = await submit(a, SLOW.model, `busy ${t}`, 2000);
    await waitFor(
      () => read(a, big.id),
      (x) => finished(x) >= 20,
    );

    const other = await submit(b, OTHER.model, `elsewhere ${t}`, 100);
    const otherDone = await waitFor(() => read(b, other.id), ended, 60_000);
    const bigThen = await read(a, big.id);

    expect(otherDone).toMatchObject({ status: 'completed', request_counts: { total: 100, completed: 100, failed: 0 } });
    expect(finished(bigThen)).toBeLessThan(2000 / 4);
    // The busy provider's requests never went over its limit while the other ran.
    expect(upstreams.slow.maxInFlight()).toBeLessThanOrEqual(SLOW.concurrency);
    await cancelAndEnd(a, big.id);
  });

  it('splits a saturated provider evenly between two accounts, and 3:1 when their weights are 3 and 1', async () => {
    const admin = adminClient(gw.url, gw.adminToken);
    for (const [weight, low, high] of [
      [1, 0.4, 0.6],
      [3, 0.65, 0.85],
    ] as const) {
      const [a, b] = [await gw.newTenant('share-a'), await gw.newTenant('share-b')];
      await admin.query('mutation($id: ID!, $w: Int!) { setAccountWeight(accountId: $id, weight: $w) { weight } }', { id: a.accountId, w: weight });
      const t = tag();
      const batchA = await submit(a, SLOW.model, `shareA ${t}`, 1000);
      const batchB = await submit(b, SLOW.model, `shareB ${t}`, 1000);
      // 400 requests after B's first: both batches still have lines left (1000 each) all along.
      await waitFor(
        async () => upstreams.slow.arrivals.filter((c) => c.startsWith(`shareB ${t}`)).length,
        () => {
          const start = upstreams.slow.arrivals.findIndex((c) => c.startsWith(`shareB ${t}`));
          return start >= 0 && upstreams.slow.arrivals.length - start >= 400;
        },
        60_000,
      );
      const share = shareAfterFirst(upstreams.slow, `shareA ${t}`, `shareB ${t}`, 400);
      expect(share).toBeGreaterThanOrEqual(low);
      expect(share).toBeLessThanOrEqual(high);
      await Promise.all([cancelAndEnd(a, batchA.id), cancelAndEnd(b, batchB.id)]);
    }
  });

  it("shows each running batch's rate and share of its provider in the admin API", async () => {
    const [a, b] = [await gw.newTenant('rate-a'), await gw.newTenant('rate-b')];
    const t = tag();
    const batchA = await submit(a, SLOW.model, `rateA ${t}`, 1000);
    const batchB = await submit(b, SLOW.model, `rateB ${t}`, 1000);
    await waitFor(
      () => read(b, batchB.id),
      (x) => finished(x) >= 100,
    );
    const admin = adminClient(gw.url, gw.adminToken);
    const query = 'query($id: ID!) { batch(id: $id) { throughput { linesLastMinute providerShare } } }';
    const [ta, tb] = await Promise.all([admin.query(query, { id: batchA.id }), admin.query(query, { id: batchB.id })]);
    expect(ta.batch.throughput.linesLastMinute).toBeGreaterThan(0);
    expect(tb.batch.throughput.linesLastMinute).toBeGreaterThanOrEqual(100);
    // Earlier tests' lines on this provider count in the last minute too; these two started together and share it evenly.
    const [sa, sb] = [ta.batch.throughput.providerShare, tb.batch.throughput.providerShare];
    expect(sa + sb).toBeLessThanOrEqual(1);
    expect(sa / sb).toBeGreaterThan(0.6);
    expect(sa / sb).toBeLessThan(1.6);
    await Promise.all([cancelAndEnd(a, batchA.id), cancelAndEnd(b, batchB.id)]);
  });

  it("keeps exactly the provider's max_concurrency requests in flight, never more", async () => {
    const tenant = await gw.newTenant('wide');
    const batch = await submit(tenant, WIDE.model, `wide ${tag()}`, 3000);
    const done = await waitFor(() => read(tenant, batch.id), ended, 90_000);
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 3000, completed: 3000, failed: 0 } });
    expect(upstreams.wide.maxInFlight()).toBe(WIDE.concurrency);
  });

  it('claims lines in leases that never overlap, never exceed their size, and come back when their owner lapses or gives them back', async () => {
    const leases = gw.app.get(LineLeases);
    const batchId = `batch_leasetest${tag()}`;
    const values = Array.from({ length: 600 }, (_, i) => `('${batchId}', ${i + 1}, 'c${i}', ${i * 10}, 10, 'pending', 0, 0, 0)`);
    await gw.dataSource.query(
      `INSERT INTO batch_requests (batch_id, line, custom_id, byte_offset, byte_length, status, attempts, prompt_tokens, completion_tokens) VALUES ${values.join(',')}`,
    );
    const now = Date.now();
    await leases.heartbeat('worker-a', now + 60_000);
    await leases.heartbeat('worker-b', now + 60_000);
    await leases.heartbeat('worker-c', now + 60_000);
    // Concurrent claims from two owners: disjoint, each at most its size, together every line once.
    const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => leases.claim(batchId, i % 2 ? 'worker-b' : 'worker-a', 50, 0, now)));
    for (const c of claims) expect(c.length).toBeLessThanOrEqual(50);
    const lines = claims.flat().map((r) => r.line);
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.length).toBe(600);
    expect(await leases.claim(batchId, 'worker-b', 50, 0, now)).toEqual([]);

    // worker-a gives back two lines: claimable at once; worker-b lapses: all of its lines are.
    const aLines = claims
      .filter((_, i) => i % 2 === 0)
      .flat()
      .map((r) => r.line);
    await leases.release('worker-a', batchId, aLines.slice(0, 2));
    expect((await leases.claim(batchId, 'worker-c', 1000, 0, now)).map((r) => r.line)).toEqual(aLines.slice(0, 2).sort((x, y) => x - y));
    await leases.heartbeat('worker-b', now - 1);
    expect(await leases.claim(batchId, 'worker-c', 1000, 0, now)).toHaveLength(300);
  });
});
