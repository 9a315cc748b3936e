import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { ROOT, startNodeFlags } from './processes.ts'

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
}

function git (...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  } catch {
    return ''
  }
}

export function describeMachine (): Machine {
  const commit = git('rev-parse', '--short', 'HEAD')
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== ''
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGB: Math.round(os.totalmem() / 1e9 * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
    commit: commit ? `${commit}${dirty ? ' (with uncommitted changes)' : ''}` : 'unknown',
    ...(process.env.BENCH_GATEWAY_NODE_OPTIONS ? { gatewayNodeOptions: process.env.BENCH_GATEWAY_NODE_OPTIONS } : {}),
    gatewayNodeFlags: [...startNodeFlags(), ...(process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean)].join(' ')
  }
}
