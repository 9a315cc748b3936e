import type { Test } from 'tap'
import { newRunRecord } from '../../../services/store/records.ts'
import type {
  AssistantProfile,
  BudgetLimits,
  FeedLogger,
  LedgerRow,
  Page,
  PageQuery,
  Reservation,
  RunRecord,
  RunStatus,
  Store,
  ThreadRecord
} from '../../../services/store/types.ts'

/**
 * The behaviour every store backend must have, one file per domain beside this one. A backend's test
 * file calls `storeContract` (../contract.ts) with a function that opens a fresh, empty store on the
 * given clock. `reopen` must give a second, independent handle on the same data (another connection /
 * client, i.e. another instance): the races run across both handles. Expiry is driven by the fake clock,
 * never by sleeping: a deadline T is passed at the instant now = T.
 */
export interface StoreUnderTest {
  store: Store
  reopen: () => Promise<Store>
  /** Removes what the backend created (files, keys); runs after every handle is closed. */
  cleanup: () => Promise<void>
}
/** Where the store under test logs (both backends take it): warnings are collected for the feed's tests. */
export interface TestLog extends FeedLogger { info: (obj: object, msg: string) => void }
export type OpenStore = (ctx: { clock: () => number, log: TestLog }) => Promise<StoreUnderTest>

/** A fresh store for one test, closed with it; `warnings` are what its handles logged. */
export type Setup = (t: Test) => Promise<{ store: Store, clock: FakeClock, reopen: () => Promise<Store>, warnings: string[] }>

export function setupWith (open: OpenStore): Setup {
  return async t => {
    const clock = new FakeClock()
    const warnings: string[] = []
    const log: TestLog = { warn: (_obj, msg) => { warnings.push(msg) }, info: () => {} }
    const sut = await open({ clock: () => clock.now, log })
    const handles = [sut.store]
    t.teardown(async () => {
      for (const handle of handles) await handle.close()
      await sut.cleanup()
    })
    const reopen = async () => {
      const handle = await sut.reopen()
      handles.push(handle)
      return handle
    }
    return { store: sut.store, clock, reopen, warnings }
  }
}

export const T0 = Date.UTC(2030, 0, 15, 12, 0, 0)
export const DAY = '2030-01-15'
export const NEXT_DAY = '2030-01-16'
export const OPTS = { maxActivePerUser: 100, threadLockTtlMs: 60_000 }
export const TERMINAL: RunStatus[] = ['completed', 'incomplete', 'failed', 'cancelled', 'expired']

export class FakeClock {
  now = T0
  advance (ms: number) { this.now += ms }
}

export const range = (n: number) => Array.from({ length: n }, (_, i) => i)

export const thread = (id: string, owner: string, createdAt: number, extra: Partial<ThreadRecord> = {}): ThreadRecord => ({
  id, owner, title: null, metadata: {}, created_at: createdAt, updated_at: createdAt, token_estimate: 0, turn_tokens: 0, revision: 0, ...extra
})

export const makeRun = (id: string, threadId: string, owner: string, extra: Partial<RunRecord> = {}): RunRecord => newRunRecord({
  id,
  thread_id: threadId,
  owner,
  assistant_type: 'curator',
  assistant_version: 1,
  model: 'gpt-test',
  created_at: 1000,
  deadline_at: T0 + 3_600_000,
  ...extra
})

export const profile = (id: string, extra: Partial<AssistantProfile> = {}): AssistantProfile => ({
  id,
  name: id,
  description: `The ${id}`,
  model: 'gpt-test',
  instructions: 'Be helpful.',
  tools: ['get_time'],
  temperature: 0.7,
  top_p: null,
  accepts_sampling: true,
  max_output_tokens: 1000,
  daily_token_cap: 0,
  client_tools: [],
  aliases: [],
  accepts_additional_instructions: false,
  show_tool_outputs: false,
  response_format: null,
  metadata: {},
  created_at: 1,
  ...extra
})

export const limits = (extra: Partial<BudgetLimits> = {}): BudgetLimits => ({
  userTokens: 0, globalTokens: 0, userAudioSeconds: 0, assistantTokens: 0, ...extra
})

export const reservation = (id: string, extra: Partial<Reservation> = {}): Reservation => ({
  id, day: DAY, user: 'alice', assistant: 'curator', tokens: 0, audio_seconds: 0, expires_at: T0 + 600_000, ...extra
})

export const usage = (extra: Partial<LedgerRow> = {}): LedgerRow => ({
  day: DAY,
  user: 'alice',
  assistant: 'curator',
  model: 'gpt-test',
  input_tokens: 0,
  cached_tokens: 0,
  cache_write_tokens: 0,
  output_tokens: 0,
  reasoning_tokens: 0,
  total_tokens: 0,
  audio_seconds: 0,
  runs: 0,
  cost_usd: 0,
  ...extra
})

export const ids = <T extends { id: string }>(page: Page<T>) => page.data.map(r => r.id)
export const count = <T>(values: T[], wanted: T) => values.filter(v => v === wanted).length

/** Every id across all pages, and the number of pages it took. */
export async function walk<T extends { id: string }> (list: (q: PageQuery) => Promise<Page<T>>, limit: number, order: 'asc' | 'desc') {
  const all: string[] = []
  let after: string | undefined
  let pages = 0
  for (;;) {
    const page = await list({ limit, order, after })
    pages++
    all.push(...ids(page))
    if (!page.hasMore) return { all, pages }
    after = page.data[page.data.length - 1].id
    if (pages > 50) throw new Error('pagination does not end')
  }
}
