import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AccountUsageRepository } from './account-usage.repository';
import { AccountUsage } from './account-usage.service';
import { AccountQuotasRepository } from './account-quotas.repository';
import { AccountQuotasService } from './account-quotas.service';
import { AccountsService } from './accounts.service';
import { AdminTokenService } from './admin-token.service';
import { ApiKeyGuard } from './api-key.guard';
import { BootstrapService } from './bootstrap.service';
import { AccountEntity } from './entities/account.entity';
import { ApiKeyEntity } from './entities/api-key.entity';
import { SettingEntity } from './entities/setting.entity';
import { UsageDailyEntity } from './entities/usage-daily.entity';
import { KeyRevocations } from './key-revocations';

@Module({
  imports: [TypeOrmModule.forFeature([AccountEntity, ApiKeyEntity, SettingEntity, UsageDailyEntity])],
  providers: [
    AccountQuotasService,
    AccountQuotasRepository,
    AccountUsage,
    AccountUsageRepository,
    AccountsService,
    AdminTokenService,
    BootstrapService,
    KeyRevocations,
    { provide: APP_GUARD, useClass: ApiKeyGuard },
  ],
  exports: [AccountQuotasService, AccountUsage, AccountsService, AdminTokenService],
})
export class AccountsModule {}
