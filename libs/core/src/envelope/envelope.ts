import { ApiError } from '../errors/api-error';

/**
 * Which envelope a path is served in: `/api/v1/...` the DashScope-style one, `/v1/...` OpenAI's; other
 * paths (health, metrics, the OpenAPI document) are not part of the envelope contract.
 */
export type Envelope = 'openai' | 'dashscope' | 'none';

export function envelopeFor(path: string): Envelope {
  if (path === '/api/v1' || path.startsWith('/api/v1/')) return 'dashscope';
  if (path === '/v1' || path.startsWith('/v1/')) return 'openai';
  return 'none';
}

export function successBody(envelope: Envelope, data: unknown): unknown {
  return envelope === 'dashscope' ? { success: true, code: '200', message: 'successful', data } : data;
}

export function errorBody(envelope: Envelope, error: ApiError): unknown {
  return envelope === 'dashscope'
    ? { success: false, code: error.code, message: error.message, data: null }
    : { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}
