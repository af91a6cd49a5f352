import { InjectQueue } from '@nestjs/bull';
import { APP_CONFIG, AppConfig, randomToken } from '@app/core';
import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bull';
import { JobHandler, JobQueue } from '../job-queue';
import { JOB_RETRY, JOBS, JobName, JobOptions, JobPayloads } from '../queue.constants';

const HEARTBEAT_EVERY_MS = 5_000;
const HEARTBEAT_TTL_MS = 15_000;

/**
 * Bull on Redis: one Bull queue per job name. Jobs survive a crash in Redis; a job whose worker died
 * is taken back by Bull's stalled-job check (see QUEUE_SETTINGS) and run again by another worker.
 */
@Injectable()
export class BullJobQueue extends JobQueue implements BeforeApplicationShutdown {
  private readonly logger = new Logger(BullJobQueue.name);
  private readonly queues = new Map<JobName, Queue>();
  private readonly workerId = `${process.pid}-${randomToken(8)}`;
  private readonly workersKey: string;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    @InjectQueue(JOBS.prepareBatch) prepare: Queue,
    @InjectQueue(JOBS.finalizeBatch) finalize: Queue,
    @InjectQueue(JOBS.deliverWebhook) webhooks: Queue,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    super();
    this.workersKey = `${config.redisPrefix}:workers`;
    for (const queue of [prepare, finalize, webhooks]) this.queues.set(queue.name as JobName, queue);
  }

  async add<N extends JobName>(name: N, data: JobPayloads[N], options: JobOptions = {}): Promise<void> {
    const { attempts, backoffMs } = JOB_RETRY[name];
    await this.queue(name).add(data, {
      jobId: options.jobId,
      delay: options.delayMs,
      attempts,
      backoff: { type: 'exponential', delay: backoffMs },
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  process<N extends JobName>(name: N, concurrency: number, handler: JobHandler<N>): void {
    this.startHeartbeat();
    void this.queue(name).process(concurrency, async (job) => handler(job.data as JobPayloads[N]));
    this.queue(name).on('failed', (job, err) => this.logger.warn({ job: name, jobId: job.id, attempt: job.attemptsMade, err: err.message }, 'Job failed'));
  }

  async depth(): Promise<Record<string, { waiting: number; active: number }>> {
    const out: Record<string, { waiting: number; active: number }> = {};
    for (const [name, queue] of this.queues) {
      const c = await queue.getJobCounts();
      out[name] = { waiting: c.waiting + c.delayed, active: c.active };
    }
    return out;
  }

  /** Workers announce themselves every 5 s in a sorted set; those silent for 15 s are gone. */
  async liveWorkers(): Promise<number> {
    const redis = this.queue(JOBS.prepareBatch).client;
    await redis.zremrangebyscore(this.workersKey, 0, Date.now() - HEARTBEAT_TTL_MS);
    return Math.max(1, await redis.zcard(this.workersKey));
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    const beat = () =>
      void this.queue(JOBS.prepareBatch)
        .client.zadd(this.workersKey, Date.now(), this.workerId)
        .catch(() => undefined);
    beat();
    this.heartbeat = setInterval(beat, HEARTBEAT_EVERY_MS);
  }

  async ping(): Promise<void> {
    await this.queue(JOBS.prepareBatch).client.ping();
  }

  /** Stops fetching new jobs and waits for the running ones (Bull's local pause). */
  async drain(): Promise<void> {
    if (this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
      await this.queue(JOBS.prepareBatch)
        .client.zrem(this.workersKey, this.workerId)
        .catch(() => undefined);
    }
    await Promise.all([...this.queues.values()].map((q) => q.pause(true, false).catch(() => undefined)));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
  }

  private queue(name: JobName): Queue {
    return this.queues.get(name)!;
  }
}
