import { APP_CONFIG, AppConfig } from '@app/core';
import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { SettingEntity } from './entities/setting.entity';
import { createHmac } from 'node:crypto';
import { hashSecret, newAdminToken, sameHash } from './secrets';

const ADMIN_TOKEN_HASH = 'admin_token_hash';

/** The operator's bearer for /graphql: ADMIN_TOKEN, else one generated at first start and kept (hashed) in the database. */
@Injectable()
export class AdminTokenService {
  private hash: string | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectRepository(SettingEntity) private readonly settings: Repository<SettingEntity>,
  ) {}

  /** Returns the token when it was generated now (so the caller can print it once), else null. */
  async ensure(): Promise<string | null> {
    if (this.config.adminToken) {
      this.hash = hashSecret(this.config.adminToken);
      return null;
    }
    const stored = await this.settings.findOneBy({ key: ADMIN_TOKEN_HASH });
    if (stored) {
      this.hash = stored.value;
      return null;
    }
    const token = newAdminToken();
    await this.settings
      .createQueryBuilder()
      .insert()
      .values({ key: ADMIN_TOKEN_HASH, value: hashSecret(token) })
      .orIgnore()
      .execute();
    const winner = await this.settings.findOneByOrFail({ key: ADMIN_TOKEN_HASH });
    this.hash = winner.value;
    return winner.value === hashSecret(token) ? token : null;
  }

  /**
   * A key for one `purpose` (signing the console's download links), derived from the admin token's hash,
   * which every process has whether the token was configured or generated: changing the token voids
   * whatever the key signed, and the key reveals nothing of the token.
   */
  async derivedKey(purpose: string): Promise<Buffer> {
    if (this.hash === null) await this.ensure();
    return createHmac('sha256', this.hash!).update(purpose).digest();
  }

  async verify(token: string): Promise<boolean> {
    if (this.hash === null) await this.ensure();
    return this.hash !== null && sameHash(this.hash, hashSecret(token));
  }
}
