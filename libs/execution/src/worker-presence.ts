import { APP_CONFIG, AppConfig, randomToken } from '@app/core';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { LineLeases } from './realtime/line-leases.repository';

/** A worker's claims stay its own this long after its last heartbeat (one every third of it). */
export const LEASE_MS = 15_000;

/**
 * This worker process as the other workers see it: a name (`owner`) that its claims carry (request
 * lines of realtime batches, parts of provider batches) and one row in `scheduler_workers` kept alive
 * by a heartbeat. Whatever a dead worker claimed is free again once its row lapses.
 */
@Injectable()
export class WorkerPresence {
  private readonly logger = new Logger(WorkerPresence.name);
  readonly owner = `${hostname()}:${process.pid}:${randomToken(6)}`;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: () => Record<string, number> = () => ({});

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly leases: LineLeases,
  ) {}

  async start(): Promise<void> {
    // The embedded default is one process: claims left by a killed predecessor need not wait for its row to lapse.
    if (!this.config.redisUrl) await this.leases.retireAll();
    else await this.leases.forgetLapsed(Date.now() - 3_600_000);
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch((err) => this.logger.warn({ err: (err as Error).message }, 'Could not renew leases'));
    }, LEASE_MS / 3);
  }

  /** What each heartbeat reports as this worker's requests in flight per provider (the realtime scheduler's). */
  reportInFlight(count: () => Record<string, number>): void {
    this.inFlight = count;
  }

  private beat(): Promise<void> {
    return this.leases.heartbeat(this.owner, Date.now() + LEASE_MS, this.inFlight());
  }

  /** After the executors have given their claims back. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.leases.retire(this.owner).catch((err) => this.logger.warn({ err: (err as Error).message }, 'Could not retire; this worker lapses by itself'));
  }
}
