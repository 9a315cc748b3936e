import { ROOT } from './processes.ts'
import { round } from './stats.ts'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], startTime: number, samples: number[], timeDeltas: number[] }

/** Now on the clock V8 stamps profiles with (CLOCK_MONOTONIC, µs), to cut a profile to a workload. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)

export interface ProfileEntry { name: string, where: string, selfMs: number, share: number }

export interface ProfileSummary {
  /** What ran while profiling, for the reader. */
  workload: string
  sampledMs: number
  idleMs: number
  /** False when the window matched no sample and the whole profile (start-up included) was used. */
  windowed: boolean
  /** Shares below are of the busy time (sampled − idle). */
  busyMs: number
  topFunctions: ProfileEntry[]
  byOrigin: ProfileEntry[]
  /** The top functions by self time within each origin of byOrigin, same order (older results files lack it). */
  byOriginFunctions?: Array<{ origin: string, functions: ProfileEntry[] }>
}

const FUNCTIONS_PER_ORIGIN = 3
const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)'])
/** Native frames that write to a socket: the kernel's loopback TCP path runs inside these syscalls. */
const SOCKET_WRITES = new Set(['writeUtf8String', 'writeLatin1String', 'writeBuffer', 'writev', 'writeAsciiString', 'writeUcs2String'])

function relative (url: string): string {
  const path = url.replace(/^file:\/\//, '')
  return path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path
}

/** Which package or part of the gateway a frame belongs to. */
function originOf (frame: CallFrame): string | null {
  if (SPECIAL.has(frame.functionName)) return frame.functionName
  if (!frame.url) return null
  if (frame.url.startsWith('node:internal/deps/undici')) return 'undici (Node\'s global fetch)'
  if (frame.url.startsWith('node:')) return 'node core (http, net, streams, timers)'
  const path = relative(frame.url)
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
  if (pkg) return pkg[1]
  if (!path.startsWith('/') && !path.includes('://')) return `gateway: ${path.split('/').slice(0, -1).join('/') || path}`
  return path
}

function selfTimes (profile: CpuProfile, window?: { startUs: number, endUs: number }) {
  const selfUs = new Map<number, number>()
  let total = 0
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    if (window && (at < window.startUs || at > window.endUs)) continue
    const us = profile.timeDeltas[i + 1] ?? 0
    total += us
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + us)
  }
  return { selfUs, total }
}

/**
 * Self time per function and per origin (a package, node core, or a folder of the gateway) from a
 * V8 .cpuprofile: each sample is charged the time until the next one — wall time, so a process
 * preempted inside a syscall (a loopback write that wakes its peer) charges that to the caller.
 * With a window (monotonicUs() before and after the workload) start-up and warm-up are left out.
 */
export function summarizeProfile (raw: unknown, workload: string, window?: { startUs: number, endUs: number }, top = 15): ProfileSummary {
  const profile = raw as CpuProfile
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // Native frames (a socket write, JSON.parse) are charged to the nearest caller with a source.
  const originFor = (id: number): string => {
    const own = byId.get(id)!.callFrame
    if (!own.url && SOCKET_WRITES.has(own.functionName)) return 'socket writes (syscalls, loopback TCP)'
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const origin = originOf(byId.get(cur)!.callFrame)
      if (origin) return origin === '(root)' ? '(native / V8)' : origin
    }
    return '(native / V8)'
  }
  let { selfUs, total } = selfTimes(profile, window)
  const windowed = Boolean(window) && total > 0
  if (!windowed) ({ selfUs, total } = selfTimes(profile))
  const fns = new Map<string, { name: string, where: string, us: number }>()
  const origins = new Map<string, number>()
  const originFns = new Map<string, Map<string, { name: string, where: string, us: number }>>()
  let idle = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame
    if (frame.functionName === '(idle)') {
      idle += us
      continue
    }
    const where = frame.url ? `${relative(frame.url)}:${frame.lineNumber + 1}` : ''
    const name = frame.functionName || '(anonymous)'
    const key = `${name} ${where}`
    const entry = fns.get(key) ?? { name, where, us: 0 }
    entry.us += us
    fns.set(key, entry)
    const origin = originFor(id)
    origins.set(origin, (origins.get(origin) ?? 0) + us)
    const inOrigin = originFns.get(origin) ?? new Map<string, { name: string, where: string, us: number }>()
    const own = inOrigin.get(key) ?? { name, where, us: 0 }
    own.us += us
    inOrigin.set(key, own)
    originFns.set(origin, inOrigin)
  }
  const busy = total - idle
  const entry = (name: string, where: string, us: number): ProfileEntry =>
    ({ name, where, selfMs: round(us / 1000, 1), share: round(busy > 0 ? us / busy : 0, 3) })
  const byOrigin = [...origins.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
  return {
    workload,
    windowed,
    sampledMs: round(total / 1000, 1),
    idleMs: round(idle / 1000, 1),
    busyMs: round(busy / 1000, 1),
    topFunctions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top).map(f => entry(f.name, f.where, f.us)),
    byOrigin: byOrigin.map(([o, us]) => entry(o, '', us)),
    byOriginFunctions: byOrigin.map(([o]) => ({
      origin: o,
      functions: [...originFns.get(o)!.values()].sort((a, b) => b.us - a.us).slice(0, FUNCTIONS_PER_ORIGIN).map(f => entry(f.name, f.where, f.us))
    }))
  }
}
