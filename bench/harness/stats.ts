/** Percentile p (0–100) with linear interpolation between the closest ranks. */
export function percentile (values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).sort()
  if (sorted.length === 0) return NaN
  const rank = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)
}

export function mean (values: ArrayLike<number>): number {
  let sum = 0
  for (let i = 0; i < values.length; i++) sum += values[i]
  return values.length ? sum / values.length : NaN
}

export function median (values: ArrayLike<number>): number {
  return percentile(values, 50)
}

export interface Summary { n: number, mean: number, p50: number, p90: number, p99: number, min: number, max: number }

export function summarize (values: ArrayLike<number>): Summary {
  const arr = Array.from(values)
  return {
    n: arr.length,
    mean: mean(arr),
    p50: percentile(arr, 50),
    p90: percentile(arr, 90),
    p99: percentile(arr, 99),
    min: arr.length ? Math.min(...arr) : NaN,
    max: arr.length ? Math.max(...arr) : NaN
  }
}

/** Least-squares line through (x, y): slope and intercept. */
export function linearFit (points: Array<[number, number]>): { slope: number, intercept: number } {
  const n = points.length
  if (n < 2) return { slope: 0, intercept: points[0]?.[1] ?? 0 }
  const mx = mean(points.map(p => p[0]))
  const my = mean(points.map(p => p[1]))
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  const slope = den === 0 ? 0 : num / den
  return { slope, intercept: my - slope * mx }
}

/** Rounds for JSON and tables: enough digits to compare, no float noise. */
export function round (value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}

export const MiB = 1024 * 1024
/** Memory is reported in MB (10^6 bytes), the unit of the goals, so a figure is never flattered by MiB. */
export const toMB = (bytes: number) => round(bytes / 1e6, 1)
