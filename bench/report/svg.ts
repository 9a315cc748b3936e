// Small, dependency-free SVG charts for BENCHMARKS.md: horizontal grouped bars and stacked line panels.
// Output is deterministic and compact (rounded coordinates, downsampled lines) so the files stay small in git.

const WIDTH = 760
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#9d755d']
const FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"'

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const r1 = (n: number) => Math.round(n * 10) / 10

/** A round axis maximum and tick step above `max`. */
function niceScale (max: number, ticks = 5): { max: number, step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 }
  const raw = max / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw)!
  return { max: Math.ceil(max / step) * step, step }
}

export function formatNumber (n: number): string {
  if (!Number.isFinite(n)) return '–'
  const abs = Math.abs(n)
  if (abs >= 10_000) return `${Math.round(n / 1000)}k`
  if (abs >= 1000) return `${r1(n / 1000)}k`
  if (abs >= 100) return String(Math.round(n))
  if (abs >= 10) return String(r1(n))
  if (abs >= 1) return String(Math.round(n * 100) / 100)
  return String(Math.round(n * 1000) / 1000)
}

function header (title: string, subtitle: string | undefined, height: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="11">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="20" font-size="14" font-weight="600" fill="#222">${esc(title)}</text>`,
    ...(subtitle ? [`<text x="12" y="36" fill="#555">${esc(subtitle)}</text>`] : [])
  ]
}

function legend (series: string[], y: number): string[] {
  const out: string[] = []
  let x = 12
  series.forEach((name, i) => {
    out.push(`<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`)
    out.push(`<text x="${x + 14}" y="${y}" fill="#333">${esc(name)}</text>`)
    x += 24 + name.length * 6.2
  })
  return out
}

export interface BarGroup { label: string, bars: Array<{ series: string, value: number, label?: string }> }
export interface BarChart {
  title: string
  subtitle?: string
  unit: string
  series: string[]
  groups: BarGroup[]
  /** A vertical line, e.g. a goal. */
  reference?: { value: number, label: string }
}

/** Horizontal bars, one row per bar, grouped; each bar is labelled with its value. */
export function barChart (chart: BarChart): string {
  const labelW = 210
  const plotX = labelW + 12
  // Room on the right for the longest value label after the longest bar.
  const longest = Math.max(...chart.groups.flatMap(g => g.bars.map(b => (b.label ?? formatNumber(b.value)).length)))
  const plotW = WIDTH - plotX - Math.min(260, 12 + longest * 6.2)
  const barH = 14
  const top = (chart.subtitle ? 46 : 30) + 18
  const rows = chart.groups.reduce((n, g) => n + g.bars.length, 0)
  const height = top + rows * (barH + 4) + chart.groups.length * 10 + 36
  const dataMax = Math.max(...chart.groups.flatMap(g => g.bars.map(b => b.value)).filter(Number.isFinite), chart.reference?.value ?? 0)
  const { max, step } = niceScale(dataMax)
  const x = (v: number) => plotX + (Math.max(0, v) / max) * plotW
  const out = header(chart.title, chart.subtitle, height)
  out.push(...legend(chart.series, top - 8))
  const axisY = height - 28
  for (let v = 0; v <= max + step / 2; v += step) {
    out.push(`<line x1="${r1(x(v))}" y1="${top}" x2="${r1(x(v))}" y2="${axisY}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${r1(x(v))}" y="${axisY + 13}" text-anchor="middle" fill="#666">${formatNumber(v)}</text>`)
  }
  out.push(`<text x="${plotX + plotW}" y="${axisY + 25}" text-anchor="end" fill="#666">${esc(chart.unit)}</text>`)
  let y = top + 4
  for (const group of chart.groups) {
    const groupH = group.bars.length * (barH + 4)
    out.push(`<text x="${labelW}" y="${r1(y + groupH / 2 + 2)}" text-anchor="end" fill="#222">${esc(group.label)}</text>`)
    for (const bar of group.bars) {
      const color = PALETTE[Math.max(0, chart.series.indexOf(bar.series)) % PALETTE.length]
      const w = Number.isFinite(bar.value) ? Math.max(1, x(bar.value) - plotX) : 0
      out.push(`<rect x="${plotX}" y="${y}" width="${r1(w)}" height="${barH}" fill="${color}"/>`)
      out.push(`<text x="${r1(plotX + w + 4)}" y="${y + 11}" fill="#222">${esc(bar.label ?? formatNumber(bar.value))}</text>`)
      y += barH + 4
    }
    y += 10
  }
  if (chart.reference) {
    const rx = r1(x(chart.reference.value))
    out.push(`<line x1="${rx}" y1="${top - 2}" x2="${rx}" y2="${axisY}" stroke="#d62728" stroke-dasharray="4 3"/>`)
    out.push(`<text x="${rx + 3}" y="${top + 8}" fill="#d62728">${esc(chart.reference.label)}</text>`)
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}

export interface LineSeries { name: string, points: Array<[number, number]>, dashed?: boolean }
export interface LinePanel { label: string, unit: string, series: LineSeries[], reference?: { value: number, label: string }, minZero?: boolean }
export interface LineChart { title: string, subtitle?: string, xLabel: string, panels: LinePanel[] }

/** Keeps at most `n` points, taking the extreme of each bucket so peaks survive. */
function downsample (points: Array<[number, number]>, n = 240): Array<[number, number]> {
  if (points.length <= n) return points
  const size = points.length / n
  const out: Array<[number, number]> = []
  for (let i = 0; i < n; i++) {
    const bucket = points.slice(Math.floor(i * size), Math.floor((i + 1) * size))
    out.push(bucket.reduce((a, b) => (b[1] > a[1] ? b : a)))
  }
  return out
}

/** Stacked panels sharing the x axis, each with its own y scale. */
export function lineChart (chart: LineChart): string {
  const plotX = 70
  const plotW = WIDTH - plotX - 20
  const panelH = 120
  const gap = 40
  const top = (chart.subtitle ? 46 : 30) + 22
  const height = top + chart.panels.length * (panelH + gap) + 10
  const allX = chart.panels.flatMap(p => p.series.flatMap(s => s.points.map(pt => pt[0])))
  const { max: xMax, step: xStep } = niceScale(Math.max(...allX, 1), 8)
  const names = [...new Set(chart.panels.flatMap(p => p.series.map(s => s.name)))]
  const out = header(chart.title, chart.subtitle, height)
  out.push(...legend(names, top - 10))
  chart.panels.forEach((panel, i) => {
    const y0 = top + i * (panelH + gap) + 10
    const ys = panel.series.flatMap(s => s.points.map(p => p[1])).concat(panel.reference ? [panel.reference.value] : [])
    const yMinData = Math.min(...ys)
    const yMaxData = Math.max(...ys)
    const minZero = panel.minZero ?? true
    const lo = minZero ? 0 : Math.max(0, yMinData - (yMaxData - yMinData) * 0.2)
    const { max: span, step } = niceScale(Math.max(yMaxData - lo, 1e-9), 4)
    const yMax = lo + span
    const px = (v: number) => plotX + (v / xMax) * plotW
    const py = (v: number) => y0 + panelH - ((v - lo) / (yMax - lo)) * panelH
    out.push(`<text x="${plotX}" y="${y0 - 4}" fill="#222" font-weight="600">${esc(panel.label)} (${esc(panel.unit)})</text>`)
    for (let v = lo; v <= yMax + step / 2; v += step) {
      out.push(`<line x1="${plotX}" y1="${r1(py(v))}" x2="${plotX + plotW}" y2="${r1(py(v))}" stroke="#e5e5e5"/>`)
      out.push(`<text x="${plotX - 6}" y="${r1(py(v) + 4)}" text-anchor="end" fill="#666">${formatNumber(v)}</text>`)
    }
    for (let v = 0; v <= xMax + xStep / 2; v += xStep) {
      out.push(`<text x="${r1(px(v))}" y="${y0 + panelH + 13}" text-anchor="middle" fill="#666">${formatNumber(v)}</text>`)
    }
    panel.series.forEach(series => {
      const color = PALETTE[names.indexOf(series.name) % PALETTE.length]
      const d = downsample(series.points).map((p, j) => `${j ? 'L' : 'M'}${r1(px(p[0]))} ${r1(py(p[1]))}`).join('')
      if (d) out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"${series.dashed ? ' stroke-dasharray="5 3"' : ''}/>`)
    })
    if (panel.reference) {
      const ry = r1(py(panel.reference.value))
      out.push(`<line x1="${plotX}" y1="${ry}" x2="${plotX + plotW}" y2="${ry}" stroke="#d62728" stroke-dasharray="4 3"/>`)
      out.push(`<text x="${plotX + plotW - 2}" y="${ry - 3}" text-anchor="end" fill="#d62728">${esc(panel.reference.label)}</text>`)
    }
  })
  out.push(`<text x="${plotX + plotW}" y="${height - 6}" text-anchor="end" fill="#666">${esc(chart.xLabel)}</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
