import { AccountsService } from '@app/accounts';
import { BatchesService, BatchStateMachine, Transition } from '@app/batches';
import { APP_CONFIG, AppConfig, Clock, IdGenerator, Metrics } from '@app/core';
import { JobQueue, JOBS } from '@app/queue';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Agent, request } from 'undici';
import { EntityManager, In, LessThanOrEqual, Repository } from 'typeorm';
import { WebhookAttemptEntity } from './entities/webhook-attempt.entity';
import { WebhookEventEntity } from './entities/webhook-event.entity';
import { resolveSafeTarget, TargetPolicy, UnsafeTargetError } from './ssrf-guard';
import { checkWebhookUrl } from './webhook-url';
import { signedHeaders } from './webhook-signer';

const EVENT_TYPES: Partial<Record<Transition, string>> = {
  complete: 'batch.completed',
  fail: 'batch.failed',
  expire: 'batch.expired',
  cancel: 'batch.cancelled',
};

/** A job whose event is due this long ago and still pending was lost (a crash after commit); the relay re-queues it. */
const RELAY_GRACE_MS = 30_000;

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

/**
 * Terminal batch events to the batch's callback_url, else the account's default webhook: recorded in
 * the status change's transaction (outbox), signed per Standard Webhooks, delivered through the queue
 * with a timeout and a retry schedule of about a day, every attempt stored, never retried forever.
 */
@Injectable()
export class WebhooksService implements OnModuleInit {
  private readonly logger = new Logger(WebhooksService.name);
  private readonly policy: TargetPolicy;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectRepository(WebhookEventEntity) private readonly events: Repository<WebhookEventEntity>,
    @InjectRepository(WebhookAttemptEntity) private readonly attempts: Repository<WebhookAttemptEntity>,
    private readonly accounts: AccountsService,
    private readonly batches: BatchesService,
    private readonly states: BatchStateMachine,
    private readonly queue: JobQueue,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
  ) {
    this.policy = { allowHttp: config.webhookAllowHttp, allowPrivate: config.webhookAllowPrivate };
  }

  onModuleInit(): void {
    this.states.onTransition((manager, change) => this.recordEvent(manager, change));
    this.batches.registerCallbackUrlCheck((raw) => void checkWebhookUrl(raw, 'callback_url', this.policy));
  }

  /** Validates and sets (or clears, with null) an account's default webhook URL: the same rule as a batch's callback_url. */
  async setAccountWebhook(accountId: string, rawUrl: string | null) {
    if (rawUrl !== null) checkWebhookUrl(rawUrl, 'url', this.policy);
    return this.accounts.setWebhookUrl(accountId, rawUrl);
  }

  private async recordEvent(
    manager: EntityManager,
    { batch, accountId, transition }: Parameters<Parameters<BatchStateMachine['onTransition']>[0]>[1],
  ): Promise<void | (() => Promise<void>)> {
    const type = EVENT_TYPES[transition];
    if (!type) return;
    const target = batch.callback_url ?? (await this.accounts.getAccount(accountId)).webhookUrl;
    if (!target) return;
    const id = this.ids.next('webhookEvent');
    const createdAt = this.clock.nowSeconds();
    const payload = JSON.stringify({ id, object: 'event', type, created_at: createdAt, data: batch });
    // The transition is guarded (it happens once), so this insert happens once per terminal state.
    await manager.insert(WebhookEventEntity, {
      id,
      accountId,
      batchId: batch.id,
      type,
      targetUrl: target,
      payload,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: this.clock.nowMs(),
      createdAt,
    });
    return () => this.enqueue(id, 0, 0);
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
      await this.events.update({ id: eventId }, { status: 'delivered', attempts: attempt, deliveredAt: this.clock.nowSeconds(), nextAttemptAt: null, lastError: null });
      this.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
      this.logger.log({ eventId, batchId: event.batchId, type: event.type, attempt, latencyMs }, 'Webhook delivered');
    } else if (permanent || attempt > delays.length) {
      await this.events.update({ id: eventId }, { status: 'failed', attempts: attempt, nextAttemptAt: null, lastError: error });
      this.metrics.webhookDeliveries.inc({ outcome: 'failed' });
      this.logger.warn({ eventId, batchId: event.batchId, accountId: event.accountId, attempts: attempt, error }, 'Webhook endpoint keeps failing; giving up on this event');
    } else {
      const delay = delays[attempt - 1];
      this.metrics.webhookDeliveries.inc({ outcome: 'retrying' });
      await this.events.update({ id: eventId }, { attempts: attempt, nextAttemptAt: this.clock.nowMs() + delay, lastError: error });
      await this.enqueue(eventId, attempt, delay);
    }
  }

  /** Re-queues pending events whose job was lost (a crash between commit and enqueue, or a lost in-process queue). */
  async relay(): Promise<number> {
    const overdue = await this.events.find({
      where: { status: 'pending', nextAttemptAt: LessThanOrEqual(this.clock.nowMs() - RELAY_GRACE_MS) },
      take: 500,
    });
    for (const event of overdue) await this.enqueue(event.id, event.attempts, 0);
    return overdue.length;
  }

  /** Pending events at boot: queued again (job ids make this a no-op where the job still exists). */
  async resumePending(): Promise<void> {
    const pending = await this.events.find({ where: { status: 'pending' }, select: { id: true, attempts: true, nextAttemptAt: true } });
    for (const e of pending) await this.enqueue(e.id, e.attempts, Math.max(0, (e.nextAttemptAt ?? 0) - this.clock.nowMs()));
  }

  async deliveriesForBatches(batchIds: readonly string[]): Promise<WebhookDelivery[]> {
    if (batchIds.length === 0) return [];
    const events = await this.events.find({ where: { batchId: In([...batchIds]) }, order: { createdAt: 'ASC' } });
    const history = events.length
      ? await this.attempts.find({ where: { eventId: In(events.map((e) => e.id)) }, order: { attempt: 'ASC' } })
      : [];
    return events.map((e) => ({
      eventId: e.id,
      batchId: e.batchId,
      type: e.type,
      targetUrl: e.targetUrl,
      status: e.status,
      attempts: e.attempts,
      createdAt: e.createdAt,
      deliveredAt: e.deliveredAt,
      nextAttemptAt: e.nextAttemptAt,
      lastError: e.lastError,
      history: history
        .filter((h) => h.eventId === e.id)
        .map((h) => ({ attempt: h.attempt, attemptedAt: h.attemptedAt, statusCode: h.statusCode, latencyMs: h.latencyMs, error: h.error })),
    }));
  }

  private async enqueue(eventId: string, attemptsSoFar: number, delayMs: number): Promise<void> {
    await this.queue.add(JOBS.deliverWebhook, { eventId }, { jobId: `webhook:${eventId}:${attemptsSoFar}`, delayMs });
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
