// OpenAI's webhooks as Standard Webhooks: signed, at-least-once, retried with backoff, unordered.
// Delivery runs beside the simulator on its own timers and sockets: emit() only queues, so a slow or
// absent receiver never delays a response. Loss, duplicates, stale timestamps and bad signatures are
// injectable and deterministic (counters, or probabilities drawn from a seeded generator).
import { createHmac } from 'node:crypto'
import http from 'node:http'
import type { ClientRequest } from 'node:http'
import https from 'node:https'
import { Timers } from './core.ts'
import type { Latency } from './faults.ts'
import { latencyMs } from './faults.ts'
import { hexId } from './ids.ts'

export interface WebhookSettings {
  /** Where events are POSTed; null turns delivery off. */
  url: string | null
  /** `whsec_<base64>` (as OpenAI issues them) or any other string (used as UTF-8 bytes, like the SDK). */
  secret: string | null
  /** Attempts per delivery, the first included. */
  maxAttempts: number
  /** Wait before the first retry; doubles per retry up to maxBackoffMs. */
  backoffMs: number
  maxBackoffMs: number
  /** An attempt not answered within this is a failure (and retried). */
  timeoutMs: number
  /** Added before the first attempt of every delivery. */
  latency: Latency
  /** Lose the next N events (never delivered, never retried). */
  dropNext: number
  /** …or each event with this probability (seeded). */
  dropProbability: number
  /** Deliver the next N events twice, with the same webhook-id. */
  duplicateNext: number
  duplicateProbability: number
  /** Seed of the generator behind the probabilities; setting it restarts the sequence. */
  seed: number
  /** The next N attempts carry a webhook-timestamp staleSeconds in the past (correctly signed). */
  staleNext: number
  staleSeconds: number
  /** The next N attempts carry a signature made with another key. */
  badSignatureNext: number
}

export type WebhookPatch = Partial<Omit<WebhookSettings, 'latency'>> & { latency?: Partial<Latency> }

export interface WebhookEvent {
  id: string
  object: 'event'
  type: string
  created_at: number
  data: Record<string, unknown>
}

export interface WebhookDelivery {
  webhookId: string
  event: WebhookEvent
  /** A second delivery of the same event (duplicate injection). */
  duplicate: boolean
  attempts: number
  /** Per attempt: the HTTP status, or the connection error's code (`ETIMEDOUT` for the timeout). */
  results: Array<number | string>
  outcome: 'pending' | 'acknowledged' | 'failed' | 'dropped'
}

export interface WebhookStats {
  /** Events raised while delivery was on. */
  events: number
  /** HTTP attempts made (retries and duplicates included). */
  sent: number
  /** Attempts answered 2xx. */
  acknowledged: number
  /** Attempts that failed and were scheduled again. */
  retried: number
  /** Deliveries given up after maxAttempts. */
  failed: number
  /** Events lost on purpose (dropNext / dropProbability). */
  dropped: number
  /** Extra deliveries made by duplicate injection. */
  duplicated: number
  /** Deliveries waiting for their latency, a retry or an answer. */
  pending: number
}

export const DEFAULT_WEBHOOKS: WebhookSettings = Object.freeze({
  url: null,
  secret: null,
  maxAttempts: 5,
  backoffMs: 500,
  maxBackoffMs: 30_000,
  timeoutMs: 5_000,
  latency: Object.freeze({ fixedMs: 0, jitterMs: 0 }),
  dropNext: 0,
  dropProbability: 0,
  duplicateNext: 0,
  duplicateProbability: 0,
  seed: 1,
  staleNext: 0,
  staleSeconds: 600,
  badSignatureNext: 0
}) as WebhookSettings

