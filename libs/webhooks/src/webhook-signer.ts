import { Webhook } from 'standardwebhooks';

/** Standard Webhooks headers for one attempt: the id stays the same across retries, the timestamp is the attempt's. */
export function signedHeaders(secret: string, eventId: string, payload: string, at: Date): Record<string, string> {
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(eventId, at, payload),
  };
}
