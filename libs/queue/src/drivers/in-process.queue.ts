import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { JobHandler, JobQueue } from '../job-queue';
import { JOB_RETRY, JobName, JobOptions, JobPayloads } from '../queue.constants';

interface PendingJob {
  id?: string;
  data: unknown;
  attempt: number;
}

interface Lane {
  waiting: PendingJob[];
  delayed: number;
  active: number;
  concurrency: number;
  handler?: JobHandler<JobName>;
  ids: Set<string>;
}

/** The embedded driver: jobs live in memory and run in this process; recovery at boot re-creates lost ones. */
@Injectable()
export class InProcessJobQueue extends JobQueue implements BeforeApplicationShutdown {
  private readonly logger = new Logger(InProcessJobQueue.name);
  private readonly lanes = new Map<JobName, Lane>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly idle = new Set<() => void>();
  private closing = false;
  /** Jobs run in the context this queue was made in, not in the HTTP request that added them (logs, request ids). */
  private readonly scope = new AsyncResource('InProcessJobQueue');

  async add<N extends JobName>(name: N, data: JobPayloads[N], options: JobOptions = {}): Promise<void> {
    if (this.closing) return;
    const lane = this.lane(name);
    if (options.jobId) {
      if (lane.ids.has(options.jobId)) return;
      lane.ids.add(options.jobId);
    }
    this.enqueue(name, { id: options.jobId, data, attempt: 1 }, options.delayMs ?? 0);
  }

  process<N extends JobName>(name: N, concurrency: number, handler: JobHandler<N>): void {
    const lane = this.lane(name);
    lane.concurrency = concurrency;
    lane.handler = handler as JobHandler<JobName>;
    this.pump(name);
  }

  async depth(): Promise<Record<string, { waiting: number; active: number }>> {
    const out: Record<string, { waiting: number; active: number }> = {};
    for (const [name, lane] of this.lanes) out[name] = { waiting: lane.waiting.length + lane.delayed, active: lane.active };
    return out;
  }

  async ping(): Promise<void> {}

  async liveWorkers(): Promise<number> {
    return 1;
  }

  async drain(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    while ([...this.lanes.values()].some((l) => l.active > 0)) {
      await new Promise<void>((resolve) => this.idle.add(resolve));
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
  }

  private lane(name: JobName): Lane {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = { waiting: [], delayed: 0, active: 0, concurrency: 0, ids: new Set() };
      this.lanes.set(name, lane);
    }
    return lane;
  }

  private enqueue(name: JobName, job: PendingJob, delayMs: number): void {
    const lane = this.lane(name);
    if (delayMs <= 0) {
      lane.waiting.push(job);
      this.pump(name);
      return;
    }
    lane.delayed += 1;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      lane.delayed -= 1;
      lane.waiting.push(job);
      this.pump(name);
    }, delayMs);
    this.timers.add(timer);
  }

  private pump(name: JobName): void {
    const lane = this.lane(name);
    while (!this.closing && lane.handler && lane.active < lane.concurrency && lane.waiting.length > 0) {
      const job = lane.waiting.shift()!;
      lane.active += 1;
      void this.scope.runInAsyncScope(() => this.run(name, lane, job));
    }
  }

  private async run(name: JobName, lane: Lane, job: PendingJob): Promise<void> {
    try {
      await lane.handler!(job.data as never);
      if (job.id) lane.ids.delete(job.id);
    } catch (err) {
      const { attempts, backoffMs } = JOB_RETRY[name];
      if (job.attempt < attempts && !this.closing) {
        this.logger.warn({ job: name, attempt: job.attempt, err: (err as Error).message }, 'Job failed; retrying');
        this.enqueue(name, { ...job, attempt: job.attempt + 1 }, backoffMs * 2 ** (job.attempt - 1));
      } else if (this.closing) {
        // Shutting down: the work is picked up again from the database at the next boot.
        if (job.id) lane.ids.delete(job.id);
        this.logger.log({ job: name, reason: (err as Error).message }, 'Job released at shutdown');
      } else {
        if (job.id) lane.ids.delete(job.id);
        this.logger.error({ job: name, attempt: job.attempt, err: err as Error }, 'Job failed for good');
      }
    } finally {
      lane.active -= 1;
      for (const resolve of this.idle) resolve();
      this.idle.clear();
      this.pump(name);
    }
  }
}