const MAX_LOGGED_DELIVERIES = 1000
const USER_AGENT = 'OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)'

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function generator (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

/** The key the SDK verifies with: the base64 payload of a `whsec_` secret, else the UTF-8 bytes. */
export function signingKey (secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8')
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, the Standard Webhooks signature. */
export function sign (key: Buffer, webhookId: string, timestamp: string, body: string): string {
  return 'v1,' + createHmac('sha256', key).update(`${webhookId}.${timestamp}.${body}`).digest('base64')
}

function checkSettings (s: WebhookSettings): void {
  const fail = (message: string) => { throw new TypeError(`webhooks: ${message}`) }
  if (s.url !== null) {
    let url: URL | null = null
    try { url = new URL(s.url) } catch { fail(`url is not a URL: ${s.url}`) }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') fail('url must be http: or https:')
  }
  if (s.secret !== null && (typeof s.secret !== 'string' || s.secret === '')) fail('secret must be a non-empty string')
  if (!Number.isInteger(s.maxAttempts) || s.maxAttempts < 1) fail('maxAttempts must be an integer ≥ 1')
  for (const key of ['backoffMs', 'maxBackoffMs', 'timeoutMs', 'staleSeconds'] as const) {
    if (typeof s[key] !== 'number' || !(s[key] >= 0)) fail(`${key} must be a non-negative number`)
  }
  for (const key of ['dropNext', 'duplicateNext', 'staleNext', 'badSignatureNext'] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 0) fail(`${key} must be a non-negative integer`)
  }
  for (const key of ['dropProbability', 'duplicateProbability'] as const) {
    if (typeof s[key] !== 'number' || !(s[key] >= 0 && s[key] <= 1)) fail(`${key} must be between 0 and 1`)
  }
  if (!Number.isFinite(s.seed)) fail('seed must be a number')
  if (!(s.latency.fixedMs >= 0) || !(s.latency.jitterMs >= 0)) fail('latency must be non-negative')
}

export class WebhookSender {
  #settings: WebhookSettings
  #initial: WebhookSettings
  #key: Buffer | null = null
  #random: () => number
  #timers = new Timers()
  #inFlight = new Set<ClientRequest>()
  #agent: http.Agent | null = null
  #log: WebhookDelivery[] = []
  #stats: WebhookStats = WebhookSender.#zero()
  #idle: Array<() => void> = []
  #closed = false
  // Bumped by reset() and close(): callbacks of an older epoch (a destroyed request's error) do nothing.
  #epoch = 0

  constructor (initial: WebhookPatch = {}) {
    this.#initial = WebhookSender.#merge(DEFAULT_WEBHOOKS, initial)
    this.#settings = { ...this.#initial }
    this.#random = generator(this.#settings.seed)
    this.#applied()
  }

  static #zero (): WebhookStats {
    return { events: 0, sent: 0, acknowledged: 0, retried: 0, failed: 0, dropped: 0, duplicated: 0, pending: 0 }
  }

  static #merge (base: WebhookSettings, patch: WebhookPatch): WebhookSettings {
    const { latency, ...rest } = patch
    const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined))
    const next: WebhookSettings = { ...base, ...defined, latency: { ...base.latency, ...latency } }
    checkSettings(next)
    return next
  }

  #applied (): void {
    this.#key = this.#settings.secret === null ? null : signingKey(this.#settings.secret)
  }

  /** On when a URL and a secret are set; the check every finished response pays when it is off. */
  get enabled (): boolean {
    return this.#settings.url !== null && this.#key !== null && !this.#closed
  }

  configure (patch: WebhookPatch): void {
    this.#settings = WebhookSender.#merge(this.#settings, patch)
    if (patch.seed !== undefined) this.#random = generator(this.#settings.seed)
    this.#applied()
  }

  /** The settings, the secret masked. */
  settings (): Omit<WebhookSettings, 'secret'> & { secret: string | null } {
    const secret = this.#settings.secret
    return { ...this.#settings, latency: { ...this.#settings.latency }, secret: secret === null ? null : `${secret.slice(0, 6)}…${secret.slice(-4)}` }
  }

  stats (): WebhookStats {
    return { ...this.#stats }
  }

  /** The latest deliveries (at most 1000), oldest first. */
  deliveries (): WebhookDelivery[] {
    return this.#log.map((d) => ({ ...d, results: [...d.results], event: structuredClone(d.event) }))
  }

  /** Resolves once no delivery is pending (at once when none is). */
  idle (): Promise<void> {
    if (this.#stats.pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  /** Queues an event; returns it, or null when delivery is off. Never waits for anything. */
  emit (type: string, data: Record<string, unknown>): WebhookEvent | null {
    if (!this.enabled) return null
    const event: WebhookEvent = { id: hexId('evt_').slice(0, 36), object: 'event', type, created_at: Math.floor(Date.now() / 1000), data }
    const s = this.#settings
    this.#stats.events++
    const delivery: WebhookDelivery = { webhookId: hexId('wh_').slice(0, 35), event, duplicate: false, attempts: 0, results: [], outcome: 'pending' }
    this.#remember(delivery)
    let drop = false
    if (s.dropNext > 0) {
      s.dropNext--
      drop = true
    } else if (s.dropProbability > 0 && this.#random() < s.dropProbability) {
      drop = true
    }
    if (drop) {
      delivery.outcome = 'dropped'
      this.#stats.dropped++
      return event
    }
    let twice = false
    if (s.duplicateNext > 0) {
      s.duplicateNext--
      twice = true
    } else if (s.duplicateProbability > 0 && this.#random() < s.duplicateProbability) {
      twice = true
    }
    const body = JSON.stringify(event)
    this.#start(delivery, body, twice)
    return event
  }

  #remember (delivery: WebhookDelivery): void {
    this.#log.push(delivery)
    if (this.#log.length > MAX_LOGGED_DELIVERIES + 100) this.#log.splice(0, this.#log.length - MAX_LOGGED_DELIVERIES)
  }

  #start (delivery: WebhookDelivery, body: string, twice: boolean): void {
    this.#stats.pending++
    const epoch = this.#epoch
    const done = () => {
      if (epoch !== this.#epoch) return
      this.#stats.pending--
      if (twice && !this.#closed) {
        // The same event again, same webhook-id: what a receiver sees when its 2xx was lost.
        const copy: WebhookDelivery = { ...delivery, duplicate: true, attempts: 0, results: [], outcome: 'pending' }
        this.#remember(copy)
        this.#stats.duplicated++
        this.#start(copy, body, false)
      }
      if (this.#stats.pending === 0) for (const resolve of this.#idle.splice(0)) resolve()
    }
    this.#timers.after(latencyMs(this.#settings.latency), () => this.#attempt(delivery, body, done))
  }

  #attempt (delivery: WebhookDelivery, body: string, done: () => void): void {
    const s = this.#settings
    const epoch = this.#epoch
    if (this.#closed || s.url === null || this.#key === null) {
      delivery.outcome = 'failed'
      done()
      return
    }
    delivery.attempts++
    this.#stats.sent++
    let timestamp = Math.floor(Date.now() / 1000)
    if (s.staleNext > 0) {
      s.staleNext--
      timestamp -= s.staleSeconds
    }
    let key = this.#key
    if (s.badSignatureNext > 0) {
      s.badSignatureNext--
      key = Buffer.concat([key, Buffer.from('tampered')])
    }
    const ts = String(timestamp)
    const url = new URL(s.url)
    const secure = url.protocol === 'https:'
    this.#agent ??= new http.Agent({ keepAlive: true, maxSockets: 128 })
    let settled = false
    const finish = (result: number | string) => {
      if (settled || epoch !== this.#epoch) return
      settled = true
      delivery.results.push(result)
      if (typeof result === 'number' && result >= 200 && result < 300) {
        delivery.outcome = 'acknowledged'
        this.#stats.acknowledged++
        done()
      } else if (delivery.attempts < s.maxAttempts) {
        this.#stats.retried++
        const wait = Math.min(s.maxBackoffMs, s.backoffMs * 2 ** (delivery.attempts - 1))
        this.#timers.after(wait, () => this.#attempt(delivery, body, done))
      } else {
        delivery.outcome = 'failed'
        this.#stats.failed++
        done()
      }
    }
    const req = (secure ? https : http).request(url, {
      method: 'POST',
      agent: secure ? undefined : this.#agent,
      timeout: s.timeoutMs,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': USER_AGENT,
        'webhook-id': delivery.webhookId,
        'webhook-timestamp': ts,
        'webhook-signature': sign(key, delivery.webhookId, ts, body)
      }
    }, (res) => {
      res.resume()
      res.on('end', () => { this.#inFlight.delete(req); finish(res.statusCode ?? 0) })
      res.on('error', () => { this.#inFlight.delete(req); finish(res.statusCode ?? 0) })
    })
    this.#inFlight.add(req)
    req.on('timeout', () => req.destroy(Object.assign(new Error('webhook attempt timed out'), { code: 'ETIMEDOUT' })))
    req.on('error', (error: NodeJS.ErrnoException) => {
      this.#inFlight.delete(req)
      finish(error.code ?? 'ERROR')
    })
    req.end(body)
  }

  /** Forgets every delivery and counter and restores the start settings. */
  reset (): void {
    this.#stop()
    this.#log = []
    this.#stats = WebhookSender.#zero()
    this.#settings = { ...this.#initial }
    this.#random = generator(this.#settings.seed)
    this.#applied()
    for (const resolve of this.#idle.splice(0)) resolve()
  }

  #stop (): void {
    this.#epoch++
    this.#timers.clear()
    for (const req of this.#inFlight) req.destroy()
    this.#inFlight.clear()
    for (const d of this.#log) if (d.outcome === 'pending') d.outcome = 'failed'
    this.#stats.pending = 0
  }

  /** Stops every pending delivery and timer; nothing is sent afterwards. */
  close (): void {
    this.#closed = true
    this.#stop()
    this.#agent?.destroy()
    this.#agent = null
    for (const resolve of this.#idle.splice(0)) resolve()
  }

  get timers (): number {
    return this.#timers.size
  }
}
