import { APP_CONFIG, AppConfig } from '@app/core';
import { Module } from '@nestjs/common';
import { join } from 'node:path';
import { UploadStorageEngine } from '../upload-storage.engine';
import { FileStorage } from './file-storage';
import { LocalDiskStorage } from './local-disk.storage';

/** The storage port's implementation and the multer engine that writes through it. */
@Module({
  providers: [
    { provide: FileStorage, inject: [APP_CONFIG], useFactory: (c: AppConfig) => new LocalDiskStorage(join(c.dataDir, 'files')) },
    UploadStorageEngine,
  ],
  exports: [FileStorage, UploadStorageEngine],
})
export class StorageModule {}
