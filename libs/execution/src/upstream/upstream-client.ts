/** What one request line became after all its attempts. */
export interface UpstreamOutcome {
  ok: boolean;
  attempts: number;
  latencyMs: number;
  statusCode: number | null;
  requestId: string | null;
  /** The response body as JSON text (a JSON string literal when the upstream sent no JSON). */
  body: string | null;
  promptTokens: number;
  completionTokens: number;
  error: { code: string; message: string } | null;
}

/** One HTTP exchange with an upstream, before retry policy is applied. */
export interface UpstreamAttempt {
  statusCode: number;
  requestId: string | null;
  body: string;
  retryAfterMs: number | null;
}

/** A provider kind: sends one chat-completion request body and returns the raw exchange. */
export interface UpstreamClient {
  send(body: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamAttempt>;
  close(): Promise<void>;
}
