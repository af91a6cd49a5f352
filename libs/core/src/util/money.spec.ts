import { costMicros, formatMicros, parseAmount, utcDay, utcMonthStart } from './money';

describe('money', () => {
  it('costs usage at prices per million tokens in micro-units, cached tokens included in the prompt at the input price', () => {
    expect(costMicros(10, 5, 2.5, 10)).toBe(75);
    expect(costMicros(1_000_000, 0, 0.15, 0.6)).toBe(150_000);
    expect(costMicros(3, 1, 0.15, null)).toBe(0); // 0.45 rounds to 0
    expect(costMicros(100, 100, null, null)).toBe(0);
  });

  it('formats micro-units as a six-place decimal and parses amounts back exactly', () => {
    expect(formatMicros(0)).toBe('0.000000');
    expect(formatMicros(1_500)).toBe('0.001500');
    expect(formatMicros(12_345_678_901)).toBe('12345.678901');
    expect(parseAmount('250')).toBe(250_000_000);
    expect(parseAmount('0.000001')).toBe(1);
    expect(parseAmount(' 12.5 ')).toBe(12_500_000);
    for (const bad of ['-1', '1.0000001', 'abc', '', '1e3']) expect(parseAmount(bad)).toBeNull();
  });

  it('names the UTC day and the first day of its month', () => {
    const t = Date.UTC(2026, 1, 28, 23, 59, 59) / 1000;
    expect(utcDay(t)).toBe('2026-02-28');
    expect(utcMonthStart(t)).toBe('2026-02-01');
  });
});
