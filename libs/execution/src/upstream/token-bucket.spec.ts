import { TokenBucket } from './token-bucket';

describe(TokenBucket.name, () => {
  it('lets a second’s worth of requests through at once, then makes the next one wait for a refill', async () => {
    // 10 a second: the next token is 100 ms away, far more than taking ten and one turn of the event loop
    // take on a loaded machine (at 100 a second, 10 ms, a busy CI run once saw it refill in time).
    const sut = new TokenBucket(600);
    const signal = new AbortController().signal;
    for (let i = 0; i < 10; i++) await sut.take(signal);
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
