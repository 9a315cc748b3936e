import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Machine } from '../harness/machine.ts'
import { ROOT } from '../harness/processes.ts'
import type { ScenarioResult } from '../scenarios/types.ts'

export const RESULTS_DIR = join(ROOT, 'bench', 'results')

export interface BenchResults {
  machine: Machine
  /** The command that produced the file. */
  command: string
  /** All scenarios ran (a full `npm run bench`). */
  complete: boolean
  seconds: number
  scenarios: ScenarioResult[]
}

/** Writes bench/results/<timestamp>.json (git-ignored) and returns its path. */
export function writeResults (results: BenchResults): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `${results.machine.date.replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
  return file
}

export function readResults (file: string): BenchResults {
  return JSON.parse(readFileSync(file, 'utf8')) as BenchResults
}
