import { Clock } from '@app/core';
import type { INestApplicationContext } from '@nestjs/common';

/**
 * Runs `work` with the application's injectable Clock `ms` behind real time, then lets it catch up: for
 * the application, `ms` pass at once. What `work` creates is `ms` old afterwards, so a batch's completion
 * window can pass without a test rewriting its row. The clock ends on real time, not ahead of it, because
 * other clocks take part: webhook receivers check signature timestamps, and Bull and the fake servers
 * keep real time.
 */
export async function backdated<T>(app: INestApplicationContext, ms: number, work: () => Promise<T>): Promise<T> {
  const behind = jest.spyOn(app.get(Clock), 'nowMs').mockImplementation(() => Date.now() - ms);
  try {
    return await work();
  } finally {
    behind.mockRestore();
  }
}
