import { Semaphore } from './semaphore';

describe(Semaphore.name, () => {
  it('never lets more than the limit hold it, and serves waiters in order', async () => {
    const sut = new Semaphore(2);
    let holding = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const release = await sut.acquire();
        order.push(i);
        holding += 1;
        most = Math.max(most, holding);
        await new Promise((r) => setImmediate(r));
        holding -= 1;
        release();
        release(); // a second release is harmless
      }),
    );
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe(`${Semaphore.name} with tryAcquire`, () => {
  it('gives free slots to tryAcquire only when nobody waits, and says when one frees up', async () => {
    const sut = new Semaphore(2);
    let freed = 0;
    sut.onFree(() => (freed += 1));
    const a = sut.tryAcquire()!;
    const b = sut.tryAcquire()!;
    expect(sut.tryAcquire()).toBeNull();
    expect([sut.inUse, sut.available]).toEqual([2, 0]);
    const waiting = sut.acquire();
    a(); // goes to the waiter, not to the next tryAcquire
    const c = await waiting;
    expect([sut.inUse, sut.available, freed]).toEqual([2, 0, 0]);
    b();
    expect([sut.inUse, sut.available, freed]).toEqual([1, 1, 1]);
    expect(sut.tryAcquire()).not.toBeNull();
    c();
    sut.setLimit(4);
    expect(sut.available).toBe(3);
    expect(freed).toBe(3);
  });
});
