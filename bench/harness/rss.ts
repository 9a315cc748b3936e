import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'

const hasProc = (() => {
  try {
    readFileSync('/proc/self/status')
    return true
  } catch {
    return false
  }
})()

function statusField (pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) * 1024 : null
}

/** Resident set size of a process in bytes (/proc on Linux, ps elsewhere). */
export function rssOf (pid: number): number {
  if (hasProc) return statusField(pid, 'VmRSS') ?? 0
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)]).toString().trim()) * 1024
}

/**
 * Starts a fresh peak: Linux resets VmHWM to the current RSS when 5 is written to clear_refs, so the
 * kernel catches spikes between our samples. Returns false where that is not available.
 */
export function resetPeak (pid: number): boolean {
  if (!hasProc) return false
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

function kernelPeak (pid: number): number | null {
  return hasProc ? statusField(pid, 'VmHWM') : null
}

export interface RssSample { t: number, rss: number }

export interface RssSampler {
  /** Stops sampling; peak is the larger of the sampled maximum and the kernel's high-water mark. */
  stop: () => { samples: RssSample[], peak: number, start: number }
}

/** Samples RSS every `intervalMs` from now (t in ms since the start). */
export function sampleRss (pid: number, intervalMs = 100): RssSampler {
  const kernelPeakValid = resetPeak(pid)
  const t0 = performance.now()
  const samples: RssSample[] = []
  const take = () => {
    try {
      samples.push({ t: Math.round(performance.now() - t0), rss: rssOf(pid) })
    } catch {}
  }
  take()
  const timer = setInterval(take, intervalMs)
  return {
    stop () {
      take()
      clearInterval(timer)
      let peak = Math.max(...samples.map(s => s.rss))
      if (kernelPeakValid) {
        try {
          peak = Math.max(peak, kernelPeak(pid) ?? 0)
        } catch {}
      }
      return { samples, peak, start: samples[0]?.rss ?? 0 }
    }
  }
}
