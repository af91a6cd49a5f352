import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { FinishedRow } from '../request-rows.service';
import { REQUEST_ERROR_CODES } from '../upstream/upstream-client';
import { LineOutcome, noAnswer, parsedAnswerOutcome, plainText } from '../upstream/outcome';

/** Results recorded per write: one transaction each. */
const RECORD_PAGE = 500;

interface ResultLine {
  custom_id?: unknown;
  response?: { status_code?: unknown; request_id?: unknown; body?: unknown } | null;
  error?: { code?: unknown; message?: unknown } | null;
}

/**
 * Reads a provider batch's output or error file as it streams in and records each line's result on
 * the line of ours with that custom_id (`lines`: custom_id → our pending line numbers, taken in order).
 * A line with an HTTP answer is read as a realtime answer would be (2xx completes it, any other status
 * fails it, the body kept); a line with only an error keeps the provider's code and message. Returns
 * how many result lines matched none of ours.
 */
export async function recordResultFile(
  content: Readable,
  lines: Map<string, number[]>,
  record: (finished: FinishedRow[]) => Promise<void>,
): Promise<{ matched: number; unmatched: number }> {
  let page: FinishedRow[] = [];
  let matched = 0;
  let unmatched = 0;
  for await (const text of createInterface({ input: content, crlfDelay: Infinity })) {
    if (!text.trim()) continue;
    let result: ResultLine;
    try {
      result = JSON.parse(text) as ResultLine;
    } catch {
      unmatched += 1;
      continue;
    }
    const queue = typeof result.custom_id === 'string' ? lines.get(result.custom_id) : undefined;
    const line = queue?.shift();
    if (line === undefined) {
      unmatched += 1;
      continue;
    }
    matched += 1;
    page.push({ line, outcome: { ...outcomeOf(result), attempts: 1, latencyMs: null } });
    if (page.length >= RECORD_PAGE) {
      await record(page);
      page = [];
    }
  }
  if (page.length > 0) await record(page);
  return { matched, unmatched };
}

function outcomeOf(result: ResultLine): LineOutcome {
  const response = result.response;
  if (response && typeof response.status_code === 'number') {
    const requestId = typeof response.request_id === 'string' ? plainText(response.request_id, 200) : null;
    return parsedAnswerOutcome(response.status_code, requestId, response.body);
  }
  const code = typeof result.error?.code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(result.error.code) ? result.error.code : REQUEST_ERROR_CODES.batchFailed;
  const message = typeof result.error?.message === 'string' ? plainText(result.error.message) : 'The provider reported this request as failed';
  return noAnswer(code, message);
}
