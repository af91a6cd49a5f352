import { createReadStream, createWriteStream } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomToken } from '@app/core';
import { FileStorage } from './file-storage';

/** Files under `<DATA_DIR>/files`; writes go to a temporary name and are renamed into place when complete. */
export class LocalDiskStorage extends FileStorage {
  constructor(private readonly root: string) {
    super();
    mkdirSync(root, { recursive: true });
  }

  async write(key: string, source: Readable): Promise<number> {
    const target = this.path(key);
    const temp = `${target}.${randomToken(8)}.part`;
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    const out = createWriteStream(temp);
    try {
      await pipeline(source, counter, out);
      await rename(temp, target);
      return bytes;
    } catch (err) {
      // The file may still be opening; remove it only once the stream has let go of it.
      if (!out.closed) await once(out, 'close').catch(() => undefined);
      await rm(temp, { force: true });
      throw err;
    }
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.path(key), range ? { start: range.start, end: range.end } : undefined);
  }

  async readAt(key: string, offset: number, length: number): Promise<Buffer> {
    const handle = await open(this.path(key), 'r');
    try {
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch {
      return false;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async checkWritable(): Promise<void> {
    const probe = join(this.root, `.probe-${randomToken(8)}`);
    await writeFile(probe, 'ok');
    await rm(probe, { force: true });
  }

  private path(key: string): string {
    if (!/^[\w.-]+$/.test(key)) throw new Error(`Invalid storage key: ${key}`);
    return join(this.root, key);
  }
}
