import { ExecutionModule, RequestRowsService } from '@app/execution';
import { Repository } from 'typeorm';
import { BatchEntity } from '../../libs/batches/src/entities/batch.entity';
import { BatchRequestEntity } from '../../libs/execution/src/entities/batch-request.entity';
import { insertBatch, sqliteModule, SqliteModule } from '../support/sqlite-module';

/**
 * Finishing request rows on real SQLite: a row leaves `pending` once, and the batch's counters count it
 * in the same transaction, so a retry, an overlapping write or a cancel never counts a line twice and
 * never overwrites the first result.
 */

type FinishedRow = Parameters<RequestRowsService['finish']>[1][number];

/** A line answered by the upstream; `tag` marks which write its result came from. */
function answered(line: number, tag: string): FinishedRow {
  return {
    line,
    outcome: {
      ok: true,
      attempts: 1,
      latencyMs: 12,
      statusCode: 200,
      requestId: `req-${tag}-${line}`,
      body: JSON.stringify({ tag, line }),
      promptTokens: 10,
      completionTokens: 5,
      cachedTokens: 2,
      reasoningTokens: 1,
      error: null,
    },
  };
}

/** A line that failed upstream after its retries. */
function refused(line: number, tag: string): FinishedRow {
  return {
    line,
    outcome: {
      ok: false,
      attempts: 5,
      latencyMs: 30,
      statusCode: 500,
      requestId: null,
      body: JSON.stringify({ error: tag }),
      promptTokens: 0,
      completionTokens: 0,
      cachedTokens: 0,
      reasoningTokens: 0,
      error: { code: 'upstream_error', message: tag },
    },
  };
}

const lines = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

