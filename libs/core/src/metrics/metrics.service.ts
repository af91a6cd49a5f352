import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withTimeout } from '../util/with-timeout';

type Collector = () => Promise<void>;

/** Every Prometheus metric of the gateway, defined in one place (prom-client). */
@Injectable()
export class Metrics {
  readonly registry = new Registry();
  private readonly collectors: Collector[] = [];

  readonly httpRequests = new Counter({
    name: 'batch_gateway_http_requests_total',
    help: 'HTTP requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly upstreamRequests = new Counter({
    name: 'batch_gateway_upstream_requests_total',
    help: 'Request lines by provider and outcome: dispatched (sent, counting retries), succeeded, failed, retried',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly upstreamLatency = new Histogram({
    name: 'batch_gateway_upstream_latency_seconds',
    help: 'Latency of one upstream attempt by provider',
    labelNames: ['provider'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  readonly upstreamInFlight = new Gauge({
    name: 'batch_gateway_upstream_in_flight',
    help: 'Requests in flight to each provider from this process (at most its share of max_concurrency)',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  readonly queuedLines = new Gauge({
    name: 'batch_gateway_queued_lines',
    help: 'Lines not yet finished in the running batches of each provider (all processes)',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  readonly providerBatchSubmissions = new Counter({
    name: 'batch_gateway_provider_batch_submissions_total',
    help: "Parts of batches submitted to providers' Batch APIs by outcome: created, adopted (found after a restart), refused",
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly providerBatchPolls = new Counter({
    name: 'batch_gateway_provider_batch_polls_total',
    help: 'Status polls of provider batches by outcome: ok, failed (retried later)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly providerBatchOutcomes = new Counter({
    name: 'batch_gateway_provider_batch_outcomes_total',
    help: 'Provider batches collected, by the status they ended with at the provider (completed, failed, expired, cancelled)',
    labelNames: ['provider', 'status'] as const,
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: 'batch_gateway_tokens_total',
    help: 'Tokens the upstreams reported for finished lines, by account, public model, provider and kind (prompt, completion)',
    labelNames: ['account', 'model', 'provider', 'kind'] as const,
    registers: [this.registry],
  });

  readonly cost = new Counter({
    name: 'batch_gateway_cost_total',
    help: 'Cost of finished lines at the prices locked on their batches, in units of the currency, by account, public model and provider',
    labelNames: ['account', 'model', 'provider', 'currency'] as const,
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'batch_gateway_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered, retrying, failed',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly filesExpired = new Counter({
    name: 'batch_gateway_files_expired_total',
    help: 'Files deleted by the retention sweeper after their expires_at (stored bytes, line index and row), by purpose',
    labelNames: ['purpose'] as const,
    registers: [this.registry],
  });

  readonly batchesByStatus = new Gauge({
    name: 'batch_gateway_batches',
    help: 'Batches by status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({
    name: 'batch_gateway_queue_jobs',
    help: 'Queue jobs by queue and state (waiting includes delayed)',
    labelNames: ['queue', 'state'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'batch_gateway_' });
  }

  /** Registers a refresh that runs before each scrape (gauges read from the database or the queue). */
  onScrape(collector: Collector): void {
    this.collectors.push(collector);
  }

  async scrape(): Promise<string> {
    // A gauge whose source hangs (Redis down) keeps its last value; the scrape still answers.
    await Promise.all(this.collectors.map((c) => withTimeout(c(), 2000, 'metrics collector').catch(() => undefined)));
    return this.registry.metrics();
  }
}
