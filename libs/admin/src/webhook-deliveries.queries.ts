import { dialectOf, named, namedList, queryRows, SqlDialect } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** A batch's webhook event as the admin API shows it, with every delivery attempt. */
export interface WebhookDelivery {
  eventId: string;
  batchId: string;
  type: string;
  targetUrl: string;
  status: string;
  attempts: number;
  createdAt: number;
  deliveredAt: number | null;
  nextAttemptAt: number | null;
  lastError: string | null;
  history: { attempt: number; attemptedAt: number; statusCode: number | null; latencyMs: number; error: string | null }[];
}

/** The outbox's health across every account: what waits, what keeps failing. */
export interface WebhookHealth {
  pending: number;
  retrying: number;
  failed: number;
  failedAttempts: number;
}

const num = (v: unknown) => (v == null ? null : Number(v));

/** The admin API's reads of the webhook outbox: two queries for the deliveries of any number of batches. */
@Injectable()
export class WebhookDeliveryQueries {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  async forBatches(batchIds: readonly string[]): Promise<WebhookDelivery[]> {
    if (batchIds.length === 0) return [];
    const ids = namedList('b', batchIds);
    const events = await queryRows<Record<string, unknown>>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT id, batch_id, type, target_url, status, attempts, created_at, delivered_at, next_attempt_at, last_error
         FROM webhook_events WHERE batch_id IN (${ids.sql}) ORDER BY created_at, id`,
        ids.values,
      ),
    );
    if (events.length === 0) return [];
    const eventIds = namedList(
      'e',
      events.map((e) => e.id),
    );
    const attempts = await queryRows<Record<string, unknown>>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT event_id, attempt, attempted_at, status_code, latency_ms, error FROM webhook_attempts
         WHERE event_id IN (${eventIds.sql}) ORDER BY attempt`,
        eventIds.values,
      ),
    );
    return events.map((e) => ({
      eventId: String(e.id),
      batchId: String(e.batch_id),
      type: String(e.type),
      targetUrl: String(e.target_url),
      status: String(e.status),
      attempts: Number(e.attempts),
      createdAt: Number(e.created_at),
      deliveredAt: num(e.delivered_at),
      nextAttemptAt: num(e.next_attempt_at),
      lastError: (e.last_error as string | null) ?? null,
      history: attempts
        .filter((a) => a.event_id === e.id)
        .map((a) => ({
          attempt: Number(a.attempt),
          attemptedAt: Number(a.attempted_at),
          statusCode: num(a.status_code),
          latencyMs: Number(a.latency_ms),
          error: (a.error as string | null) ?? null,
        })),
    }));
  }

  /** Events pending (and of those, already tried), events given up on, and attempts that failed since `sinceMs` (epoch ms). */
  async health(sinceMs: number): Promise<WebhookHealth> {
    const [events, attempts] = await Promise.all([
      queryRows<{ status: string; events: string | number; tried: string | number }>(
        this.dataSource.manager,
        ...named(
          this.dialect,
          `SELECT status, COUNT(*) AS events, SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS tried
           FROM webhook_events WHERE status IN ('pending', 'failed') GROUP BY status`,
          {},
        ),
      ),
      queryRows<{ failed: string | number }>(
        this.dataSource.manager,
        ...named(this.dialect, `SELECT COUNT(*) AS failed FROM webhook_attempts WHERE attempted_at >= :since AND error IS NOT NULL`, { since: sinceMs }),
      ),
    ]);
    const pending = events.find((e) => e.status === 'pending');
    return {
      pending: Number(pending?.events ?? 0),
      retrying: Number(pending?.tried ?? 0),
      failed: Number(events.find((e) => e.status === 'failed')?.events ?? 0),
      failedAttempts: Number(attempts[0]?.failed ?? 0),
    };
  }
}
