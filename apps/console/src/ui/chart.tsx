import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Series {
  label: string;
  values: (number | null)[];
}

/** Distinct on white and readable by most colour-blind operators (Okabe–Ito). */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

/**
 * A time-series line chart (uPlot: a canvas and a few elements it styles through the CSSOM, which the
 * console's CSP allows). `x` is unix seconds. It follows its box's width.
 */
export function LineChart({
  title,
  x,
  series,
  format,
  points = false,
  ceiling,
}: {
  title: string;
  x: number[];
  series: Series[];
  format: (v: number) => string;
  /** Draw each value as a dot too: for series with gaps, where a lone value has no line to be seen on. */
  points?: boolean;
  /** The highest the y axis goes (1 for a rate), however high the values. */
  ceiling?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('\n');

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: 220,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.min(max > 0 ? max * 1.1 : 1, ceiling ?? Infinity)] } },
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLOURS[i % COLOURS.length],
          width: 2,
          spanGaps: false,
          points: { show: points, size: 5 },
          value: (_u: uPlot, v: number | null) => (v == null ? '—' : format(v)),
        })),
      ],
      axes: [{}, { values: (_u, ticks) => ticks.map(format), size: 60 }],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(opts, [x, ...series.map((s) => s.values)], el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of lines changes; new figures go through setData below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)]);
  }, [x, series]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={title} />
    </figure>
  );
}
