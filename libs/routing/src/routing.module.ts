import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ProviderEntity } from './entities/provider.entity';
import { SkuEntity } from './entities/sku.entity';
import { RoutingSeeder } from './routing-seeder.service';
import { RoutingService } from './routing.service';

@Module({
  imports: [TypeOrmModule.forFeature([ProviderEntity, SkuEntity])],
  providers: [RoutingService, RoutingSeeder],
  exports: [RoutingService],
})
export class RoutingModule {}
