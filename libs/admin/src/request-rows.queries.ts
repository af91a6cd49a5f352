import { dialectOf, named, namedList, queryRows, SqlDialect } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** A request row as the admin API lists it: never its stored response body (that is in the output file). */
export interface RequestRowView {
  batchId: string;
  line: number;
  customId: string;
  status: string;
  attempts: number;
  statusCode: number | null;
  latencyMs: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  finishedAt: number | null;
}

/** One request row with its stored answer (the first bytes of it), for `Batch.request(line:)`. */
export interface RequestRowDetail extends RequestRowView {
  responseBody: string | null;
  /** Bytes of the whole stored body (UTF-8), null when none. */
  responseBytes: number | null;
  truncated: boolean;
}

/** The admin API's reads of request rows (the execution engine's own are RequestRowsService's). */
@Injectable()
export class RequestRowQueries {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  /**
   * A page of rows after `afterLine`, in line order, for each of several batches at once (one query
   * for a page of batches: ROW_NUMBER per batch).
   */
  async pages(batchIds: readonly string[], afterLine: number, limit: number, status: string | null): Promise<Map<string, RequestRowView[]>> {
    const ids = namedList('b', batchIds);
    const rows = await queryRows<Record<string, unknown>>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT * FROM (
           SELECT batch_id, line, custom_id, status, attempts, status_code, latency_ms, error_code, error_message, finished_at,
                  ROW_NUMBER() OVER (PARTITION BY batch_id ORDER BY line) AS n
           FROM batch_requests
           WHERE batch_id IN (${ids.sql}) AND line > :afterLine
             ${status === null ? '' : 'AND status = :status'}
         ) page WHERE n <= :limit ORDER BY batch_id, line`,
        { ...ids.values, afterLine, limit, status },
      ),
    );
    const pages = new Map<string, RequestRowView[]>(batchIds.map((id) => [id, []]));
    for (const r of rows) {
      pages.get(String(r.batch_id))?.push(toView(r));
    }
    return pages;
  }

  /**
   * One row with its stored answer, read on demand: at most `maxBytes` of the body (cut on a character
   * boundary; the database returns no more than `maxBytes` characters of it), with the whole body's size.
   */
  async one(batchId: string, line: number, maxBytes: number): Promise<RequestRowDetail | null> {
    const size = this.dialect === 'postgres' ? 'OCTET_LENGTH(response_body)' : 'LENGTH(CAST(response_body AS BLOB))';
    const [r] = await queryRows<Record<string, unknown>>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT batch_id, line, custom_id, status, attempts, status_code, latency_ms, error_code, error_message, finished_at,
                SUBSTR(response_body, 1, CAST(:chars AS INTEGER)) AS body_head, ${size} AS body_bytes
         FROM batch_requests WHERE batch_id = :batchId AND line = :line`,
        { batchId, line, chars: maxBytes },
      ),
    );
    if (!r) return null;
    const bytes = r.body_bytes == null ? null : Number(r.body_bytes);
    let body = (r.body_head as string | null) ?? null;
    if (body !== null && Buffer.byteLength(body) > maxBytes) {
      const buf = Buffer.from(body);
      let end = maxBytes;
      while (end > 0 && (buf[end] & 0xc0) === 0x80) end -= 1; // not inside a UTF-8 sequence
      body = buf.subarray(0, end).toString('utf8');
    }
    return {
      ...toView(r),
      responseBody: body,
      responseBytes: bytes,
      truncated: body !== null && bytes !== null && Buffer.byteLength(body) < bytes,
    };
  }

  /** Requests answered or given up on since `since` (unix seconds), per batch, with its provider (lines never sent, such as cancelled ones, do not count). */
  async recentByBatch(since: number): Promise<{ batchId: string; providerId: string; finished: number }[]> {
    const rows = await queryRows<{ batch_id: string; provider_id: string; finished: string | number }>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT r.batch_id, b.provider_id, COUNT(*) AS finished FROM batch_requests r JOIN batches b ON b.id = r.batch_id
         WHERE r.finished_at >= :since AND r.attempts > 0 GROUP BY r.batch_id, b.provider_id`,
        { since },
      ),
    );
    return rows.map((r) => ({ batchId: r.batch_id, providerId: r.provider_id, finished: Number(r.finished) }));
  }

  /** Requests the providers answered or gave up on since `since` (unix seconds), per provider: how many, and how many failed. Lines never sent (cancelled, expired, invalid) are not the provider's and do not count, as in `finishedPerBucket`. */
  async recentByProvider(since: number): Promise<{ providerId: string; finished: number; failed: number }[]> {
    const rows = await queryRows<{ provider_id: string; finished: string | number; failed: string | number }>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT b.provider_id, COUNT(*) AS finished, SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) AS failed
         FROM batch_requests r JOIN batches b ON b.id = r.batch_id WHERE r.finished_at >= :since AND r.attempts > 0 GROUP BY b.provider_id`,
        { since },
      ),
    );
    return rows.map((r) => ({ providerId: r.provider_id, finished: Number(r.finished), failed: Number(r.failed) }));
  }

  /**
   * Requests the providers answered or gave up on in [since, until) (unix seconds), per provider and
   * bucket of `bucketSeconds` (buckets start at multiples of it): how many completed, how many failed.
   * Lines never sent (cancelled, expired, invalid) are not the provider's and do not count. Only buckets
   * with a finished request are returned.
   */
  async finishedPerBucket(
    since: number,
    until: number,
    bucketSeconds: number,
  ): Promise<{ providerId: string; start: number; completed: number; failed: number }[]> {
    const rows = await queryRows<{ provider_id: string; bucket: string | number; completed: string | number; failed: string | number }>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        // CAST: better-sqlite3 binds a JS number as REAL, and SQLite would then divide without truncating.
        `SELECT b.provider_id, (r.finished_at / CAST(:size AS INTEGER)) * CAST(:size AS INTEGER) AS bucket,
                SUM(CASE WHEN r.status = 'completed' THEN 1 ELSE 0 END) AS completed,
                SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) AS failed
         FROM batch_requests r JOIN batches b ON b.id = r.batch_id
         WHERE r.finished_at >= :since AND r.finished_at < :until AND r.attempts > 0
         GROUP BY b.provider_id, bucket`,
        { since, until, size: bucketSeconds },
      ),
    );
    return rows.map((r) => ({ providerId: r.provider_id, start: Number(r.bucket), completed: Number(r.completed), failed: Number(r.failed) }));
  }
}

/** A request row as the admin API's queries select it (without its answer). */
function toView(r: Record<string, unknown>): RequestRowView {
  return {
    batchId: String(r.batch_id),
    line: Number(r.line),
    customId: String(r.custom_id),
    status: String(r.status),
    attempts: Number(r.attempts),
    statusCode: r.status_code == null ? null : Number(r.status_code),
    latencyMs: r.latency_ms == null ? null : Number(r.latency_ms),
    errorCode: (r.error_code as string | null) ?? null,
    errorMessage: (r.error_message as string | null) ?? null,
    finishedAt: r.finished_at == null ? null : Number(r.finished_at),
  };
}
