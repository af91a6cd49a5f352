/**
 * Money is counted in integer micro-units of the gateway's currency (COST_CURRENCY): a price per
 * million tokens in currency units is exactly a price per token in micro-units, and sums of integers
 * do not drift. Amounts are shown as decimal strings with six places.
 */
export interface Money {
  currency: string;
  /** A decimal string, e.g. "0.001234". */
  amount: string;
}

export function formatMicros(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.round(micros));
  return `${sign}${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`;
}

export function money(currency: string, micros: number): Money {
  return { currency, amount: formatMicros(micros) };
}

/** A non-negative decimal amount ("12.5", "0.000001") in micro-units, exactly; null when it is not one. */
export function parseAmount(amount: string): number | null {
  const m = /^(\d{1,12})(?:\.(\d{1,6}))?$/.exec(amount.trim());
  if (!m) return null;
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? '').padEnd(6, '0'));
}

/**
 * The cost of usage at prices per million tokens, in micro-units, rounded to the nearest micro-unit.
 * Cached prompt tokens are part of the prompt tokens and cost the input price.
 */
export function costMicros(promptTokens: number, completionTokens: number, inputPricePerMtok: number | null, outputPricePerMtok: number | null): number {
  return Math.round(promptTokens * (inputPricePerMtok ?? 0) + completionTokens * (outputPricePerMtok ?? 0));
}

/** The UTC day (`YYYY-MM-DD`) of an epoch second, and the first day of its month. */
export function utcDay(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 10);
}

export function utcMonthStart(epochSeconds: number): string {
  return `${utcDay(epochSeconds).slice(0, 7)}-01`;
}
