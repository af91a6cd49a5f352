import { Field, Float, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { MoneyModel } from './cost';
import { countedByPage } from '../query-limits';

@ObjectType()
export class KeyValue {
  @Field() key: string;
  @Field() value: string;
}

@ObjectType()
export class RequestCounts {
  @Field(() => Int) total: number;
  @Field(() => Int) completed: number;
  @Field(() => Int) failed: number;
}

@ObjectType()
export class Usage {
  @Field(() => Float) inputTokens: number;
  @Field(() => Float) outputTokens: number;
  @Field(() => Float) totalTokens: number;
  @Field(() => Float, { description: 'Of the input tokens, those the provider served from its cache' }) cachedTokens: number;
  @Field(() => Float, { description: 'Of the output tokens, those spent reasoning' }) reasoningTokens: number;
}

@ObjectType()
export class BatchErrorItem {
  @Field() code: string;
  @Field() message: string;
  @Field(() => String, { nullable: true }) param: string | null;
  @Field(() => Int, { nullable: true }) line: number | null;
}

@ObjectType('Provider')
export class ProviderModel {
  @Field(() => ID) id: string;
  @Field() kind: string;
  @Field() baseUrl: string;
  @Field(() => String, { nullable: true, description: 'Name of the environment variable holding the key (never the key)' })
  apiKeyEnv: string | null;
  @Field(() => Int) maxConcurrency: number;
  @Field(() => Int, { nullable: true }) rateLimitPerMinute: number | null;
  @Field(() => Int, { nullable: true }) timeoutMs: number | null;
  @Field({ description: "Batches routed here run on the provider's own Files + Batches API" }) batchApi: boolean;
  @Field(() => Int, { description: 'Time between status polls of one provider batch' }) batchPollIntervalMs: number;
  @Field(() => Int, { description: 'Most lines in one provider batch (a larger batch is split)' }) maxBatchLines: number;
  @Field(() => Int, { description: 'Most bytes in one provider batch input file' }) maxBatchBytes: number;
}

@ObjectType({ description: "One part of a batch run on its provider's Batch API: a contiguous range of lines submitted as one provider batch" })
export class ProviderBatchPart {
  @Field(() => Int) part: number;
  @Field(() => Int) firstLine: number;
  @Field(() => Int) lastLine: number;
  @Field({
    description:
      'pending (not yet submitted), submitted, collected, failed (refused or failed by the provider), skipped (the batch halted first: cancelled or expired)',
  })
  state: string;
  @Field(() => String, { nullable: true }) providerBatchId: string | null;
  @Field(() => String, { nullable: true }) providerFileId: string | null;
  @Field(() => String, { nullable: true, description: "The provider batch's status at the last poll" }) providerStatus: string | null;
  @Field(() => Int, { description: 'Lines in the provider batch, as the provider counts them' }) total: number;
  @Field(() => Int, { description: 'Lines the provider reports completed and not yet collected' }) completed: number;
  @Field(() => Int, { description: 'Lines the provider reports failed and not yet collected' }) failed: number;
  @Field(() => Int, { nullable: true }) lastPolledAt: number | null;
  @Field(() => Int, { description: 'Provider calls that failed in a row (the next try backs off)' }) failures: number;
  @Field(() => String, { nullable: true }) error: string | null;
}

@ObjectType('Sku')
export class SkuModel {
  @Field(() => ID) id: string;
  @Field() model: string;
  @Field() providerId: string;
  @Field() upstreamModel: string;
  @Field() batchCapable: boolean;
  @Field(() => [String], { description: 'The batch endpoints it serves' }) endpoints: string[];
  @Field() active: boolean;
  @Field(() => Int) priority: number;
  @Field(() => Int) weight: number;
  @Field(() => Float, { nullable: true }) inputPricePerMtok: number | null;
  @Field(() => Float, { nullable: true }) outputPricePerMtok: number | null;
  @Field(() => Float, { nullable: true, description: '0 to 1 off both prices when the provider runs the batch on its Batch API' })
  batchDiscount: number | null;
}

@ObjectType()
export class BatchRequestRow {
  @Field(() => Int) line: number;
  @Field() customId: string;
  @Field() status: string;
  @Field(() => Int) attempts: number;
  @Field(() => Int, { nullable: true }) upstreamStatus: number | null;
  @Field(() => Int, { nullable: true }) latencyMs: number | null;
  @Field(() => String, { nullable: true }) errorCode: string | null;
  @Field(() => String, { nullable: true }) errorMessage: string | null;
  @Field(() => Int, { nullable: true }) finishedAt: number | null;
}

@ObjectType({ description: 'One request line with its stored answer, read on demand (the rows of requests never carry it)' })
export class BatchRequestDetail extends BatchRequestRow {
  @Field(() => String, {
    nullable: true,
    description:
      "The upstream's answer body as stored (JSON text, written verbatim into the output file), at most its first 64 KiB; null when none was recorded",
  })
  responseBody: string | null;
  @Field(() => Int, { nullable: true, description: 'Size of the whole stored answer body in bytes' }) responseBytes: number | null;
  @Field({ description: 'True when responseBody is only the first 64 KiB of the answer (the whole is in the output file)' }) truncated: boolean;
}

@ObjectType()
export class BatchRequestPage {
  @Field(() => [BatchRequestRow], { complexity: countedByPage }) rows: BatchRequestRow[];
  @Field(() => Int, { nullable: true, description: 'Pass as afterLine for the next page' }) nextAfterLine: number | null;
}

@ObjectType()
export class WebhookAttempt {
  @Field(() => Int) attempt: number;
  @Field(() => Float, { description: 'Unix time in milliseconds (other times here are in seconds)' }) attemptedAt: number;
  @Field(() => Int, { nullable: true }) statusCode: number | null;
  @Field(() => Int) latencyMs: number;
  @Field(() => String, { nullable: true }) error: string | null;
}

@ObjectType('WebhookDelivery')
export class WebhookDeliveryModel {
  @Field(() => ID) eventId: string;
  @Field() type: string;
  @Field() targetUrl: string;
  @Field() status: string;
  @Field(() => Int) attempts: number;
  @Field(() => Int) createdAt: number;
  @Field(() => Int, { nullable: true }) deliveredAt: number | null;
  @Field(() => Float, { nullable: true, description: 'Unix time in milliseconds (other times here are in seconds)' }) nextAttemptAt: number | null;
  @Field(() => String, { nullable: true }) lastError: string | null;
  @Field(() => [WebhookAttempt]) history: WebhookAttempt[];
}

@ObjectType()
export class Batch {
  @Field(() => ID) id: string;
  @Field() status: string;
  @Field() accountId: string;
  @Field() model: string;
  @Field() endpoint: string;
  @Field() completionWindow: string;
  @Field() inputFileId: string;
  @Field(() => String, { nullable: true }) outputFileId: string | null;
  @Field(() => String, { nullable: true }) errorFileId: string | null;
  @Field(() => Int) createdAt: number;
  @Field(() => Int, { nullable: true }) inProgressAt: number | null;
  @Field(() => Int) expiresAt: number;
  @Field(() => Int, { nullable: true }) finalizingAt: number | null;
  @Field(() => Int, { nullable: true }) completedAt: number | null;
  @Field(() => Int, { nullable: true }) failedAt: number | null;
  @Field(() => Int, { nullable: true }) expiredAt: number | null;
  @Field(() => Int, { nullable: true }) cancellingAt: number | null;
  @Field(() => Int, { nullable: true }) cancelledAt: number | null;
  @Field(() => RequestCounts) requestCounts: RequestCounts;
  @Field(() => Float, { description: 'Share of lines finished, 0 to 1' }) progress: number;
  @Field(() => Usage) usage: Usage;
  @Field(() => MoneyModel, { nullable: true, description: 'What its finished lines cost at the prices locked at create; null when its SKU has no prices' })
  cost: MoneyModel | null;
  @Field(() => Float, {
    nullable: true,
    description: "Input price per million tokens locked at create (the SKU's, less its batch discount on a provider's Batch API)",
  })
  inputPricePerMtok: number | null;
  @Field(() => Float, { nullable: true, description: 'Output price per million tokens locked at create' })
  outputPricePerMtok: number | null;
  @Field(() => [KeyValue]) metadata: KeyValue[];
  @Field(() => [BatchErrorItem]) errors: BatchErrorItem[];
  @Field(() => String, { nullable: true }) callbackUrl: string | null;
  @Field() upstreamModel: string;
  @Field({ description: "realtime (one request per line) or provider_batch (the provider's Batch API)" }) execution: string;
  @Field(() => Float, { nullable: true, description: "Its input file's token estimate at create: what it counts against its account's enqueued-token quota" })
  inputTokensEstimate: number | null;
  skuId: string;
  providerId: string;
}

@ObjectType({ description: "How fast a batch's lines finish now, and its part of its provider's throughput" })
export class BatchThroughput {
  @Field(() => Int, { description: 'Lines of this batch finished in the last minute' }) linesLastMinute: number;
  @Field(() => Float, { description: "This batch's part of the lines its provider finished in the last minute, 0 to 1 (0 when none)" })
  providerShare: number;
}

@ObjectType()
export class BatchEdge {
  @Field() cursor: string;
  @Field(() => Batch) node: Batch;
}

@ObjectType()
export class PageInfo {
  @Field() hasNextPage: boolean;
  @Field(() => String, { nullable: true }) endCursor: string | null;
}

@ObjectType()
export class BatchConnection {
  @Field(() => [BatchEdge], { complexity: countedByPage }) edges: BatchEdge[];
  @Field(() => PageInfo) pageInfo: PageInfo;
  @Field(() => Int) totalCount: number;
}

@ObjectType()
export class ApiKey {
  @Field(() => ID) id: string;
  @Field() accountId: string;
  @Field({ description: 'The first characters of the key, to recognise it' }) prefix: string;
  @Field(() => Int) createdAt: number;
  @Field(() => Int, { nullable: true }) revokedAt: number | null;
}

@ObjectType()
export class CreatedApiKey extends ApiKey {
  @Field({ description: 'The whole key. Shown only in this answer; it is stored hashed.' }) secret: string;
}

@ObjectType('Account')
export class AccountModel {
  @Field(() => ID) id: string;
  @Field() name: string;
  @Field(() => String, { nullable: true }) webhookUrl: string | null;
  @Field({ description: 'Standard Webhooks signing secret (whsec_…)' }) webhookSecret: string;
  @Field(() => Int) createdAt: number;
  @Field(() => Int, { description: "Share of a busy provider against other accounts' (default 1): weights 3 and 1 split it 75/25" })
  weight: number;
}

@ObjectType('File', { description: "A stored file of any account: a batch's input, or its output or error file" })
export class FileModel {
  @Field(() => ID) id: string;
  @Field() filename: string;
  @Field() purpose: string;
  @Field() status: string;
  @Field(() => Float) bytes: number;
  @Field(() => Int, { description: 'Unix seconds' }) createdAt: number;
  @Field(() => Int, { nullable: true, description: 'Unix seconds; null when it does not expire' }) expiresAt: number | null;
  @Field(() => Float, {
    nullable: true,
    description: 'The input tokens of a purpose=batch file, counted just after its upload (null until then, and for output and error files)',
  })
  inputTokensEstimate: number | null;
}

@ObjectType({ description: 'A short-lived link to download a stored file' })
export class FileDownload {
  @Field({ description: 'Path on this gateway, with its expiry and signature: GET it (no Authorization header) to download the file' }) url: string;
  @Field(() => Int, { description: 'When the link stops working (unix seconds)' }) expiresAt: number;
  @Field() filename: string;
  @Field(() => Float) bytes: number;
}

@ObjectType()
export class StatusCount {
  @Field() status: string;
  @Field(() => Int) count: number;
}

@ObjectType()
export class ProviderStats {
  @Field(() => ID) providerId: string;
  @Field(() => Int, { description: 'Requests finished in the window' }) finished: number;
  @Field(() => Int) failed: number;
  @Field(() => Float, { description: 'failed / finished, 0 when nothing finished' }) errorRate: number;
  @Field(() => Int, { description: "Lines not yet finished in the provider's running (in_progress) batches" }) queuedLines: number;
  @Field(() => Int, { description: 'Requests in flight to the provider now, all worker processes (as of their last heartbeat, every 5 s)' })
  inFlight: number;
}

@ObjectType({ description: 'Jobs of one queue of the job queue (dispatch, finalize, webhook delivery…)' })
export class QueueDepth {
  @Field() queue: string;
  @Field(() => Int, { description: 'Waiting to run, delayed ones included' }) waiting: number;
  @Field(() => Int, { description: 'Running now' }) active: number;
}

@ObjectType({ description: 'Webhook deliveries across every account' })
export class WebhookStats {
  @Field(() => Int, { description: 'Events not yet delivered, waiting for their first attempt or a retry' }) pending: number;
  @Field(() => Int, { description: 'Of the pending events, those already attempted and failed (retried with backoff)' }) retrying: number;
  @Field(() => Int, { description: 'Events given up on: every retry failed, or the target was refused as unsafe' }) failed: number;
  @Field(() => Int, { description: 'Delivery attempts that failed in the window' }) failedAttempts: number;
}

@ObjectType()
export class Overview {
  @Field(() => [StatusCount]) batchesByStatus: StatusCount[];
  @Field(() => Int) windowMinutes: number;
  @Field(() => Int, { description: 'Requests finished in the window, all providers' }) requestsFinished: number;
  @Field(() => Float) requestsPerMinute: number;
  @Field(() => [ProviderStats], { description: 'Every provider with requests finished in the window, lines queued or requests in flight' })
  providers: ProviderStats[];
  @Field(() => [QueueDepth]) queues: QueueDepth[];
  @Field(() => WebhookStats) webhooks: WebhookStats;
}

/** The spans `throughputSeries` covers, each cut into equal buckets. */
export enum ThroughputRange {
  HOUR = 'HOUR',
  DAY = 'DAY',
}

export const THROUGHPUT_RANGES: Record<ThroughputRange, { bucketSeconds: number; buckets: number }> = {
  [ThroughputRange.HOUR]: { bucketSeconds: 60, buckets: 60 },
  [ThroughputRange.DAY]: { bucketSeconds: 900, buckets: 96 },
};

registerEnumType(ThroughputRange, {
  name: 'ThroughputRange',
  valuesMap: {
    HOUR: { description: 'The last hour in 60 one-minute buckets' },
    DAY: { description: 'The last day in 96 fifteen-minute buckets' },
  },
});

@ObjectType({ description: 'Requests a provider finished in one bucket' })
export class ThroughputBucket {
  @Field(() => Int, { description: 'Start of the bucket (unix seconds); it lasts bucketSeconds' }) start: number;
  @Field(() => Int, { description: 'Requests answered successfully' }) completed: number;
  @Field(() => Int, { description: 'Requests that ended with an error (an HTTP error answer, or none after every retry)' }) failed: number;
}

@ObjectType()
export class ProviderThroughput {
  @Field(() => ID) providerId: string;
  @Field(() => [ThroughputBucket], { description: 'Every bucket of the range, oldest first, empty ones included' }) buckets: ThroughputBucket[];
}

@ObjectType({
  description:
    'Requests finished per provider over time: lines per minute are (completed + failed) / (bucketSeconds / 60), the error rate failed / (completed + failed). Lines that were never sent (cancelled, expired) do not count.',
})
export class ThroughputSeries {
  @Field(() => ThroughputRange) range: ThroughputRange;
  @Field(() => Int) bucketSeconds: number;
  @Field(() => Int, { description: 'Start of the first bucket (unix seconds)' }) start: number;
  @Field(() => Int, { description: 'End of the last bucket (unix seconds); the last bucket is the current one, still filling' }) end: number;
  @Field(() => [ProviderThroughput], { description: 'Providers that finished requests in the range, by id' }) providers: ProviderThroughput[];
}
