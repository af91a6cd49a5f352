import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { JsonlScanner } from '../validation/jsonl-scanner';
import { LocalDiskStorage } from './local-disk.storage';

describe(LocalDiskStorage.name, () => {
  it('stores an upload and its complete line index every time, as the upload engine writes them', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bg-storage-'));
    const sut = new LocalDiskStorage(root);
    const lines = Array.from({ length: 20_000 }, (_, i) =>
      JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [] } }),
    );
    const text = lines.join('\n') + '\n';
    try {
      for (let run = 0; run < 10; run++) {
        const scanner = new JsonlScanner({ maxLines: 50_000, maxLineBytes: 1_000_000 });
        const [, bytes] = await Promise.all([
          pipeline(Readable.from([Buffer.from(text)]), scanner),
          sut.write(`f${run}.jsonl`, scanner),
          sut.write(`f${run}.index`, scanner.index),
        ]);
        expect(bytes).toBe(Buffer.byteLength(text));
        expect(
          readFileSync(join(root, `f${run}.index`), 'utf8')
            .trim()
            .split('\n'),
        ).toHaveLength(20_000);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
