import { AppConfig, IdGenerator } from '@app/core';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchInputWriter } from './batch-input-writer';
import type { FilesService } from './files.service';
import { LocalDiskStorage } from './storage/local-disk.storage';
import type { StoredUpload } from './upload-storage.engine';

const line = (i: number) =>
  JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } });

async function* lines(count: number, failAt = -1): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) {
    if (i === failAt) throw new Error('the original input could not be read');
    yield Buffer.from(line(i) + '\n');
  }
}

describe(BatchInputWriter.name, () => {
  let root: string;
  let uploads: StoredUpload[];
  let sut: BatchInputWriter;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'bg-input-writer-'));
    uploads = [];
    const storage = new LocalDiskStorage(root);
    const files = {
      upload: (_accountId: string, upload: StoredUpload) => {
        uploads.push(upload);
        return Promise.resolve({ id: upload.fileId });
      },
      discardUpload: (fileId: string) => Promise.all([storage.remove(`${fileId}.jsonl`), storage.remove(`${fileId}.index`)]).then(() => undefined),
    } as unknown as FilesService;
    const config = { limits: { maxLines: 50_000, maxLineBytes: 1_000_000 } } as AppConfig;
    sut = new BatchInputWriter(config, storage, new IdGenerator(), files);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('stores the lines with their line index and records them as an upload of the account', async () => {
    const file = await sut.write('acct_1', 'batch_x_rerun.jsonl', lines(3000));
    expect(uploads).toHaveLength(1);
    expect(uploads[0]).toMatchObject({ fileId: file.id, originalname: 'batch_x_rerun.jsonl', summary: { lineCount: 3000, models: ['m'], errors: [] } });
    const text = readFileSync(join(root, `${file.id}.jsonl`), 'utf8');
    expect(text).toBe(Array.from({ length: 3000 }, (_, i) => line(i) + '\n').join(''));
    expect(uploads[0].size).toBe(Buffer.byteLength(text));
    expect(
      readFileSync(join(root, `${file.id}.index`), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(3000);
  });

  it('leaves nothing behind when reading the lines fails midway', async () => {
    await expect(sut.write('acct_1', 'batch_x_rerun.jsonl', lines(3000, 1500))).rejects.toThrow('the original input could not be read');
    expect(uploads).toEqual([]);
    expect(readdirSync(root).filter((f) => existsSync(join(root, f)) && !f.startsWith('.'))).toEqual([]);
  });
});
