import { TokenBucket } from './token-bucket';

describe(TokenBucket.name, () => {
  it('lets a second’s worth of requests through at once, then makes the next one wait for a refill', async () => {
    const sut = new TokenBucket(6000); // 100 a second
    const signal = new AbortController().signal;
    for (let i = 0; i < 100; i++) await sut.take(signal);
    let passed = false;
    const next = sut.take(signal).then(() => (passed = true));
    await new Promise((r) => setImmediate(r));
    expect(passed).toBe(false);
    await next;
    expect(passed).toBe(true);
  });

  it('stops waiting when the signal aborts', async () => {
    const sut = new TokenBucket(1);
    const stop = new AbortController();
    await sut.take(stop.signal);
    const waiting = sut.take(stop.signal);
    stop.abort();
    await expect(waiting).rejects.toThrow();
  });
});
