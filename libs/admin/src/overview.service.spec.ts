import { ThroughputRange } from './graphql/models';
import { OverviewService } from './overview.service';
import type { RequestRowQueries } from './request-rows.queries';

/** Request rows as (provider, finished_at, status), counted per bucket as the real query does. */
class Rows {
  rows: { providerId: string; at: number; failed: boolean }[] = [];
  reads: [number, number][] = [];

  async finishedPerBucket(since: number, until: number, size: number) {
    this.reads.push([since, until]);
    const buckets = new Map<string, { providerId: string; start: number; completed: number; failed: number }>();
    for (const r of this.rows.filter((r) => r.at >= since && r.at < until)) {
      const start = Math.floor(r.at / size) * size;
      const key = `${r.providerId}:${start}`;
      const b = buckets.get(key) ?? { providerId: r.providerId, start, completed: 0, failed: 0 };
      if (r.failed) b.failed += 1;
      else b.completed += 1;
      buckets.set(key, b);
    }
    return [...buckets.values()];
  }
}

describe(OverviewService.name, () => {
  let now: number;
  let rows: Rows;
  let sut: OverviewService;

  beforeEach(() => {
    now = 1_800_000_030; // 30 s into a minute
    rows = new Rows();
    const clock = { nowSeconds: () => now, nowMs: () => now * 1000 };
    const none = {} as never;
    sut = new OverviewService(none, rows as unknown as RequestRowQueries, none, none, none, clock);
  });

  const nonEmpty = async () =>
    (await sut.throughputSeries(ThroughputRange.HOUR)).providers.map((p) => ({
      providerId: p.providerId,
      buckets: p.buckets.filter((b) => b.completed + b.failed > 0),
    }));

  it('lists every bucket of the range, aligned and oldest first, the current one last', async () => {
    rows.rows.push({ providerId: 'p', at: now - 1, failed: false }, { providerId: 'p', at: now - 3599, failed: true });
    const series = await sut.throughputSeries(ThroughputRange.HOUR);
    expect(series).toMatchObject({ bucketSeconds: 60, start: 1_800_000_000 - 59 * 60, end: 1_800_000_060 });
    expect(series.providers[0].buckets).toHaveLength(60);
    expect(series.providers[0].buckets[59]).toEqual({ start: 1_800_000_000, completed: 1, failed: 0 });
    expect(series.providers[0].buckets.filter((b) => b.failed)).toEqual([]); // 3599 s ago is before the first bucket
  });

  it('reads again on a refresh only the buckets that had not settled, and keeps the others', async () => {
    rows.rows.push({ providerId: 'p', at: now - 600, failed: false }, { providerId: 'q', at: now - 61, failed: true });
    const first = await nonEmpty();
    now += 45;
    rows.rows.push({ providerId: 'p', at: now, failed: false });
    const second = await nonEmpty();
    expect(rows.reads[1]).toEqual([1_799_999_940, 1_800_000_120]); // the buckets not yet settled at the first read
    expect(second).toEqual([
      { providerId: 'p', buckets: [first[0].buckets[0], { start: 1_800_000_060, completed: 1, failed: 0 }] },
      { providerId: 'q', buckets: first[1].buckets },
    ]);
  });

  it('counts a row written late into the previous bucket, and drops what leaves the range', async () => {
    rows.rows.push({ providerId: 'p', at: now - 3560, failed: false }); // in the range's first bucket
    await nonEmpty();
    now += 60;
    rows.rows.push({ providerId: 'p', at: now - 70, failed: true }); // written late, stamped in the previous bucket
    const later = await nonEmpty();
    expect(later).toEqual([{ providerId: 'p', buckets: [{ start: 1_800_000_000, completed: 0, failed: 1 }] }]);
  });

  it('reads the whole range again when the clock went back', async () => {
    await nonEmpty();
    now -= 600;
    await nonEmpty();
    expect(rows.reads[1]).toEqual([1_800_000_000 - 600 - 59 * 60, 1_800_000_060 - 600]);
  });
});
