import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random, URL-safe, unbiased base62 characters. */
export function randomToken(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** Every public id format in one place. */
export const ID_PREFIX = {
  file: 'file-',
  batch: 'batch_',
  batchRequest: 'batch_req_',
  account: 'acct_',
  apiKey: 'key_',
  webhookEvent: 'evt_',
} as const;

@Injectable()
export class IdGenerator {
  next(kind: keyof typeof ID_PREFIX): string {
    return ID_PREFIX[kind] + randomToken(24);
  }
}
