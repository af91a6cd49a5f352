import { AppConfig, Metrics } from '@app/core';
import { Logger } from '@nestjs/common';
import { FileSweeper } from './file-sweeper.service';
import type { ExpirySweep, FilesService } from './files.service';

function setup(sweeps: (ExpirySweep | Error)[]) {
  const files = {
    deleteExpired: jest.fn(async () => {
      const next = sweeps.shift()!;
      if (next instanceof Error) throw next;
      return next;
    }),
    countStalled: jest.fn(async () => 0),
  } as unknown as FilesService;
  const metrics = new Metrics();
  const sut = new FileSweeper({ fileSweepIntervalMs: 60_000 } as AppConfig, files, metrics);
  const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  const expired = async () => (await metrics.filesExpired.get()).values.map((v) => [v.labels.purpose, v.value]);
  return { sut, log, warn, expired };
}

describe(FileSweeper.name, () => {
  afterEach(() => jest.restoreAllMocks());

  it('logs one line with the counts and counts each purpose when a sweep deleted files', async () => {
    const { sut, log, expired } = setup([{ deleted: { batch: 2, batch_output: 1 }, bytes: 300, inUse: 1 }]);
    await sut.sweep();
    expect(log).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledWith({ deleted: 3, byPurpose: { batch: 2, batch_output: 1 }, bytes: 300, keptInUse: 1 }, 'Expired files deleted');
    expect(await expired()).toEqual([
      ['batch', 2],
      ['batch_output', 1],
    ]);
  });

  it('says nothing when a sweep deleted nothing, and warns and carries on when one fails', async () => {
    const { sut, log, warn, expired } = setup([
      { deleted: {}, bytes: 0, inUse: 4 },
      new Error('database down'),
      { deleted: { batch: 1 }, bytes: 10, inUse: 0 },
    ]);
    await sut.sweep();
    expect(log).not.toHaveBeenCalled();
    await sut.sweep();
    expect(warn).toHaveBeenCalledWith({ err: 'database down' }, 'File sweep failed; will try again');
    await sut.sweep();
    expect(log).toHaveBeenCalledTimes(1);
    expect(await expired()).toEqual([['batch', 1]]);
  });
});
