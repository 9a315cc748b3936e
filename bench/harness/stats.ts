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

/** Student's t, two-sided 95 %, by degrees of freedom (1–30); beyond that close to the normal's 1.96. */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042]

/**
 * Least-squares line with the half-width of the slope's 95 % confidence interval (slope ± halfWidth95),
 * assuming independent residuals (NaN with fewer than 3 points).
 */
export function linearFitCI (points: Array<[number, number]>): { slope: number, intercept: number, halfWidth95: number, n: number } {
  const { slope, intercept } = linearFit(points)
  const n = points.length
  if (n < 3) return { slope, intercept, halfWidth95: NaN, n }
  const mx = mean(points.map(p => p[0]))
  let sxx = 0
  let sse = 0
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2
    sse += (y - (intercept + slope * x)) ** 2
  }
  const se = sxx === 0 ? NaN : Math.sqrt(sse / (n - 2) / sxx)
  const t = T95[n - 3] ?? (n - 2 <= 60 ? 2.0 : 1.98)
  return { slope, intercept, halfWidth95: se * t, n }
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
