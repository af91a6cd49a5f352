import { AccountsService } from '@app/accounts';
import { BatchesService } from '@app/batches';
import { APP_CONFIG, AppConfig } from '@app/core';
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { TargetPolicy } from './ssrf-guard';
import { checkWebhookUrl } from './webhook-url';

/**
 * Where webhooks may go: the one rule for a webhook URL (checkWebhookUrl) applied to a batch's
 * callback_url (registered with batches) and to an account's default webhook. Recording events is
 * WebhookOutbox's, delivering them WebhookDeliverer's.
 */
@Injectable()
export class WebhooksService implements OnModuleInit {
  private readonly policy: TargetPolicy;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly accounts: AccountsService,
    private readonly batches: BatchesService,
  ) {
    this.policy = { allowHttp: config.webhookAllowHttp, allowPrivate: config.webhookAllowPrivate };
  }

  onModuleInit(): void {
    this.batches.registerCallbackUrlCheck((raw) => void checkWebhookUrl(raw, 'callback_url', this.policy));
  }

  /** Validates and sets (or clears, with null) an account's default webhook URL: the same rule as a batch's callback_url. */
  async setAccountWebhook(accountId: string, rawUrl: string | null) {
    if (rawUrl !== null) checkWebhookUrl(rawUrl, 'url', this.policy);
    return this.accounts.setWebhookUrl(accountId, rawUrl);
  }
}
