import { ApiError } from '../errors/api-error';

/** Which envelope a path is served in: `/api/v1/...` is the DashScope-style one, everything else OpenAI's. */
export type Envelope = 'openai' | 'dashscope';

export function envelopeFor(path: string): Envelope {
  return path === '/api/v1' || path.startsWith('/api/v1/') ? 'dashscope' : 'openai';
}

export function successBody(envelope: Envelope, data: unknown): unknown {
  return envelope === 'dashscope' ? { success: true, code: '200', message: 'successful', data } : data;
}

export function errorBody(envelope: Envelope, error: ApiError): unknown {
  return envelope === 'dashscope'
    ? { success: false, code: error.code, message: error.message, data: null }
    : { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}
