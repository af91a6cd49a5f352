import { AccountsService } from '@app/accounts';
import { BatchStateMachine, Transition, TransitionHook } from '@app/batches';
import { Clock, IdGenerator } from '@app/core';
import { managerOf, Transaction } from '@app/persistence';
import { JobQueue, JOBS } from '@app/queue';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThanOrEqual, Repository } from 'typeorm';
import { WebhookEventEntity } from './entities/webhook-event.entity';

const EVENT_TYPES: Partial<Record<Transition, string>> = {
  complete: 'batch.completed',
  fail: 'batch.failed',
  expire: 'batch.expired',
  cancel: 'batch.cancelled',
};

/** A job whose event is due this long ago and still pending was lost (a crash after commit); the relay re-queues it. */
const RELAY_GRACE_MS = 30_000;

/**
 * The webhook outbox: a terminal batch event is recorded in the status change's own transaction (to the
 * batch's callback_url, else the account's default webhook) and its delivery job queued after commit;
 * the relay and the boot resume queue again what a crash lost. Delivering is WebhookDeliverer's.
 */
@Injectable()
export class WebhookOutbox implements OnModuleInit {
  constructor(
    @InjectRepository(WebhookEventEntity) private readonly events: Repository<WebhookEventEntity>,
    private readonly accounts: AccountsService,
    private readonly states: BatchStateMachine,
    private readonly queue: JobQueue,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.states.onTransition((tx, change) => this.recordEvent(tx, change));
  }

  private async recordEvent(tx: Transaction, { batch, accountId, transition }: Parameters<TransitionHook>[1]): Promise<void | (() => Promise<void>)> {
    const type = EVENT_TYPES[transition];
    if (!type) return;
    const target = batch.callback_url ?? (await this.accounts.getAccount(accountId)).webhookUrl;
    if (!target) return;
    const id = this.ids.next('webhookEvent');
    const createdAt = this.clock.nowSeconds();
    const payload = JSON.stringify({ id, object: 'event', type, created_at: createdAt, data: batch });
    // The transition is guarded (it happens once), so this insert happens once per terminal state.
    await managerOf(tx).insert(WebhookEventEntity, {
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

  /** Queues an event's next delivery attempt (its job id names the attempt, so queuing it again is a no-op). */
  async enqueue(eventId: string, attemptsSoFar: number, delayMs: number): Promise<void> {
    await this.queue.add(JOBS.deliverWebhook, { eventId }, { jobId: `webhook:${eventId}:${attemptsSoFar}`, delayMs });
  }
}
