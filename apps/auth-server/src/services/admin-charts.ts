/*
 * Bar charts of the admin overview, drawn server-side as inline SVG: this computes the geometry,
 * views/admin-chart.eta writes the elements (numbers and class names only, escaped like any
 * value). The pages' CSP has no script and no inline style, so colours come from app.css classes.
 * Each chart carries a title and description for screen readers and its numbers as a table.
 */

/** The viewBox: the SVG scales to the page's width (375 px phones included). */
const WIDTH = 720;
const HEIGHT = 260;
const LEFT = 56;
const RIGHT = 8;
const TOP = 12;
const BOTTOM = 36;

export interface Series {
  key: string;
  label: string;
  /** app.css class giving the fill (chart-s0, chart-s1, chart-s2). */
  cls: string;
}

export interface BarChart {
  id: string;
  title: string;
  desc: string;
  width: number;
  height: number;
  series: readonly Series[];
  bars: { x: number; width: number; label: string; segments: { y: number; height: number; cls: string }[] }[];
  grid: { y: number; label: string }[];
  xLabels: { x: number; label: string }[];
  axis: { x1: number; x2: number; y: number };
  table: { caption: string; columns: string[]; rows: string[][] };
}

const r1 = (n: number) => Math.round(n * 10) / 10;

/** The smallest of 1, 2, 5 × 10^k at or above n (at least 1): the top of the axis. */
export function niceMax(n: number): number {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

/** "14:00" for the UTC hour starting at `ms`. */
export const hourLabel = (ms: number) => `${new Date(ms).toISOString().slice(11, 13)}:00`;

/** A stacked bar per hour (oldest first), one segment per series. */
export function hourlyChart(
  id: string,
  title: string,
  hours: readonly ({ start: number } & Record<string, number>)[],
  series: readonly Series[],
): BarChart {
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const base = TOP + plotH;
  const slot = plotW / Math.max(1, hours.length);
  const totals = hours.map((h) => series.reduce((n, s) => n + (h[s.key] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const scale = (v: number) => (v / max) * plotH;
  const bars = hours.map((h, i) => {
    let y = base;
    const segments = series.filter((s) => (h[s.key] ?? 0) > 0).map((s) => {
      const height = scale(h[s.key]!);
      y -= height;
      return { y: r1(y), height: r1(height), cls: s.cls };
    });
    const counts = series.map((s) => `${h[s.key] ?? 0} ${s.label.toLowerCase()}`).join(', ');
    return { x: r1(LEFT + i * slot + slot * 0.15), width: r1(slot * 0.7), label: `${hourLabel(h.start)}: ${counts}`, segments };
  });
  const ticks = max === 1 ? [0, 1] : [0, max / 2, max];
  const grid = ticks.map((t) => ({ y: r1(base - scale(t)), label: String(t) }));
  const xLabels = hours.flatMap((h, i) => (i % 6 === 0 ? [{ x: r1(LEFT + i * slot + slot / 2), label: hourLabel(h.start) }] : []));
  const sums = series.map((s) => `${hours.reduce((n, h) => n + (h[s.key] ?? 0), 0)} ${s.label.toLowerCase()}`);
  const peak = totals.reduce((best, t, i) => (t > totals[best]! ? i : best), 0);
  const desc = `Per hour over the last ${hours.length} hours (UTC): ${sums.join(', ')} in total`
    + (totals[peak]! > 0 ? `; the busiest hour was ${hourLabel(hours[peak]!.start)} with ${totals[peak]}.` : '.');
  return {
    id, title, desc, width: WIDTH, height: HEIGHT, series, bars, grid, xLabels,
    axis: { x1: LEFT, x2: WIDTH - RIGHT, y: base },
    table: {
      caption: `${title}, per hour (UTC)`,
      columns: ['Hour (UTC)', ...series.map((s) => s.label)],
      rows: hours.map((h) => [hourLabel(h.start), ...series.map((s) => String(h[s.key] ?? 0))]),
    },
  };
}
