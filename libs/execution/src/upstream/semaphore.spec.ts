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
