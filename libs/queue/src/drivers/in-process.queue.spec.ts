import { JOBS } from '../queue.constants';
import { InProcessJobQueue } from './in-process.queue';

describe(InProcessJobQueue.name, () => {
  it('runs each job once, ignores a duplicate job id while it is pending, and respects concurrency', async () => {
    const sut = new InProcessJobQueue();
    const seen: string[] = [];
    let running = 0;
    let most = 0;
    let finish!: () => void;
    const allDone = new Promise<void>((r) => (finish = r));
    sut.process(JOBS.finalizeBatch, 2, async ({ batchId }) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      seen.push(batchId);
      running -= 1;
      if (seen.length === 3) finish();
    });
    await sut.add(JOBS.finalizeBatch, { batchId: 'a' }, { jobId: 'x' });
    await sut.add(JOBS.finalizeBatch, { batchId: 'dup' }, { jobId: 'x' });
    await sut.add(JOBS.finalizeBatch, { batchId: 'b' });
    await sut.add(JOBS.finalizeBatch, { batchId: 'c' });
    await allDone;
    expect(seen.sort()).toEqual(['a', 'b', 'c']);
    expect(most).toBe(2);
    await sut.drain();
  });

  it('keeps jobs added before a handler exists and retries a failing job', async () => {
    const sut = new InProcessJobQueue();
    await sut.add(JOBS.deliverWebhook, { eventId: 'e1' });
    expect(await sut.depth()).toEqual({ [JOBS.deliverWebhook]: { waiting: 1, active: 0 } });
    let calls = 0;
    const done = new Promise<void>((resolve) =>
      sut.process(JOBS.prepareBatch, 1, async () => {
        calls += 1;
        if (calls < 2) throw new Error('boom');
        resolve();
      }),
    );
    sut.process(JOBS.deliverWebhook, 1, async () => undefined);
    await sut.add(JOBS.prepareBatch, { batchId: 'b' });
    await done;
    expect(calls).toBe(2);
    await sut.drain();
  });
});
