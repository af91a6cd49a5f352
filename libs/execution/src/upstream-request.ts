import { parseRequestLine } from '@app/files';

/**
 * What goes upstream for one input line, read by the same rule as the upload validator, with the
 * locked upstream model in place of the client's; `invalid` when the line cannot be run, so that it
 * ends as an error line (`invalid_request_line`) instead.
 */
export function upstreamRequest(line: Uint8Array, upstreamModel: string): { json: string } | { invalid: string } {
  const request = runnable(line, upstreamModel);
  return 'invalid' in request ? request : { json: JSON.stringify(request.body) };
}

/** One line of a provider batch's input file: the same body as `upstreamRequest`, its custom_id kept. */
export function providerBatchLine(line: Uint8Array, upstreamModel: string, endpoint: string): { json: string } | { invalid: string } {
  const request = runnable(line, upstreamModel);
  return 'invalid' in request ? request : { json: JSON.stringify({ custom_id: request.customId, method: 'POST', url: endpoint, body: request.body }) };
}

function runnable(line: Uint8Array, upstreamModel: string): { customId: string | null; body: Record<string, unknown> } | { invalid: string } {
  const parsed = parseRequestLine(line);
  if (!parsed.ok) return { invalid: `The input line ${parsed.reason}` };
  if (parsed.problems.length > 0) return { invalid: `The input line cannot be run: ${parsed.problems.join('; ')}` };
  return { customId: parsed.customId, body: { ...parsed.body, model: upstreamModel } };
}
