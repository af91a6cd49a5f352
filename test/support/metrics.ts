/** The gateway's Prometheus metrics as a scraper reads them. */

/** One parsed Prometheus text exposition: `value(name, labels)` sums the series whose labels include `labels` (0 when none). */
export interface Scrape {
  text: string;
  value: (name: string, labels?: Record<string, string>) => number;
  labelValues: (name: string, label: string) => string[];
}

function parseExposition(text: string): Scrape {
  const series = text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(l);
      if (!m) throw new Error(`Not a Prometheus sample line: ${l}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
      return { name: m[1], labels, value: Number(m[3]) };
    });
  const matching = (name: string, labels: Record<string, string>) =>
    series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    text,
    value: (name, labels = {}) => matching(name, labels).reduce((n, s) => n + s.value, 0),
    labelValues: (name, label) => [...new Set(matching(name, {}).map((s) => s.labels[label]))],
  };
}

/** What Prometheus does: a GET without any credentials. */
export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const type = (res.headers.get('content-type') ?? '').split(';').map((p) => p.trim());
  expect(type[0]).toBe('text/plain');
  expect(type).toContain('version=0.0.4');
  return parseExposition(await res.text());
}
