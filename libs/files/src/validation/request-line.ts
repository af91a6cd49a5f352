import { BATCH_ENDPOINTS, BatchEndpoint, isBatchEndpoint, REQUIRED_BODY_FIELD } from '@app/core';
/** Longest `custom_id`, as OpenAI. */
export const MAX_CUSTOM_ID_LENGTH = 512;
/** Longest `body.model`: real model names are far shorter, and the name is stored, routed on and echoed. */
export const MAX_MODEL_LENGTH = 256;
/** Deepest nesting of objects and arrays in `body`: deeper bodies cannot be serialised safely (and no real request nests so deep). */
export const MAX_BODY_DEPTH = 64;

/** A line that is not a JSON object at all: the whole upload is refused (batch_invalid_jsonl). */
export interface MalformedLine {
  ok: false;
  /** Reads after "Line N ", e.g. "is not valid JSON; …". */
  reason: string;
}

/** A JSON object line: its request, and the problems of its fields (none for a line that can be run). */
export interface ParsedLine {
  ok: true;
  customId: string | null;
  model: string | null;
  /** The line's endpoint, when it is one a batch may run. */
  url: BatchEndpoint | null;
  body: Record<string, unknown> | null;
  problems: string[];
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The one rule for a request line, applied by the upload validator and again by the runner before a
 * line is sent, so that a line accepted at upload is read the same way at execution. `bytes` is the
 * line without its line break (a trailing CR is dropped). A UTF-8 byte-order mark at the start of the
 * line is ignored, as decoders of UTF-8 text do.
 */
export function parseRequestLine(bytes: Uint8Array): MalformedLine | ParsedLine {
  const content = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.subarray(0, bytes.length - 1) : bytes;
  let text: string;
  try {
    text = decoder.decode(content);
  } catch {
    return { ok: false, reason: 'is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'is not valid JSON; the file must be JSONL (one JSON object per line)' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'is not a JSON object; the file must be JSONL (one JSON object per line)' };
  }
  return checkRequest(value as Record<string, unknown>);
}

function checkRequest(request: Record<string, unknown>): ParsedLine {
  const problems: string[] = [];
  const { custom_id: customId, method, url, body } = request;
  let id: string | null = null;
  if (typeof customId !== 'string' || customId.length === 0) problems.push('custom_id must be a non-empty string');
  else if (customId.length > MAX_CUSTOM_ID_LENGTH) problems.push(`custom_id must be at most ${MAX_CUSTOM_ID_LENGTH} characters`);
  else if (customId.includes('\u0000')) problems.push('custom_id must not contain NUL characters');
  else id = customId;
  if (method !== 'POST') problems.push('method must be "POST"');
  const endpoint = isBatchEndpoint(url) ? url : null;
  if (!endpoint) problems.push(`url must be one of ${BATCH_ENDPOINTS.join(', ')}`);
  let model: string | null = null;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    problems.push('body must be a JSON object');
  } else {
    const fields = body as Record<string, unknown>;
    if (typeof fields.model !== 'string' || fields.model.length === 0) problems.push('body.model must be a non-empty string');
    else if (fields.model.length > MAX_MODEL_LENGTH) problems.push(`body.model must be at most ${MAX_MODEL_LENGTH} characters`);
    else if (fields.model.includes('\u0000')) problems.push('body.model must not contain NUL characters');
    else model = fields.model;
    if (fields.stream !== undefined && fields.stream !== false) problems.push('body.stream is not supported in a batch (each answer is stored whole)');
    if (nestedDeeperThan(fields, MAX_BODY_DEPTH)) problems.push(`body must not nest objects and arrays more than ${MAX_BODY_DEPTH} levels deep`);
    if (endpoint) {
      const required = REQUIRED_BODY_FIELD[endpoint];
      const value = fields[required];
      const present = required === 'messages' ? Array.isArray(value) && value.length > 0 : value !== undefined && value !== null && value !== '';
      if (!present) problems.push(`body.${required} is required for ${endpoint}${required === 'messages' ? ' (a non-empty array)' : ''}`);
    }
  }
  const ok = problems.length === 0;
  return {
    ok: true,
    customId: id,
    model,
    url: endpoint,
    body: ok ? (body as Record<string, unknown>) : null,
    problems,
  };
}

/** Whether objects and arrays nest below `limit` levels (iterative, so a hostile depth cannot overflow the stack). */
function nestedDeeperThan(root: object, limit: number): boolean {
  const stack: [object, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > limit) return true;
    const children: unknown[] = Array.isArray(node) ? (node as unknown[]) : Object.values(node);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
