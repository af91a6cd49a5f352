import { PublicRoute } from '@app/accounts';
import { withTimeout } from '@app/core';
import { FilesService } from '@app/files';
import { JobQueue } from '@app/queue';
import { Controller, Get } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';

/** A dependency that does not answer within this time counts as down (a Redis client reconnecting waits forever). */
const PROBE_TIMEOUT_MS = 2000;

/** Liveness and readiness for load balancers: no key needed, nothing secret in the answer. */
@ApiExcludeController()
@PublicRoute()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly queue: JobQueue,
    private readonly files: FilesService,
  ) {}

  /** The process is alive and its event loop answers. */
  @Get('healthz')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /** The database, the queue backend (Redis when configured) and file storage all answer. */
  @Get('readyz')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.db.pingCheck('database', { timeout: PROBE_TIMEOUT_MS }),
      () => this.probe('queue', () => this.queue.ping()),
      () => this.probe('storage', () => this.files.checkStorage()),
    ]);
  }

  private async probe(key: string, check: () => Promise<void>) {
    const session = this.indicators.check(key);
    try {
      await withTimeout(check(), PROBE_TIMEOUT_MS, key);
      return session.up();
    } catch {
      return session.down({ message: `${key} is not reachable` });
    }
  }
}
