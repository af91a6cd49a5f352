import { ApiError } from '@app/core';
import { checkWebhookUrl } from './webhook-url';

const strict = { allowHttp: false, allowPrivate: false };

function refusal(raw: string, policy = strict): { code: string; param: string | null; message: string } | null {
  try {
    checkWebhookUrl(raw, 'url', policy);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    const { code, param, message } = err as ApiError;
    return { code, param, message };
  }
}

describe('checkWebhookUrl', () => {
  it.each([
    ['', 'url must be an absolute URL, not an empty string'],
    ['   ', 'url must be an absolute URL, not an empty string'],
    ['not a url', 'url must be an absolute URL'],
    ['/relative/hook', 'url must be an absolute URL'],
    ['https://user:pass@example.com/hook', 'url must not contain credentials'],
    ['http://example.com/hook', 'url is not allowed: the URL must use https'],
    ['ftp://example.com/hook', 'url is not allowed: the URL must use https'],
    ['https://[::127.0.0.1]/hook', 'url is not allowed: the address ::7f00:1 is not public'],
    ['https://localhost/hook', 'url is not allowed: the host localhost is not public'],
  ])('refuses %p with 400 invalid_request_error naming the field', (raw, message) => {
    expect(refusal(raw)).toEqual({ code: 'invalid_request_error', param: 'url', message });
  });

  it('returns the parsed URL of an acceptable one, and relaxes only what the policy allows', () => {
    expect(checkWebhookUrl('https://hooks.example.com/batch?x=1', 'url', strict).href).toBe('https://hooks.example.com/batch?x=1');
    expect(refusal('http://127.0.0.1:9/hook', { allowHttp: true, allowPrivate: true })).toBeNull();
    expect(refusal('http://127.0.0.1:9/hook', { allowHttp: true, allowPrivate: false })?.message).toMatch(/not public/);
    expect(refusal('https://u:p@127.0.0.1/hook', { allowHttp: true, allowPrivate: true })?.message).toBe('url must not contain credentials');
  });
});
