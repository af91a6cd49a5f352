import { dialectOf, execute, managerOf, named, namedList, Placeholders, queryRows, SqlDialect, Transaction } from '@app/persistence';
import type { LineIndexEntry } from '@app/files';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BatchRequestEntity, RequestStatus } from './entities/batch-request.entity';
import type { UpstreamOutcome } from './upstream/upstream-client';

/** Rows per multi-row INSERT (5 parameters each, well under both databases' parameter limits). */
const INSERT_PAGE = 1000;

export interface PendingRow {
  line: number;
  byteOffset: number;
  byteLength: number;
}

export interface FinishedRow {
  line: number;
  outcome: UpstreamOutcome;
  /** What the line cost, in micro-units (set by RequestRowsService.finish from the batch's locked prices). */
  costMicros?: number;
}

/** What the output and error files need of a finished row. */
export interface ResultRow {
  line: number;
  customId: string;
  status: RequestStatus;
  statusCode: number | null;
  upstreamRequestId: string | null;
  responseBody: string | null;
  errorCode: string | null;
  errorMessage: string | null;
}

/**
 * The columns `finish` writes, in VALUES order, with their PostgreSQL types. The first names the row;
 * it is not called `line`, so that `RETURNING line` means the updated table's column on both
 * databases (SQLite's RETURNING takes no table alias).
 */
const FINISH_COLUMNS = [
  ['finished_line', 'integer'],
  ['status', 'varchar'],
  ['attempts', 'integer'],
  ['status_code', 'integer'],
  ['latency_ms', 'integer'],
  ['upstream_request_id', 'varchar'],
  ['response_body', 'text'],
  ['error_code', 'varchar'],
  ['error_message', 'text'],
  ['prompt_tokens', 'integer'],
  ['completion_tokens', 'integer'],
  ['cached_tokens', 'integer'],
  ['reasoning_tokens', 'integer'],
  ['cost_micros', 'bigint'],
] as const;
const FINISH_CASTS = FINISH_COLUMNS.map(([, cast]) => cast);

/**
 * The batch_requests table: rows created from the line index, finished once, read back in line order.
 * The per-line paths (create, finish, read for the files) are multi-row statements written by hand
 * (bulk-sql.ts); the rest uses the query builder.
 */
@Injectable()
export class RequestRowsRepository {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  /** Creates one pending row per index entry; safe to run again (existing rows are kept). */
  async createRows(batchId: string, entries: AsyncIterable<LineIndexEntry>): Promise<number> {
    let params: unknown[] = [];
    let count = 0;
    const flush = async () => {
      if (params.length === 0) return;
      const sql = new Placeholders(this.dialect);
      const values = Array.from({ length: params.length / 5 }, () => `(${sql.next()},${sql.next()},${sql.next()},${sql.next()},${sql.next()},'pending',0,0,0)`);
      await execute(
        this.dataSource.manager,
        `INSERT INTO batch_requests (batch_id, line, custom_id, byte_offset, byte_length, status, attempts, prompt_tokens, completion_tokens)
         VALUES ${values.join(',')} ON CONFLICT DO NOTHING`,
        params,
      );
      params = [];
    };
    for await (const [byteOffset, byteLength, customId] of entries) {
      count += 1;
      params.push(batchId, count, customId, byteOffset, byteLength);
      if (params.length >= INSERT_PAGE * 5) await flush();
    }
    await flush();
    return count;
  }

  /** Whether any row of the batch is still pending (stops at the first one it finds). */
  async hasPending(batchId: string): Promise<boolean> {
    const sql = new Placeholders(this.dialect);
    const rows = await queryRows(this.dataSource.manager, `SELECT 1 AS one FROM batch_requests WHERE batch_id = ${sql.next()} AND status = 'pending' LIMIT 1`, [
      batchId,
    ]);
    return rows.length > 0;
  }

  /**
   * Finishes the rows still pending among `finished`, with one UPDATE for all of them, in the caller's
   * transaction; returns the lines it finished. A row already finished (by a retry, or by cancel/expiry)
   * is left alone and not returned.
   */
  async finishIn(tx: Transaction, batchId: string, finished: FinishedRow[], now: number): Promise<number[]> {
    const sql = new Placeholders(this.dialect);
    const params: unknown[] = [];
    const values: string[] = [];
    for (const { line, outcome, costMicros } of finished) {
      values.push(sql.row(FINISH_CASTS));
      params.push(
        line,
        outcome.ok ? 'completed' : 'failed',
        outcome.attempts,
        outcome.statusCode,
        outcome.latencyMs,
        outcome.requestId,
        outcome.body,
        outcome.error?.code ?? null,
        outcome.error?.message ?? null,
        outcome.promptTokens,
        outcome.completionTokens,
        outcome.cachedTokens,
        outcome.reasoningTokens,
        costMicros ?? 0,
      );
    }
    const set = FINISH_COLUMNS.slice(1).map(([column]) => `${column} = v.${column}`);
    // On SQLite `+` keeps the planner on the primary key (one lookup per VALUES row) instead of the
    // status index, which would scan every pending row of the batch once per VALUES row.
    const pendingStatus = this.dialect === 'sqlite' ? '+r.status' : 'r.status';
    const statement = `WITH v(${FINISH_COLUMNS.map(([column]) => column).join(', ')}) AS (VALUES ${values.join(',')})
      UPDATE batch_requests AS r SET ${set.join(', ')}, lease_owner = NULL, finished_at = ${sql.next('integer')}
      FROM v WHERE r.batch_id = ${sql.next()} AND r.line = v.finished_line AND ${pendingStatus} = 'pending'
      RETURNING line`;
    params.push(now, batchId);
    const updated = await queryRows<{ line: number }>(managerOf(tx), statement, params);
    return updated.map(({ line }) => Number(line));
  }

