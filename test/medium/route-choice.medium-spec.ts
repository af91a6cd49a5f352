import { ApiError } from '@app/core';
import { InvalidRoutingFileError, readRoutingFile, RoutingModule, RoutingService, SkuInput } from '@app/routing';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { uniqueName } from '../support/databases';
import { sqliteModule, SqliteModule } from '../support/sqlite-module';

/**
 * RoutingService.chooseRoute on real SQLite: the highest priority wins, equal priorities share by
 * weight, and only active, batch-capable SKUs serving the endpoint are ever chosen.
 */

/** A seeded generator (mulberry32), so that the distribution test draws the same numbers every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe(RoutingService.name, () => {
  let db: SqliteModule;
  let sut: RoutingService;

  beforeAll(async () => {
    db = await sqliteModule([RoutingModule]);
    sut = db.module.get(RoutingService);
  });
  afterAll(() => db.close());

  /** A fresh model with one realtime provider and the given SKUs (ids `<model>/<key>`), so tests never share routes. */
  async function routes(
    skus: Record<string, Omit<SkuInput, 'id' | 'model' | 'provider' | 'upstream_model'>>,
  ): Promise<{ model: string; id: (key: string) => string }> {
    const model = uniqueName('model');
    const provider = uniqueName('prov');
    await sut.upsertProvider({ id: provider, kind: 'mock' });
    for (const [key, sku] of Object.entries(skus)) await sut.upsertSku({ id: `${model}/${key}`, model, provider, upstream_model: `${key}-upstream`, ...sku });
    return { model, id: (key) => `${model}/${key}` };
  }

  /** How often each SKU id was chosen in `draws` picks. */
  async function tally(model: string, draws: number, random: () => number, endpoint?: '/v1/embeddings'): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (let i = 0; i < draws; i++) {
      const { skuId } = await sut.chooseRoute(model, endpoint, random);
      counts[skuId] = (counts[skuId] ?? 0) + 1;
    }
    return counts;
  }

  async function refusal(model: string, endpoint?: '/v1/embeddings'): Promise<{ code: string; message: string; param: string | null }> {
    const err: unknown = await sut.chooseRoute(model, endpoint).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    const { code, message, param } = err as ApiError;
    return { code, message, param };
  }

  it('shares equal priorities by weight: over 4000 draws each SKU is chosen within 2 points of its share', async () => {
    const { model, id } = await routes({ light: { weight: 1 }, middle: { weight: 3 }, heavy: { weight: 6 } });
    const draws = 4000;
    const counts = await tally(model, draws, seeded(16));
    expect(Object.keys(counts).sort()).toEqual([id('heavy'), id('light'), id('middle')]);
    for (const [key, share] of [
      ['light', 0.1],
      ['middle', 0.3],
      ['heavy', 0.6],
    ] as const) {
      expect(counts[id(key)] / draws).toBeGreaterThan(share - 0.02);
      expect(counts[id(key)] / draws).toBeLessThan(share + 0.02);
    }
  });

  it('maps the random number onto the SKUs in id order, each taking a slice as wide as its weight', async () => {
    const { model, id } = await routes({ a: { weight: 1 }, b: { weight: 3 }, c: { weight: 6 } });
    const pick = async (r: number) => (await sut.chooseRoute(model, undefined, () => r)).skuId;
    expect(await pick(0)).toBe(id('a'));
    expect(await pick(0.0999)).toBe(id('a'));
    expect(await pick(0.1)).toBe(id('b'));
    expect(await pick(0.3999)).toBe(id('b'));
    expect(await pick(0.4)).toBe(id('c'));
    expect(await pick(0.9999)).toBe(id('c'));
  });

  it('locks the chosen SKU with its provider, upstream model and execution', async () => {
    const { model, id } = await routes({ only: {} });
    const lock = await sut.chooseRoute(model);
    expect(lock).toEqual({
      skuId: id('only'),
      providerId: expect.stringMatching(/^prov_/),
      upstreamModel: 'only-upstream',
      execution: 'realtime',
      inputPricePerMtok: null,
      outputPricePerMtok: null,
      costCurrency: null,
    });
  });

  it("locks the SKU's prices and the currency, less its batch discount only on a provider's Batch API", async () => {
    const priced = { input_price_per_mtok: 2, output_price_per_mtok: 8, batch_discount: 0.25 };
    const realtime = await routes({ live: priced });
    expect(await sut.chooseRoute(realtime.model)).toMatchObject({ execution: 'realtime', inputPricePerMtok: 2, outputPricePerMtok: 8, costCurrency: 'USD' });

    const model = uniqueName('model');
    const provider = uniqueName('prov');
    await sut.upsertProvider({ id: provider, kind: 'openai', base_url: 'http://127.0.0.1:9/v1', batch_api: true });
    await sut.upsertSku({ id: `${model}/batch`, model, provider, upstream_model: 'u', ...priced });
    expect(await sut.chooseRoute(model)).toMatchObject({ execution: 'provider_batch', inputPricePerMtok: 1.5, outputPricePerMtok: 6, costCurrency: 'USD' });
  });

  it('always chooses the highest active priority, whatever the weights below it', async () => {
    const { model, id } = await routes({ top: { priority: 5, weight: 1 }, below: { priority: 1, weight: 1000 }, lowest: { priority: -3, weight: 1000 } });
    expect(await tally(model, 200, seeded(1))).toEqual({ [id('top')]: 200 });
  });

  it('never chooses an inactive SKU, however heavy, and falls back to the next priority when the top is inactive', async () => {
    const { model, id } = await routes({
      idle: { active: false, priority: 9, weight: 1000 },
      heavyIdle: { active: false, weight: 1000 },
      on: { weight: 1 },
    });
    expect(await tally(model, 200, seeded(2))).toEqual({ [id('on')]: 200 });

    await sut.setSkuActive(id('idle'), true);
    expect(await tally(model, 50, seeded(3))).toEqual({ [id('idle')]: 50 });
    await sut.setSkuActive(id('idle'), false);
    expect(await tally(model, 50, seeded(4))).toEqual({ [id('on')]: 50 });
  });

  it('never chooses a SKU that is not batch capable or does not serve the endpoint', async () => {
    const { model, id } = await routes({
      realtimeOnly: { batch_capable: false, priority: 9, weight: 1000 },
      chatOnly: { priority: 9, weight: 1000 },
      embeds: { endpoints: ['/v1/embeddings'], weight: 1 },
    });
    expect(await tally(model, 200, seeded(5), '/v1/embeddings')).toEqual({ [id('embeds')]: 200 });
    expect(await tally(model, 50, seeded(6))).toEqual({ [id('chatOnly')]: 50 });
  });

  it('never chooses a zero-weight SKU beside weighted ones (inputs refuse weight 0; this is a row written otherwise)', async () => {
    const { model, id } = await routes({ a: { weight: 0 }, b: { weight: 2 }, c: { weight: 0 } });
    expect(await tally(model, 300, seeded(7))).toEqual({ [id('b')]: 300 });
    expect((await sut.chooseRoute(model, undefined, () => 0)).skuId).toBe(id('b'));
  });

  it('answers batch_model_not_supported for a model with no batch-capable route on the endpoint', async () => {
    expect(await refusal(uniqueName('unknown'))).toEqual({
      code: 'batch_model_not_supported',
      message: expect.stringMatching(/is not available for batch processing$/),
      param: 'input_file_id',
    });
    const { model } = await routes({ realtimeOnly: { batch_capable: false } });
    expect((await refusal(model)).code).toBe('batch_model_not_supported');
    const chat = await routes({ chat: {} });
    expect(await refusal(chat.model, '/v1/embeddings')).toEqual({
      code: 'batch_model_not_supported',
      message: `The model '${chat.model}' is not available for batch processing on /v1/embeddings`,
      param: 'input_file_id',
    });
  });

  it('answers batch_routing_unavailable when the model has routes but none is active', async () => {
    const { model, id } = await routes({ a: { active: false }, b: {} });
    await sut.setSkuActive(id('b'), false);
    expect(await refusal(model)).toEqual({
      code: 'batch_routing_unavailable',
      message: `The model '${model}' has no active batch route right now; try again later`,
      param: 'input_file_id',
    });
  });

  it('refuses a routing file that gives a SKU weight 0', () => {
    const path = join(tmpdir(), `${uniqueName('routing')}.yaml`);
    writeFileSync(
      path,
      stringify({
        providers: [{ id: 'p', kind: 'mock' }],
        skus: [{ id: 's', model: 'm', provider: 'p', upstream_model: 'u', weight: 0 }],
      }),
    );
    try {
      expect(() => readRoutingFile(path)).toThrow(InvalidRoutingFileError);
      expect(() => readRoutingFile(path)).toThrow(`ROUTING_FILE ${path} is invalid at skus.0.weight: weight must not be less than 1`);
    } finally {
      rmSync(path, { force: true });
    }
  });
});
