import { AccountsService } from '@app/accounts';
import { APP_CONFIG, AppConfig, Clock, Metrics } from '@app/core';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Agent, request } from 'undici';
import { WebhookAttemptEntity } from './entities/webhook-attempt.entity';
import { WebhookEventEntity } from './entities/webhook-event.entity';
import { resolveSafeTarget, TargetPolicy, UnsafeTargetError } from './ssrf-guard';
import { WebhookOutbox } from './webhook-outbox';
import { signedHeaders } from './webhook-signer';

/**
 * Delivers an event: signed per Standard Webhooks with the account's secret, to the address it checked
 * (the connection pinned to it, no redirects), within a timeout; every attempt recorded, the next one
 * scheduled on a retry schedule of about a day, never retried forever.
 */
@Injectable()
export class WebhookDeliverer {
  private readonly logger = new Logger(WebhookDeliverer.name);
  private readonly policy: TargetPolicy;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectRepository(WebhookEventEntity) private readonly events: Repository<WebhookEventEntity>,
    @InjectRepository(WebhookAttemptEntity) private readonly attempts: Repository<WebhookAttemptEntity>,
    private readonly accounts: AccountsService,
    private readonly outbox: WebhookOutbox,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
  ) {
    this.policy = { allowHttp: config.webhookAllowHttp, allowPrivate: config.webhookAllowPrivate };
  }

  /** One delivery attempt of an event; schedules the next attempt or gives up, and records the attempt. */
  async deliver(eventId: string): Promise<void> {
    const event = await this.events.findOneBy({ id: eventId });
    if (!event || event.status !== 'pending') return;
    const account = await this.accounts.getAccount(event.accountId);
    const attempt = event.attempts + 1;
    const startedAt = this.clock.nowMs();
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    let permanent = false;
    try {
      const url = new URL(event.targetUrl);
      const pinned = await resolveSafeTarget(url, this.policy);
      statusCode = await this.post(url, pinned, signedHeaders(account.webhookSecret, event.id, event.payload, new Date(startedAt)), event.payload);
      if (statusCode < 200 || statusCode >= 300) error = `HTTP ${statusCode}`;
    } catch (err) {
      permanent = err instanceof UnsafeTargetError;
      const code = (err as { code?: unknown }).code;
      // DOMExceptions (a timeout) carry a legacy numeric code; their name says more.
      error = permanent ? `refused: ${(err as Error).message}` : `${typeof code === 'string' ? code : (err as Error).name}: ${(err as Error).message}`;
    }
    const latencyMs = Math.round(performance.now() - started);
    await this.attempts.insert({ eventId, attempt, attemptedAt: startedAt, statusCode, latencyMs, error });
    const delays = this.config.webhookRetryDelaysMs;
    if (!error) {
      await this.events.update(
        { id: eventId },
        { status: 'delivered', attempts: attempt, deliveredAt: this.clock.nowSeconds(), nextAttemptAt: null, lastError: null },
      );
      this.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
      this.logger.log({ eventId, batchId: event.batchId, type: event.type, attempt, latencyMs }, 'Webhook delivered');
    } else if (permanent || attempt > delays.length) {
      await this.events.update({ id: eventId }, { status: 'failed', attempts: attempt, nextAttemptAt: null, lastError: error });
      this.metrics.webhookDeliveries.inc({ outcome: 'failed' });
      this.logger.warn(
        { eventId, batchId: event.batchId, accountId: event.accountId, attempts: attempt, error },
        'Webhook endpoint keeps failing; giving up on this event',
      );
    } else {
      const delay = delays[attempt - 1];
      this.metrics.webhookDeliveries.inc({ outcome: 'retrying' });
      await this.events.update({ id: eventId }, { attempts: attempt, nextAttemptAt: this.clock.nowMs() + delay, lastError: error });
      await this.outbox.enqueue(eventId, attempt, delay);
    }
  }

  /** POSTs to the checked address only (the connection is pinned to it), following no redirects. */
  private async post(url: URL, pinned: { address: string; family: 4 | 6 }, headers: Record<string, string>, body: string): Promise<number> {
    const agent = new Agent({
      connect: {
        lookup: (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
          options?.all ? callback(null, [pinned]) : callback(null, pinned.address, pinned.family),
      } as never,
    });
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'batch-gateway-webhooks/1' },
        body,
        dispatcher: agent,
        signal: AbortSignal.timeout(this.config.webhookTimeoutMs),
      });
      await res.body.dump();
      return res.statusCode;
    } finally {
      await agent.close();
    }
  }
}