  /** Ends the rows still pending (within `lines`, if given) as failed with `code`, in the caller's transaction; returns how many. */
  async failPendingIn(
    tx: Transaction,
    batchId: string,
    failure: { code: string; message: string; now: number },
    lines?: { first: number; last: number },
  ): Promise<number> {
    const update = managerOf(tx)
      .createQueryBuilder()
      .update(BatchRequestEntity)
      .set({ status: 'failed', errorCode: failure.code, errorMessage: failure.message, leaseOwner: null, finishedAt: failure.now })
      .where('batch_id = :batchId AND status = :pending', { batchId, pending: 'pending' });
    if (lines) update.andWhere('line BETWEEN :first AND :last', lines);
    return (await update.execute()).affected ?? 0;
  }

  /** The rows of lines `first`..`last` of a batch in line order, a page at a time: where each line is, and whether it is pending. */
  async *inRange(batchId: string, first: number, last: number, pageSize = 2000): AsyncGenerator<PendingRow & { customId: string; pending: boolean }> {
    let after = first - 1;
    for (;;) {
      const page = await queryRows<{ line: number; custom_id: string; status: RequestStatus; byte_offset: number | string; byte_length: number }>(
        this.dataSource.manager,
        ...named(
          this.dialect,
          `SELECT line, custom_id, status, byte_offset, byte_length FROM batch_requests
           WHERE batch_id = :batchId AND line > :after AND line <= :last ORDER BY line LIMIT :pageSize`,
          { batchId, after, last, pageSize },
        ),
      );
      for (const r of page) {
        yield {
          line: Number(r.line),
          customId: r.custom_id,
          pending: r.status === 'pending',
          byteOffset: Number(r.byte_offset),
          byteLength: Number(r.byte_length),
        };
      }
      if (page.length < pageSize) return;
      after = Number(page[page.length - 1].line);
    }
  }

  /** How many of a batch's failed rows ended with one of `codes`. */
  async countFailedWith(batchId: string, codes: readonly string[]): Promise<number> {
    const list = namedList('code', codes);
    const [row] = await queryRows<{ n: number | string }>(
      this.dataSource.manager,
      ...named(this.dialect, `SELECT COUNT(*) AS n FROM batch_requests WHERE batch_id = :batchId AND status = 'failed' AND error_code IN (${list.sql})`, {
        batchId,
        ...list.values,
      }),
    );
    return Number(row.n);
  }

  /** Where the lines of a batch's failed rows with one of `codes` are, in line order, a page at a time. */
  async *failedWith(batchId: string, codes: readonly string[], pageSize = 2000): AsyncGenerator<PendingRow[]> {
    const list = namedList('code', codes);
    let after = 0;
    for (;;) {
      const page = await queryRows<{ line: number; byte_offset: number | string; byte_length: number }>(
        this.dataSource.manager,
        ...named(
          this.dialect,
          `SELECT line, byte_offset, byte_length FROM batch_requests
           WHERE batch_id = :batchId AND status = 'failed' AND line > :after AND error_code IN (${list.sql}) ORDER BY line LIMIT :pageSize`,
          { batchId, after, pageSize, ...list.values },
        ),
      );
      if (page.length > 0) yield page.map((r) => ({ line: Number(r.line), byteOffset: Number(r.byte_offset), byteLength: Number(r.byte_length) }));
      if (page.length < pageSize) return;
      after = Number(page[page.length - 1].line);
    }
  }

  /** All rows of a batch in line order, a page at a time (keyset pagination, nothing held whole). */
  async *inLineOrder(batchId: string, pageSize = 2000): AsyncGenerator<ResultRow> {
    let after = 0;
    for (;;) {
      const sql = new Placeholders(this.dialect);
      const page = await queryRows<{
        line: number;
        custom_id: string;
        status: RequestStatus;
        status_code: number | null;
        upstream_request_id: string | null;
        response_body: string | null;
        error_code: string | null;
        error_message: string | null;
      }>(
        this.dataSource.manager,
        `SELECT line, custom_id, status, status_code, upstream_request_id, response_body, error_code, error_message
         FROM batch_requests WHERE batch_id = ${sql.next()} AND line > ${sql.next()} ORDER BY line LIMIT ${sql.next()}`,
        [batchId, after, pageSize],
      );
      for (const r of page) {
        yield {
          line: r.line,
          customId: r.custom_id,
          status: r.status,
          statusCode: r.status_code,
          upstreamRequestId: r.upstream_request_id,
          responseBody: r.response_body,
          errorCode: r.error_code,
          errorMessage: r.error_message,
        };
      }
      if (page.length < pageSize) return;
      after = page[page.length - 1].line;
    }
  }
}
