import { APP_CONFIG, AppConfig } from '@app/core';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AccountsService } from './accounts.service';
import { AdminTokenService } from './admin-token.service';

/**
 * First start on an empty database: creates the default account with BOOTSTRAP_API_KEY (or a generated key)
 * and makes sure an admin token exists. Generated secrets are printed once to stdout, never logged.
 */
@Injectable()
export class BootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger(BootstrapService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly accounts: AccountsService,
    private readonly adminToken: AdminTokenService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.role === 'worker') return;
    const generated: string[] = [];
    const token = await this.adminToken.ensure();
    if (token) generated.push(`  ADMIN_TOKEN=${token}`);
    if ((await this.accounts.countAccounts()) === 0) {
      const account = await this.accounts.createAccount('default');
      const key = await this.accounts.createApiKey(account.id, this.config.bootstrapApiKey);
      this.logger.log({ accountId: account.id, keyPrefix: key.prefix }, 'Created the default account');
      if (!this.config.bootstrapApiKey) generated.push(`  BOOTSTRAP_API_KEY=${key.secret}`);
    }
    if (generated.length > 0 && this.config.nodeEnv !== 'test') {
      process.stdout.write(`\nGenerated at first start (shown once; keep them safe):\n${generated.join('\n')}\n\n`);
    }
  }
}
