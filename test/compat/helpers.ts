import type { Test } from 'tap'
import type { Simulator } from '../../simulator/index.ts'
import { adminToken, userToken } from '../helpers/tokens.ts'
import { headerOf, startCompat, type CompatGateway, type CompatOptions, type WireEntry } from './gateway.ts'
import { openaiV4, openaiV7, type ApiErrorLike, type AssistantStreamLike, type Sdk, type SdkFactory } from './sdk.ts'
import { MESSAGE_KEYS, RUN_KEYS, TEXT_BLOCK_KEYS, TEXT_KEYS, USAGE_KEYS, hasEveryField, textOf, type Message, type Run } from './shapes.ts'

/**
 * What the compatibility suite of issue 14 shares: every Assistants-era call of the official SDK against a
 * real gateway on a real socket, with the SDK's defaults (retries on), once per SDK major.
 */

/**
 * `gap`: the gateway does not do this yet (or the contract has not settled it). The test runs and reports as
 * tap's todo, so the suite stays green while the gap stays visible; remove it once the gateway does.
 */
export type Scenario = (name: string, fn: (t: Test) => Promise<void>, options?: { gap?: string }) => void

/** Registers the scenarios once per SDK major: the latest 4.x (what most Assistants-era SPAs use) and the project's own. */
export function forEachSdk (t: Test, scenarios: (test: Scenario, factory: SdkFactory) => void): void {
  for (const factory of [openaiV4, openaiV7]) {
    const name = factory === openaiV4 ? 'openai@4' : 'openai@7'
    t.test(name, async t => {
      scenarios((title, fn, options = {}) => {
        t.test(title, { timeout: 90_000, ...(options.gap ? { todo: `gap: ${options.gap}` } : {}) }, fn)
      }, factory)
    })
  }
}

export interface Ctx extends CompatGateway {
  /** alice, a user. */
  sdk: Sdk
  /** bob, another user. */
  other: Sdk
  admin: Sdk
}

export type ErrorClass = Sdk['errors'][keyof Sdk['errors']]

export const THREADS = /^\/api\/openai\/threads\/[^/]+$/
export const RUNS = /^\/api\/openai\/threads\/[^/]+\/runs$/
export const MESSAGES = /^\/api\/openai\/threads\/[^/]+\/messages$/
export const ONE_RUN = /^\/api\/openai\/threads\/[^/]+\/runs\/[^/]+$/

export async function setup (t: Test, factory: SdkFactory, options: CompatOptions = {}): Promise<Ctx> {
  const gateway = await startCompat(t, options)
  return {
    ...gateway,
    sdk: factory(gateway.baseURL, userToken('alice')),
    other: factory(gateway.baseURL, userToken('bob')),
    admin: factory(gateway.baseURL, adminToken())
  }
}

/** Awaits a call that must be refused; asserts the SDK's error class and the x-request-id it carries. */
export async function refusal (t: Test, call: Promise<unknown>, expected: ErrorClass, label: string): Promise<ApiErrorLike> {
  try {
    await call
  } catch (err) {
    const got = err as ApiErrorLike
    t.ok(err instanceof expected, `${label}: ${expected.name} (got ${got?.constructor?.name}: ${got?.message})`)
    t.ok(headerOf(got.headers, 'x-request-id'), `${label}: the error carries x-request-id`)
    return got
  }
  t.fail(`${label}: expected ${expected.name}, the call succeeded`)
  return new Error('no error') as ApiErrorLike
}

export async function all<T> (items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}

/** The upstream responses the simulator created for a gateway run (the gateway tags them with its run id). */
export function upstreamOf (sim: Simulator, runId: string): Array<Record<string, unknown>> {
  return sim.requestLog()
    .map(entry => entry.response_id ? sim.peek.response(entry.response_id) : undefined)
    .filter((response): response is NonNullable<typeof response> =>
      (response?.metadata as Record<string, unknown> | undefined)?.gateway_run_id === runId)
}

export const upstreamResponses = (sim: Simulator) => sim.counters()['POST /v1/responses'] ?? 0

export function checkRun (t: Test, run: Run, label: string): void {
  hasEveryField(t, run, RUN_KEYS, label)
  t.equal(run.object, 'thread.run', `${label}: object`)
  if (run.usage) hasEveryField(t, run.usage, USAGE_KEYS, `${label} usage`)
  t.ok(Array.isArray(run.tools), `${label}: tools is an array`)
}

export function checkMessage (t: Test, message: Message, label: string): void {
  hasEveryField(t, message, MESSAGE_KEYS, label)
  t.equal(message.object, 'thread.message', `${label}: object`)
  for (const block of message.content) {
    hasEveryField(t, block, TEXT_BLOCK_KEYS, `${label} content block`)
    if (block.type === 'text') hasEveryField(t, block.text, TEXT_KEYS, `${label} text`)
  }
}

export interface Collected { deltas: string[], done: Message[], events: string[], run: Run, messages: Message[] }

/** What an SPA reads from an AssistantStream through its helpers. */
export async function collect (stream: AssistantStreamLike): Promise<Collected> {
  const deltas: string[] = []
  const done: Message[] = []
  const events: string[] = []
  stream.on('textDelta', delta => { deltas.push(delta.value ?? '') })
  stream.on('messageDone', message => { done.push(message) })
  stream.on('event', event => { events.push(event.event) })
  const run = await stream.finalRun()
  const messages = await stream.finalMessages()
  return { deltas, done, events, run, messages }
}

/** The event names in order, repeats of one name folded, run steps left out (issue 15). */
export function eventOrder (events: string[]): string[] {
  return events.filter(e => !e.startsWith('thread.run.step.')).filter((e, i, list) => e !== list[i - 1])
}

const STREAM_ORDER = ['thread.run.created', 'thread.run.queued', 'thread.run.in_progress', 'thread.message.created',
  'thread.message.in_progress', 'thread.message.delta', 'thread.message.completed', 'thread.run.completed']

export function checkStream (t: Test, got: Collected, label: string): void {
  checkRun(t, got.run, `${label} finalRun()`)
  t.equal(got.run.status, 'completed', `${label}: finalRun() is completed`)
  t.same(eventOrder(got.events), STREAM_ORDER, `${label}: the Assistants events, in order`)
  t.equal(got.done.length, 1, `${label}: one messageDone`)
  const message = got.done[0]
  if (message) {
    checkMessage(t, message, `${label} messageDone`)
    t.match(message, { role: 'assistant', status: 'completed', run_id: got.run.id, thread_id: got.run.thread_id }, `${label}: the whole message`)
    t.ok(got.deltas.length > 1, `${label}: the text came in several deltas`)
    t.equal(got.deltas.join(''), textOf(message), `${label}: textDelta adds up to the message`)
  }
  t.same(got.messages.map(m => m.id), got.done.map(m => m.id), `${label}: finalMessages()`)
}

/** Request-header names a browser would have to preflight: everything the SDK sent but the ones browsers set. */
export function preflightHeaders (entries: WireEntry[]): string[] {
  const browserOwned = new Set(['host', 'connection', 'content-length', 'accept', 'accept-encoding', 'accept-language',
    'user-agent', 'keep-alive', 'transfer-encoding', 'te', 'origin', 'referer', 'sec-fetch-mode'])
  const names = new Set<string>()
  for (const entry of entries) for (const name of Object.keys(entry.headers)) if (!browserOwned.has(name)) names.add(name)
  return [...names].sort()
}

export { farFromReset } from '../helpers/budget-day.ts'
