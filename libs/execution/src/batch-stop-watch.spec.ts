import { BatchStopWatch } from './batch-stop-watch';

describe('BatchStopWatch', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function rig() {
    const running = new Map<string, boolean>();
    const reads: string[] = [];
    const watch = new BatchStopWatch(async (id) => {
      reads.push(id);
      return running.get(id) ?? false;
    }, 100);
    return { running, reads, watch };
  }

  async function tick(ms = 100) {
    await jest.advanceTimersByTimeAsync(ms);
  }

  it('reads each batch once per tick however many chunks watch it, and tells them all once when it stops', async () => {
    const { running, reads, watch } = rig();
    running.set('a', true);
    running.set('b', true);
    const stopped: string[] = [];
    watch.watch('a', () => stopped.push('a1'));
    watch.watch('a', () => stopped.push('a2'));
    watch.watch('b', () => stopped.push('b1'));
    await tick();
    expect(reads.sort()).toEqual(['a', 'b']);
    expect(stopped).toEqual([]);

    running.set('a', false);
    await tick();
    expect(stopped).toEqual(['a1', 'a2']);
    await tick(300);
    expect(stopped).toEqual(['a1', 'a2']);
    expect(reads.filter((id) => id === 'a')).toHaveLength(2);
    expect(reads.filter((id) => id === 'b')).toHaveLength(5);
  });

  it('stops reading a batch when its last chunk stops watching', async () => {
    const { running, reads, watch } = rig();
    running.set('a', true);
    const first = watch.watch('a', () => undefined);
    const second = watch.watch('a', () => undefined);
    await tick();
    first();
    await tick();
    expect(reads).toHaveLength(2);
    second();
    await tick(500);
    expect(reads).toHaveLength(2);
  });

  it('keeps watching after a failed read and watches a stopped batch afresh for a chunk that starts later', async () => {
    let fail = true;
    const reads: number[] = [];
    const watch = new BatchStopWatch(async () => {
      reads.push(1);
      if (fail) throw new Error('database down');
      return false;
    }, 100);
    let stops = 0;
    watch.watch('a', () => (stops += 1));
    await tick();
    expect(stops).toBe(0);
    fail = false;
    await tick();
    expect(stops).toBe(1);
    watch.watch('a', () => (stops += 1));
    await tick();
    expect(stops).toBe(2);
    expect(reads).toHaveLength(3);
  });
});
