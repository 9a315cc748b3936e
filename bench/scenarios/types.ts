import type { ProfileSummary } from '../harness/profile.ts'

export interface ScenarioContext {
  log: (message: string) => void
  /** Set by --no-profile: skip the profiling pass that follows a missed goal. */
  profile: boolean
  /** --soak-seconds: a shorter soak while working on the bench (the report says how long it ran). */
  soakSeconds?: number
}

export interface Goal {
  goal: string
  met: boolean | null
  /** The figures the verdict rests on, in words. */
  evidence: string
}

export interface Table { caption?: string, columns: string[], rows: Array<Array<string | number>> }

export interface Rendered {
  tables: Table[]
  svg: string
  /** Paragraphs under the tables (method, caveats). */
  notes: string[]
}

/**
 * One benchmark: `run` measures and returns JSON-serializable figures (everything written to
 * bench/results); `goals`, `render` and `profile` work from those figures alone, so a report can be
 * regenerated from a results file.
 */
export interface Scenario<F = unknown> {
  name: string
  title: string
  /** What the scenario does, one paragraph for BENCHMARKS.md. */
  description: string
  /** Rough wall time, printed before a run. */
  expectedSeconds: number
  run: (ctx: ScenarioContext) => Promise<F>
  goals: (figures: F) => Goal[]
  render: (figures: F) => Rendered
  /** Re-runs the scenario's core workload on a --cpu-prof gateway; used when a goal is missed. */
  profile?: (ctx: ScenarioContext, figures: F) => Promise<ProfileSummary>
}

export interface ScenarioResult<F = unknown> {
  name: string
  title: string
  startedAt: string
  seconds: number
  figures: F | null
  error: string | null
  goals: Goal[]
  profile: ProfileSummary | null
}

/** Scenario modules declare their figure type; the registry holds them side by side. */
export function defineScenario<F> (scenario: Scenario<F>): Scenario<unknown> {
  return scenario as unknown as Scenario<unknown>
}
