import { BatchStatus } from '@app/batches';
import { ExecutionModule, SweeperService } from '@app/execution';
import { JobQueue, JOBS } from '@app/queue';
import { Repository } from 'typeorm';
import { BatchEntity } from '../../libs/batches/src/entities/batch.entity';
import { insertBatch, sqliteModule, SqliteModule } from '../support/sqlite-module';

const DAY = 86_400;

/**
 * The expiry sweep on real SQLite, driven by the injectable clock: a batch's completion window ends
 * when the clock reaches its expires_at, whatever the wall clock says (the end-to-end expiry tests
 * create their batches with the gateway's clock a day behind instead of rewriting expires_at).
 */
describe(SweeperService.name, () => {
  let db: SqliteModule;
  let sut: SweeperService;
  let batches: Repository<BatchEntity>;
  let queue: JobQueue;

  beforeAll(async () => {
    db = await sqliteModule([ExecutionModule]);
    sut = db.module.get(SweeperService);
    batches = db.dataSource.getRepository(BatchEntity);
    queue = db.module.get(JobQueue);
  });
  afterAll(() => db.close());

  /** A batch created now by the test clock, in `status`, with the 24h window. */
  const aBatch = (status: BatchStatus) => insertBatch(db, status);

  const stopReason = async (id: string) => (await batches.findOneByOrFail({ id })).stopReason;
  const finalizeJobs = async () => (await queue.depth())[JOBS.finalizeBatch]?.waiting ?? 0;

  it('marks a running batch expiring when the clock reaches expires_at, not a second earlier, and queues its finalize once', async () => {
    const running = await aBatch('in_progress');
    const validating = await aBatch('validating');
    const jobsBefore = await finalizeJobs();

    db.clock.advance(DAY - 1);
    await sut.sweep();
    expect(await stopReason(running)).toBeNull();
    expect(await stopReason(validating)).toBeNull();

    db.clock.advance(1);
    await sut.sweep();
    await sut.sweep();
    expect(await stopReason(running)).toBe('expired');
    expect(await stopReason(validating)).toBe('expired');
    // The status is the finalizer's to change, after the grace for requests in flight.
    expect(await batches.findOneByOrFail({ id: running })).toMatchObject({ status: 'in_progress', expiredAt: null });
    expect((await finalizeJobs()) - jobsBefore).toBe(2);
  });

  it.each(['finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled'] as const)(
    'never marks a batch that is %s, however long past its window',
    async (status) => {
      const id = await aBatch(status);
      db.clock.advance(3 * DAY);
      await sut.sweep();
      expect(await stopReason(id)).toBeNull();
    },
  );
});
