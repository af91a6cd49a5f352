import { RoutingService, Provider, Sku } from '@app/routing';
import { WebhookDelivery, WebhooksService } from '@app/webhooks';
import { Injectable } from '@nestjs/common';
import DataLoader from 'dataloader';

export interface AdminLoaders {
  sku: DataLoader<string, Sku | null>;
  provider: DataLoader<string, Provider | null>;
  deliveries: DataLoader<string, WebhookDelivery[]>;
}

/** Per-request DataLoaders, so a page of batches costs one query per related kind, not one per batch. */
@Injectable()
export class AdminLoaderFactory {
  constructor(
    private readonly routing: RoutingService,
    private readonly webhooks: WebhooksService,
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
      deliveries: new DataLoader(async (batchIds) => {
        const all = await this.webhooks.deliveriesForBatches(batchIds);
        return batchIds.map((id) => all.filter((d) => d.batchId === id));
      }),
    };
  }
}
