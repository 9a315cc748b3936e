import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let ticksPerSecond: number | null = null

function clockTicks (): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

export interface CpuTime { userMs: number, systemMs: number }

/**
 * CPU time a process has used so far (Linux /proc/<pid>/stat, clock-tick resolution). Unlike
 * latency it hardly moves when other processes compete for the cores, so CPU per request is the
 * steadiest cost figure on a shared machine; system time is the kernel's share (socket syscalls).
 */
export function cpuTimeOf (pid: number): CpuTime | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const tick = 1000 / clockTicks()
    return { userMs: Number(fields[11]) * tick, systemMs: Number(fields[12]) * tick }
  } catch {
    return null
  }
}

/** CPU time used between two readings. */
export function cpuDelta (before: CpuTime | null, after: CpuTime | null): CpuTime | null {
  if (!before || !after) return null
  return { userMs: after.userMs - before.userMs, systemMs: after.systemMs - before.systemMs }
}
