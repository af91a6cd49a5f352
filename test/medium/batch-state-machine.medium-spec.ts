import { BATCH_STATUSES, BatchesModule, BatchStateMachine, BatchStatus, Transition, TransitionHook, TRANSITIONS } from '@app/batches';
import { Repository } from 'typeorm';
import { BatchesRepository } from '../../libs/batches/src/batches.repository';
import { BatchEntity } from '../../libs/batches/src/entities/batch.entity';
import { uniqueName } from '../support/databases';
import { insertBatch, sqliteModule, SqliteModule } from '../support/sqlite-module';

/**
 * BatchStateMachine.apply on real SQLite: each allowed transition sets its status and timestamp (and the
 * caller's columns) in one transaction with the hooks; every other transition is refused and leaves the
 * row exactly as it was.
 */

type Rule = { from: readonly BatchStatus[]; to: BatchStatus; at: keyof BatchEntity; onlyRunning?: boolean };
const RULES = TRANSITIONS as Record<Transition, Rule>;
const NAMES = Object.keys(RULES) as Transition[];
const ALLOWED = NAMES.flatMap((t) => RULES[t].from.map((from): [Transition, BatchStatus] => [t, from]));
const REFUSED = NAMES.flatMap((t) => BATCH_STATUSES.filter((s) => !RULES[t].from.includes(s)).map((from): [Transition, BatchStatus] => [t, from]));
/** What the hooks below write, through a real repository, in the transaction they are given: one more completed line. */
const ONE_LINE = { completed: 1, failed: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, costMicros: 0 };

describe(BatchStateMachine.name, () => {
  let db: SqliteModule;
  let sut: BatchStateMachine;
  let batches: Repository<BatchEntity>;
  let repository: BatchesRepository;
  /** The two hooks registered on the machine call these; each test sets what they do. */
  let first: TransitionHook;
  let second: TransitionHook;
  const idle: TransitionHook = async () => undefined;

  beforeAll(async () => {
    db = await sqliteModule([BatchesModule]);
    sut = db.module.get(BatchStateMachine);
    batches = db.dataSource.getRepository(BatchEntity);
    repository = db.module.get(BatchesRepository);
    sut.onTransition((tx, change) => first(tx, change));
    sut.onTransition((tx, change) => second(tx, change));
  });
  afterAll(() => db.close());
  beforeEach(() => {
    first = idle;
    second = idle;
  });

  /** A fresh batch row in `status` (every timestamp but created_at unset), as it is stored. */
  const aBatch = async (status: BatchStatus, extra: Partial<BatchEntity> = {}) => stored(await insertBatch(db, status, { total: 3, ...extra }));

  const stored = (id: string) => batches.findOneByOrFail({ id });

  it.each(ALLOWED)('%s from %s sets the target status and its timestamp, and nothing else', async (transition, from) => {
    const before = await aBatch(from);
    db.clock.advance(90);
    const changed = await sut.apply(before.id, transition);
    const after = await stored(before.id);
    expect(after).toEqual({ ...before, status: RULES[transition].to, [RULES[transition].at]: db.clock.nowSeconds() });
    expect(changed).toEqual(after);
  });

  it.each(REFUSED)('refuses %s from %s and leaves the row as it was, running no hook', async (transition, from) => {
    const before = await aBatch(from);
    const hooked = jest.fn(idle);
    first = hooked;
    db.clock.advance(90);
    expect(await sut.apply(before.id, transition, { errors: [{ code: 'x', message: 'x', param: null, line: null }] })).toBeNull();
    expect(await stored(before.id)).toEqual(before);
    expect(hooked).not.toHaveBeenCalled();
  });

  it.each(RULES.requestCancel.from)('refuses requestCancel from %s once the batch is expiring', async (from) => {
    const before = await aBatch(from, { stopReason: 'expired' });
    expect(await sut.apply(before.id, 'requestCancel')).toBeNull();
    expect(await stored(before.id)).toEqual(before);
  });

  it('refuses a transition for a batch that does not exist', async () => {
    expect(await sut.apply(uniqueName('batch'), 'start')).toBeNull();
  });

  it("writes the caller's columns with the status, and the alongside work, in the same transaction", async () => {
    const before = await aBatch('finalizing');
    const alongside = jest.fn(async () => undefined);
    const changed = await sut.apply(before.id, 'complete', { outputFileId: 'file-out', errorFileId: 'file-err' }, alongside);
    expect(alongside).toHaveBeenCalledTimes(1);
    expect(changed).toMatchObject({ status: 'completed', outputFileId: 'file-out', errorFileId: 'file-err', completedAt: db.clock.nowSeconds() });
    expect(await stored(before.id)).toEqual(changed);
  });

  it('rolls the status and the columns back when the alongside work throws', async () => {
    const before = await aBatch('validating');
    const failure = new Error('alongside failed');
    await expect(
      sut.apply(before.id, 'fail', { errors: [{ code: 'bad', message: 'bad', param: null, line: 1 }] }, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await stored(before.id)).toEqual(before);
  });

  it('runs each hook once inside the transaction, with the batch as changed, and its after-commit work once committed', async () => {
    const before = await aBatch('in_progress');
    const seen: unknown[] = [];
    let committed: BatchEntity | null = null;
    first = async (tx, change) => {
      seen.push({ hook: 'first', transition: change.transition, accountId: change.accountId, status: change.batch.status, at: change.batch.finalizing_at });
      await repository.addProgress(tx, before.id, ONE_LINE);
      return async () => {
        committed = await stored(before.id);
      };
    };
    second = async (_tx, change) => {
      seen.push({ hook: 'second', status: change.batch.status });
    };
    db.clock.advance(5);
    await sut.apply(before.id, 'finalize');
    const now = db.clock.nowSeconds();
    expect(seen).toEqual([
      { hook: 'first', transition: 'finalize', accountId: before.accountId, status: 'finalizing', at: now },
      { hook: 'second', status: 'finalizing' },
    ]);
    expect(committed).toEqual({ ...before, status: 'finalizing', finalizingAt: now, completed: 1 });
    expect(await stored(before.id)).toEqual(committed);
  });

  it('rolls back the status change and what earlier hooks wrote when a hook throws, and runs no after-commit work', async () => {
    const before = await aBatch('in_progress');
    const afterCommit = jest.fn(async () => undefined);
    first = async (tx) => {
      await repository.addProgress(tx, before.id, ONE_LINE);
      return afterCommit;
    };
    const failure = new Error('hook failed');
    second = async () => {
      throw failure;
    };
    db.clock.advance(5);
    await expect(sut.apply(before.id, 'expire')).rejects.toBe(failure);
    expect(await stored(before.id)).toEqual(before);
    expect(afterCommit).not.toHaveBeenCalled();

    // Nothing was left half-done: the same transition succeeds once the hook stops throwing.
    second = idle;
    expect(await sut.apply(before.id, 'expire')).toMatchObject({ status: 'expired', expiredAt: db.clock.nowSeconds() });
    expect(await stored(before.id)).toMatchObject({ status: 'expired', completed: 1 });
    expect(afterCommit).toHaveBeenCalledTimes(1);
  });
});