describe(RequestRowsService.name, () => {
  let db: SqliteModule;
  let sut: RequestRowsService;
  let batches: Repository<BatchEntity>;
  let rows: Repository<BatchRequestEntity>;

  beforeAll(async () => {
    db = await sqliteModule([ExecutionModule]);
    sut = db.module.get(RequestRowsService);
    batches = db.dataSource.getRepository(BatchEntity);
    rows = db.dataSource.getRepository(BatchRequestEntity);
  });
  afterAll(() => db.close());

  /** A fresh in-progress batch with `total` pending rows. */
  async function aBatch(total: number, prices: Partial<BatchEntity> = {}): Promise<string> {
    const id = await insertBatch(db, 'in_progress', { inProgressAt: db.clock.nowSeconds(), total, ...prices });
    await rows.insert(
      lines(1, total).map((line) => ({ batchId: id, line, customId: `c-${line}`, byteOffset: line * 100, byteLength: 100, status: 'pending' as const })),
    );
    return id;
  }

  async function counters(batchId: string) {
    const { completed, failed, promptTokens, completionTokens, totalTokens, cachedTokens, reasoningTokens } = await batches.findOneByOrFail({ id: batchId });
    return { completed, failed, promptTokens, completionTokens, totalTokens, cachedTokens, reasoningTokens };
  }

  const counted = (completed: number, failed = 0) => ({
    completed,
    failed,
    promptTokens: 10 * completed,
    completionTokens: 5 * completed,
    totalTokens: 15 * completed,
    cachedTokens: 2 * completed,
    reasoningTokens: completed,
  });

  const row = (batchId: string, line: number) => rows.findOneByOrFail({ batchId, line });
  /** Which write each finished row's result came from, by line. */
  async function sources(batchId: string): Promise<Record<number, string>> {
    const all = await rows.find({ where: { batchId }, order: { line: 'ASC' } });
    return Object.fromEntries(all.filter((r) => r.status !== 'pending').map((r) => [r.line, r.upstreamRequestId?.split('-')[1] ?? r.errorCode!]));
  }

  it('counts a row finished twice once, keeps the first result, and tells the second caller it counted nothing', async () => {
    const batchId = await aBatch(3);
    const firstAt = db.clock.nowSeconds();
    await sut.finish(batchId, [answered(1, 'first')]);
    const first = await row(batchId, 1);
    expect(first).toMatchObject({
      status: 'completed',
      statusCode: 200,
      upstreamRequestId: 'req-first-1',
      responseBody: '{"tag":"first","line":1}',
      finishedAt: firstAt,
    });

    db.clock.advance(30);
    const alongside = jest.fn(async () => undefined);
    await sut.finish(batchId, [refused(1, 'second')], alongside);
    await sut.finish(batchId, [answered(1, 'third')]);

    expect(await row(batchId, 1)).toEqual(first);
    expect(await counters(batchId)).toEqual(counted(1));
    expect(alongside).toHaveBeenCalledWith(expect.anything(), {
      completed: 0,
      failed: 0,
      promptTokens: 0,
      completionTokens: 0,
      cachedTokens: 0,
      reasoningTokens: 0,
      costMicros: 0,
    });
  });

  it("costs a row once, at the batch's locked prices, in its row, the batch and the account's daily usage", async () => {
    const batchId = await aBatch(3, { inputPricePerMtok: 2.5, outputPricePerMtok: 10, costCurrency: 'USD' });
    await sut.finish(batchId, [answered(1, 'first'), answered(2, 'first')]);
    await sut.finish(batchId, [answered(1, 'again'), refused(2, 'again'), answered(3, 'first')]);
    await sut.finish(batchId, [answered(3, 'again')]);

    const costs = (await rows.find({ where: { batchId }, order: { line: 'ASC' } })).map((r) => r.costMicros);
    // 10 prompt tokens at 2.5 and 5 completion tokens at 10 per million: 75 micro-units each.
    expect(costs).toEqual([75, 75, 75]);
    expect((await batches.findOneByOrFail({ id: batchId })).costMicros).toBe(225);
    const { accountId } = await batches.findOneByOrFail({ id: batchId });
    const usage: { requests: number | string; cost_micros: number | string; prompt_tokens: number | string }[] = await db.dataSource.query(
      'SELECT requests, cost_micros, prompt_tokens FROM usage_daily WHERE account_id = ?',
      [accountId],
    );
    expect(usage.map((u) => [Number(u.requests), Number(u.cost_micros), Number(u.prompt_tokens)])).toEqual([[3, 225, 30]]);
  });

  it('counts in one write only the rows still pending, and a line given twice in it once', async () => {
    const batchId = await aBatch(4);
    await sut.finish(batchId, [answered(1, 'first')]);
    const alongside = jest.fn(async () => undefined);
    await sut.finish(batchId, [answered(1, 'second'), answered(2, 'second'), refused(3, 'second'), answered(2, 'again')], alongside);
    expect(alongside).toHaveBeenCalledWith(expect.anything(), {
      completed: 1,
      failed: 1,
      promptTokens: 10,
      completionTokens: 5,
      cachedTokens: 2,
      reasoningTokens: 1,
      costMicros: 0,
    });
    expect(await counters(batchId)).toEqual({ ...counted(2), failed: 1 });
    expect(await sources(batchId)).toEqual({ 1: 'first', 2: expect.stringMatching(/^(second|again)$/), 3: 'upstream_error' });
    expect((await row(batchId, 4)).status).toBe('pending');
  });

  it('counts each row once when overlapping writes come one after another', async () => {
    const batchId = await aBatch(10);
    await sut.finish(
      batchId,
      lines(1, 6).map((l) => answered(l, 'a')),
    );
    await sut.finish(
      batchId,
      lines(4, 10).map((l) => answered(l, 'b')),
    );
    await sut.finish(
      batchId,
      lines(1, 10).map((l) => answered(l, 'c')),
    );
    expect(await counters(batchId)).toEqual(counted(10));
    expect(await sources(batchId)).toEqual({ 1: 'a', 2: 'a', 3: 'a', 4: 'a', 5: 'a', 6: 'a', 7: 'b', 8: 'b', 9: 'b', 10: 'b' });
  });

  // On SQLite all transactions share one connection: UnitOfWork makes them take turns.
  it('counts each row once when overlapping writes start in the same tick', async () => {
    const batchId = await aBatch(10);
    await Promise.all([
      sut.finish(
        batchId,
        lines(1, 6).map((l) => answered(l, 'a')),
      ),
      sut.finish(
        batchId,
        lines(4, 10).map((l) => answered(l, 'b')),
      ),
    ]);
    expect(await counters(batchId)).toEqual(counted(10));
  });

  it('keeps a write that starts while another waits, when the other then fails', async () => {
    const batchId = await aBatch(4);
    const failure = new Error('alongside failed');
    let release!: () => void;
    const waiting = new Promise<void>((resolve) => (release = resolve));
    const failing = sut.finish(batchId, [answered(1, 'lost')], async () => {
      await waiting;
      throw failure;
    });
    const kept = sut.finish(batchId, [answered(3, 'kept'), answered(4, 'kept')]);
    release();
    await expect(failing).rejects.toBe(failure);
    await kept;
    expect((await row(batchId, 1)).status).toBe('pending');
    expect(await sources(batchId)).toEqual({ 3: 'kept', 4: 'kept' });
    expect(await counters(batchId)).toEqual(counted(2));
  });

  it('leaves the rows pending and the counters alone when the work alongside the write fails', async () => {
    const batchId = await aBatch(2);
    const failure = new Error('alongside failed');
    await expect(
      sut.finish(batchId, [answered(1, 'lost')], async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await row(batchId, 1)).status).toBe('pending');
    expect(await counters(batchId)).toEqual(counted(0));

    await sut.finish(batchId, [answered(1, 'retried')]);
    expect(await sources(batchId)).toEqual({ 1: 'retried' });
    expect(await counters(batchId)).toEqual(counted(1));
  });

  it('fails only the rows still pending, counts them once, and a second call finds none', async () => {
    const batchId = await aBatch(5);
    await sut.finish(batchId, [answered(2, 'done'), refused(4, 'done')]);
    const at = db.clock.nowSeconds();
    expect(await sut.failPending(batchId, 'batch_cancelled', 'The batch was cancelled')).toBe(3);
    expect(await sut.failPending(batchId, 'batch_expired', 'The batch expired')).toBe(0);
    expect(await counters(batchId)).toEqual({ ...counted(1), failed: 4 });
    expect(await sources(batchId)).toEqual({ 1: 'batch_cancelled', 2: 'done', 3: 'batch_cancelled', 4: 'upstream_error', 5: 'batch_cancelled' });
    expect(await row(batchId, 3)).toMatchObject({ status: 'failed', errorMessage: 'The batch was cancelled', responseBody: null, finishedAt: at });

    // An answer that arrives after the cancel is not recorded and not counted.
    await sut.finish(batchId, [answered(3, 'late')]);
    expect((await row(batchId, 3)).errorCode).toBe('batch_cancelled');
    expect(await counters(batchId)).toEqual({ ...counted(1), failed: 4 });
  });

  it('fails within a line range only that range', async () => {
    const batchId = await aBatch(6);
    await sut.finish(batchId, [answered(3, 'done')]);
    expect(await sut.failPending(batchId, 'provider_batch_failed', 'The provider batch failed', { first: 2, last: 4 })).toBe(2);
    expect(await sources(batchId)).toEqual({ 2: 'provider_batch_failed', 3: 'done', 4: 'provider_batch_failed' });
    expect(await counters(batchId)).toEqual({ ...counted(1), failed: 2 });
  });

  it("touches only its own batch's rows and counters", async () => {
    const mine = await aBatch(3);
    const other = await aBatch(3);
    await sut.finish(
      mine,
      lines(1, 3).map((l) => answered(l, 'mine')),
    );
    await sut.failPending(mine, 'batch_cancelled', 'cancelled');
    expect(await sources(other)).toEqual({});
    expect(await counters(other)).toEqual(counted(0));
    expect(await counters(mine)).toEqual(counted(3));
  });
});
