/** Display helpers: the API's times are unix seconds; the console shows local time to the second. */

const pad = (n: number) => String(n).padStart(2, '0');

export function dateTime(seconds: number | null | undefined): string {
  if (seconds == null) return '—';
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The same for epoch milliseconds (webhook attempts and retries are timed to the millisecond). */
export function dateTimeMs(ms: number | null | undefined): string {
  return ms == null ? '—' : dateTime(ms / 1000);
}

/** A value for <input type="datetime-local"> from unix seconds, and back (empty: none). */
export function toLocalInput(seconds: number | null): string {
  return seconds == null ? '' : dateTime(seconds).replace(' ', 'T');
}

export function fromLocalInput(value: string): number | null {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

/** "3 min ago", "in 2 h": how far `seconds` is from now. */
export function relative(seconds: number | null | undefined, now = Date.now() / 1000): string {
  if (seconds == null) return '';
  const delta = seconds - now;
  const abs = Math.abs(delta);
  const text =
    abs < 60
      ? `${Math.round(abs)} s`
      : abs < 3600
        ? `${Math.round(abs / 60)} min`
        : abs < 86400
          ? `${Math.round(abs / 3600)} h`
          : `${Math.round(abs / 86400)} d`;
  return delta < 0 ? `${text} ago` : `in ${text}`;
}

export function percent(share: number, digits = 0): string {
  return `${(share * 100).toFixed(digits)}%`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Statuses in which a batch still changes: the pages poll while one is shown. */
export const LIVE_STATUSES = ['validating', 'in_progress', 'finalizing', 'cancelling'];

/** How often a page showing a running batch reads it again, so its progress bar moves. */
export const LIVE_POLL_MS = 2000;

export const BATCH_STATUSES = ['validating', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled'];

export function statusLabel(status: string): string {
  return status.replace(/_/g, ' ');
}

/** An amount of the API's money type: "12.345600 USD". */
export function money(m: { currency: string; amount: string }): string {
  return `${m.amount} ${m.currency}`;
}

/** A size in bytes, in the largest unit that keeps it at 1 or more: "64 KiB", "1.2 MiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
