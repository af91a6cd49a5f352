import { AccountsService, ApiKeySummary } from '@app/accounts';
import { Clock } from '@app/core';
import { RoutingService, Provider, Sku } from '@app/routing';
import { Injectable } from '@nestjs/common';
import DataLoader from 'dataloader';
import type { ProviderBatchPart } from './graphql/models';
import { ProviderBatchQueries } from './provider-batch.queries';
import { RequestRowQueries, RequestRowView } from './request-rows.queries';
import { WebhookDelivery, WebhookDeliveryQueries } from './webhook-deliveries.queries';

export interface AdminLoaders {
  sku: DataLoader<string, Sku | null>;
  provider: DataLoader<string, Provider | null>;
  deliveries: DataLoader<string, WebhookDelivery[]>;
  throughput: DataLoader<string, { linesLastMinute: number; providerShare: number }>;
  providerBatches: DataLoader<string, ProviderBatchPart[]>;
  apiKeys: DataLoader<string, ApiKeySummary[]>;
  /** Keyed by `JSON.stringify([batchId, afterLine, limit, status])`: the batches asking for the same page share one query. */
  requestPages: DataLoader<string, RequestRowView[]>;
}

/** Per-request DataLoaders, so a page of batches costs one query per related kind, not one per batch. */
@Injectable()
export class AdminLoaderFactory {
  constructor(
    private readonly routing: RoutingService,
    private readonly accounts: AccountsService,
    private readonly webhookDeliveries: WebhookDeliveryQueries,
    private readonly requestRows: RequestRowQueries,
    private readonly providerBatches: ProviderBatchQueries,
    private readonly clock: Clock,
  ) {}

  create(): AdminLoaders {
    return {
      sku: new DataLoader(async (ids) => {
        const found = new Map((await this.routing.findSkusByIds(ids)).map((s) => [s.id, s]));
        return ids.map((id) => found.get(id) ?? null);
      }),
      provider: new DataLoader(async (ids) => {
        const found = new Map((await this.routing.findProvidersByIds(ids)).map((p) => [p.id, p]));
        return ids.map((id) => found.get(id) ?? null);
      }),
      // One read of the last minute's finished lines for every batch asked about in the request.
      throughput: new DataLoader(async (batchIds) => {
        const recent = await this.requestRows.recentByBatch(this.clock.nowSeconds() - 60);
        const perProvider = new Map<string, number>();
        for (const r of recent) perProvider.set(r.providerId, (perProvider.get(r.providerId) ?? 0) + r.finished);
        const byBatch = new Map(recent.map((r) => [r.batchId, r]));
        return batchIds.map((id) => {
          const r = byBatch.get(id);
          return r ? { linesLastMinute: r.finished, providerShare: r.finished / perProvider.get(r.providerId)! } : { linesLastMinute: 0, providerShare: 0 };
        });
      }),
      providerBatches: new DataLoader(async (batchIds) => {
        const parts = await this.providerBatches.partsOf(batchIds);
        return batchIds.map((id) => parts.get(id) ?? []);
      }),
      requestPages: new DataLoader(async (keys) => {
        const asked = keys.map((k) => JSON.parse(k) as [string, number, number, string | null]);
        const groups = new Map<string, string[]>();
        for (const [batchId, afterLine, limit, status] of asked) {
          const group = JSON.stringify([afterLine, limit, status]);
          groups.set(group, [...(groups.get(group) ?? []), batchId]);
        }
        const pages = new Map<string, RequestRowView[]>();
        for (const [group, batchIds] of groups) {
          const [afterLine, limit, status] = JSON.parse(group) as [number, number, string | null];
          for (const [batchId, rows] of await this.requestRows.pages(batchIds, afterLine, limit, status)) {
            pages.set(JSON.stringify([batchId, afterLine, limit, status]), rows);
          }
        }
        return keys.map((k) => pages.get(k) ?? []);
      }),
      // One query for the keys of every account on the page.
      apiKeys: new DataLoader(async (accountIds) => {
        const keys = await this.accounts.listApiKeys(accountIds);
        return accountIds.map((id) => keys.filter((k) => k.accountId === id));
      }),
      deliveries: new DataLoader(async (batchIds) => {
        const all = await this.webhookDeliveries.forBatches(batchIds);
        return batchIds.map((id) => all.filter((d) => d.batchId === id));
      }),
    };
  }
}
