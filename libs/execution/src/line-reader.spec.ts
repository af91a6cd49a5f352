import { LineReader } from './line-reader';

describe(LineReader.name, () => {
  it('serves every line from a few range reads of neighbouring lines', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `{"line":${i}}`);
    const file = Buffer.from(lines.join('\n') + '\n');
    const rows = [];
    let offset = 0;
    for (const [i, text] of lines.entries()) {
      if (i % 3 !== 0) rows.push({ line: i + 1, customId: `c${i}`, byteOffset: offset, byteLength: Buffer.byteLength(text) });
      offset += Buffer.byteLength(text) + 1;
    }
    const reads: [number, number][] = [];
    const sut = new LineReader(rows, async (at, length) => {
      reads.push([at, length]);
      return file.subarray(at, at + length);
    });
    const got = await Promise.all(rows.map((_, i) => sut.line(i)));
    expect(got.map((b) => b.toString())).toEqual(rows.map((r) => lines[r.line - 1]));
    expect(reads).toHaveLength(1);
  });
});
