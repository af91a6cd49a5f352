import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { randomToken } from '@app/core';

/** API keys and admin tokens are high-entropy, so a plain SHA-256 is the right hash (no salt or KDF needed). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

export function newApiKey(): string {
  return `sk-${randomToken(40)}`;
}

export function newAdminToken(): string {
  return `adm-${randomToken(40)}`;
}

/** Standard Webhooks secrets: `whsec_` + base64 of random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function keyPrefix(key: string): string {
  return key.slice(0, 10);
}
