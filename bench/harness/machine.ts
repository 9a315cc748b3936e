import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { gatewayEntry, gatewayNodeFlags, ROOT } from './processes.ts'

export interface Machine {
  cpu: string
  cores: number
  memoryGB: number
  os: string
  node: string
  date: string
  commit: string
  /** BENCH_GATEWAY_NODE_OPTIONS, when an experiment set it. */
  gatewayNodeOptions?: string
  /** The node flags of `npm start` the gateway ran with, plus any experiment's. */
  gatewayNodeFlags?: string
  /** The file the gateway ran from (older results files lack it: server.ts). */
  gatewayEntry?: string
}

function git (...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  } catch {
    return ''
  }
}

/**
 * The bench's own output (the report and its charts, rewritten by every full run) is left out: a tree
 * whose only changes are a previous report is the commit as it stands.
 */
const OWN_OUTPUT = [':(exclude)BENCHMARKS.md', ':(exclude)bench/charts']

/** Tracked files changed since HEAD, other than the bench's own output. */
function changedFiles (): string[] {
  return git('diff', '--name-only', 'HEAD', '--', '.', ...OWN_OUTPUT).split('\n').filter(Boolean)
}

/** The short commit, with the files changed since it other than the report's own ("unknown" outside git). */
export function describeCommit (): string {
  const commit = git('rev-parse', '--short', 'HEAD')
  if (!commit) return 'unknown'
  const changed = changedFiles()
  return changed.length === 0
    ? commit
    : `${commit} (with uncommitted changes to ${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ` and ${changed.length - 3} more` : ''})`
}

export function describeMachine (): Machine {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGB: Math.round(os.totalmem() / 1e9 * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
    commit: describeCommit(),
    ...(process.env.BENCH_GATEWAY_NODE_OPTIONS ? { gatewayNodeOptions: process.env.BENCH_GATEWAY_NODE_OPTIONS } : {}),
    gatewayEntry: gatewayEntry(),
    gatewayNodeFlags: gatewayNodeFlags().join(' ')
  }
}
