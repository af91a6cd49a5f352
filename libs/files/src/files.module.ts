import { APP_CONFIG, AppConfig } from '@app/core';
import { Module } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BatchInputWriter } from './batch-input-writer';
import { FileEntity } from './entities/file.entity';
import { FileSweeper } from './file-sweeper.service';
import { FilesController } from './files.controller';
import { FilesRepository } from './files.repository';
import { FilesService } from './files.service';
import { StorageModule } from './storage/storage.module';
import { TokenCounter } from './tokens/token-counter';
import { UploadStorageEngine } from './upload-storage.engine';

@Module({
  imports: [
    TypeOrmModule.forFeature([FileEntity]),
    StorageModule,
    MulterModule.registerAsync({
      imports: [StorageModule],
      inject: [APP_CONFIG, UploadStorageEngine],
      useFactory: (config: AppConfig, engine: UploadStorageEngine) => ({
        storage: engine,
        // Filenames arrive as UTF-8 from browsers, curl and the SDKs (busboy's default is latin1).
        defParamCharset: 'utf8',
        limits: { fileSize: config.limits.maxFileBytes, files: 1, fields: 8, fieldSize: 64 * 1024, parts: 16 },
      }),
    }),
  ],
  controllers: [FilesController],
  providers: [FilesService, FilesRepository, FileSweeper, BatchInputWriter, TokenCounter],
  exports: [FilesService, FileSweeper, BatchInputWriter],
})
export class FilesModule {}
