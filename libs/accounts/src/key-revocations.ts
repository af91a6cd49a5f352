import { APP_CONFIG, AppConfig } from '@app/core';
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';

/**
 * Tells every API process that a key was revoked, so that none keeps accepting it from its key cache:
 * a Redis channel (`<REDIS_PREFIX>:api-key-revoked`, carrying the key's hash) when REDIS_URL is set.
 * Without Redis there is one process, whose cache the revocation clears itself. A message lost while a
 * process is disconnected from Redis leaves the cache's own expiry (a few seconds) as the bound.
 */
@Injectable()
export class KeyRevocations implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(KeyRevocations.name);
  private readonly channel: string;
  private publisher: Redis | null = null;
  private subscriber: Redis | null = null;
  private readonly listeners: ((keyHash: string) => void)[] = [];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.channel = `${config.redisPrefix}:api-key-revoked`;
  }

  async onModuleInit(): Promise<void> {
    if (!this.config.redisUrl) return;
    this.publisher = this.connect();
    // Workers authenticate nobody: they only publish (an operator may revoke through any process).
    if (this.config.role === 'worker') return;
    this.subscriber = this.connect();
    this.subscriber.on('message', (channel: string, keyHash: string) => {
      if (channel === this.channel) for (const listener of this.listeners) listener(keyHash);
    });
    await this.subscriber.subscribe(this.channel);
  }

  onModuleDestroy(): void {
    this.publisher?.disconnect();
    this.subscriber?.disconnect();
  }

  private connect(): Redis {
    const client = new Redis(this.config.redisUrl!, { lazyConnect: true, maxRetriesPerRequest: 3 });
    client.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'API key revocation channel: Redis error'));
    return client;
  }

  /** `listener` runs with the hash of every key revoked in another process (and in this one). */
  onRevoked(listener: (keyHash: string) => void): void {
    this.listeners.push(listener);
  }

  /** Announces a revocation already committed to the database; a failure only leaves the cache expiry as the bound. */
  async announce(keyHash: string): Promise<void> {
    if (!this.publisher) return;
    try {
      await this.publisher.publish(this.channel, keyHash);
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        'Could not announce a revoked API key; other processes stop accepting it when their cache entry expires',
      );
    }
  }
}
