/** Builders for request files used across the suites. */
export interface RequestLine {
  custom_id: string;
  method: string;
  url: string;
  body: Record<string, unknown>;
}

export function requestLine(i: number, model = 'batch-test-model', extra: Record<string, unknown> = {}): RequestLine {
  return {
    custom_id: `req-${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content: `Say hello number ${i}` }], ...extra },
  };
}

export function jsonl(lines: unknown[], eol = '\n'): string {
  return lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join(eol) + eol;
}

export function requestFile(count: number, model = 'batch-test-model'): string {
  return jsonl(Array.from({ length: count }, (_, i) => requestLine(i, model)));
}
