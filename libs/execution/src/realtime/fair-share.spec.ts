import { FairShare } from './fair-share';

const always = () => true;

function counts(share: FairShare<string>, picks: number, ready: (item: string) => boolean = always): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const item = share.next(ready);
    if (item) out[item] = (out[item] ?? 0) + 1;
  }
  return out;
}

describe(FairShare.name, () => {
  it('splits equally between accounts of equal weight, whatever their number of batches', () => {
    const sut = new FairShare<string>();
    sut.add('a1', 'A', 1, 'a1');
    sut.add('a2', 'A', 1, 'a2');
    sut.add('a3', 'A', 1, 'a3');
    sut.add('b1', 'B', 1, 'b1');
    const c = counts(sut, 600);
    expect(c.b1).toBe(300);
    expect([c.a1, c.a2, c.a3]).toEqual([100, 100, 100]);
  });

  it("splits in proportion to the accounts' weights", () => {
    const sut = new FairShare<string>();
    sut.add('a', 'A', 3, 'a');
    sut.add('b', 'B', 1, 'b');
    expect(counts(sut, 400)).toEqual({ a: 300, b: 100 });
    sut.setWeight('B', 3);
    expect(counts(sut, 400)).toEqual({ a: 200, b: 200 });
  });

  it('gives everything to the only ready account, and no credit for the time another was not ready', () => {
    const sut = new FairShare<string>();
    sut.add('a', 'A', 1, 'a');
    sut.add('b', 'B', 1, 'b');
    expect(counts(sut, 100, (item) => item === 'a')).toEqual({ a: 100 });
    // B waited 100 picks: it gets its fair half from now on, not a burst of 100.
    const after = counts(sut, 10);
    expect(after.b).toBeLessThanOrEqual(6);
    expect(after.a).toBeGreaterThanOrEqual(4);
  });

  it("lets a new account in at the current virtual time, and a new batch at its account's", () => {
    const sut = new FairShare<string>();
    sut.add('a', 'A', 1, 'a');
    counts(sut, 1000);
    sut.add('b', 'B', 1, 'b');
    expect(counts(sut, 10)).toEqual({ a: 5, b: 5 });
    sut.add('a2', 'A', 1, 'a2');
    const c = counts(sut, 40);
    expect(c.b).toBe(20);
    expect(c.a + c.a2).toBe(20);
    expect(Math.abs(c.a - c.a2)).toBeLessThanOrEqual(2);
  });

  it('forgets removed batches and empty accounts', () => {
    const sut = new FairShare<string>();
    sut.add('a', 'A', 1, 'a');
    sut.add('b', 'B', 1, 'b');
    sut.remove('a', 'A');
    expect(sut.has('a', 'A')).toBe(false);
    expect([...sut.items()]).toEqual(['b']);
    expect(counts(sut, 5)).toEqual({ b: 5 });
    sut.remove('b', 'B');
    expect(sut.next(always)).toBeNull();
  });
});
