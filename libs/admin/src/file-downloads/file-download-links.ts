import { AdminTokenService } from '@app/accounts';
import { ApiError, Clock } from '@app/core';
import { FilesService } from '@app/files';
import { Injectable, StreamableFile } from '@nestjs/common';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { CONSOLE_PATH } from '../console/console.module';
import type { FileDownload } from '../graphql/models';

/** How long a download link works: long enough to click, short enough that a copied link soon stops working. */
export const DOWNLOAD_LINK_TTL_SECONDS = 300;

const KEY_PURPOSE = 'batch-gateway:console-file-download:v1';

/**
 * Short-lived signed links to any account's stored file, for the console: the browser downloads with
 * a plain GET (a link, no Authorization header, no tenant key), and the admin token never goes in a
 * URL. The signature is an HMAC-SHA256 of the file id and expiry, keyed from the admin token.
 */
@Injectable()
export class FileDownloadLinks {
  constructor(
    private readonly adminToken: AdminTokenService,
    private readonly files: FilesService,
    private readonly clock: Clock,
  ) {}

  /** A link to the file's content (a path on this gateway), if the file exists and has not expired. */
  async issue(fileId: string): Promise<FileDownload> {
    const file = await this.files.get(null, fileId, 'fileId');
    const expiresAt = this.clock.nowSeconds() + DOWNLOAD_LINK_TTL_SECONDS;
    const signature = await this.sign(file.id, expiresAt);
    const url = `${CONSOLE_PATH}/files/${encodeURIComponent(file.id)}/content?expires=${expiresAt}&signature=${signature}`;
    return { url, expiresAt, filename: file.filename, bytes: file.bytes };
  }

  /** The file's bytes, streamed, when the link is the one issued for this file and has not expired. */
  async open(fileId: string, expires: unknown, signature: unknown): Promise<StreamableFile> {
    const at = typeof expires === 'string' && /^\d{1,12}$/.test(expires) ? Number(expires) : null;
    const given = typeof signature === 'string' ? Buffer.from(signature) : Buffer.alloc(0);
    const expected = at === null ? null : Buffer.from(await this.sign(fileId, at));
    if (expected === null || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ApiError('invalid_download_link', 'This download link is not valid: open the file again from the console', 'signature');
    }
    if (at! <= this.clock.nowSeconds()) {
      throw new ApiError('invalid_download_link', 'This download link has expired: open the file again from the console', 'expires');
    }
    return this.files.content(null, fileId);
  }

  private async sign(fileId: string, expiresAt: number): Promise<string> {
    return createHmac('sha256', await this.adminToken.derivedKey(KEY_PURPOSE))
      .update(`${fileId}\n${expiresAt}`)
      .digest('base64url');
  }
}
