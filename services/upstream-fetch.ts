import { Pool, type Dispatcher } from 'undici'

/**
 * Idle keep-alive connections are kept this long (a server's own `keep-alive: timeout=` hint, less
 * two seconds, wins when it is shorter): a read after a quiet spell reuses a connection instead of
 * paying a new TCP and TLS handshake to OpenAI.
 */
const KEEP_ALIVE_MS = 30_000

type RawHeaders = Record<string, string | string[] | undefined>

/** The part of the WHATWG Headers the SDK and the gateway read, over undici's plain header object (names lower-case). */
class UpstreamHeaders {
  readonly #raw: RawHeaders
  constructor (raw: RawHeaders) {
    this.#raw = raw
  }

  get (name: string): string | null {
    const value = this.#raw[name.toLowerCase()]
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
  }

  has (name: string): boolean {
    return this.#raw[name.toLowerCase()] !== undefined
  }

  getSetCookie (): string[] {
    const value = this.#raw['set-cookie']
    return value === undefined ? [] : Array.isArray(value) ? value : [value]
  }

  * entries (): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.#raw).sort()) {
      const value = this.get(name)
      if (value !== null) yield [name, value]
    }
  }

  * keys (): IterableIterator<string> {
    for (const [name] of this.entries()) yield name
  }

  * values (): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value
  }

  forEach (callback: (value: string, name: string, headers: UpstreamHeaders) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this)
  }

  [Symbol.iterator] (): IterableIterator<[string, string]> {
    return this.entries()
  }
}

/**
 * What the openai SDK reads of a fetch Response (status, headers, url, text/json, and the body as an
 * async iterable for its SSE decoder), over undici's own response: no WHATWG Request, Response,
 * Headers or ReadableStream is built for an upstream call.
 */
class UpstreamResponse {
  readonly status: number
  readonly statusText = ''
  readonly ok: boolean
  readonly redirected = false
  readonly type = 'basic'
  readonly url: string
  readonly headers: UpstreamHeaders
  readonly body: Dispatcher.ResponseData['body']

  constructor (status: number, url: string, headers: RawHeaders, body: Dispatcher.ResponseData['body']) {
    this.status = status
    this.ok = status >= 200 && status < 300
    this.url = url
    this.headers = new UpstreamHeaders(headers)
    this.body = body
  }

  get bodyUsed (): boolean {
    return this.body.bodyUsed
  }

  text (): Promise<string> {
    return this.body.text()
  }

  json (): Promise<unknown> {
    return this.body.json()
  }

  arrayBuffer (): Promise<ArrayBuffer> {
    return this.body.arrayBuffer()
  }

  bytes (): Promise<Uint8Array> {
    return this.body.bytes()
  }
}

export interface UpstreamTransport {
  /** A `fetch` for the openai SDK: requests to the origin of `baseURL` go through the pool. */
  fetch: typeof fetch
  /** Ends the pool's connections (at shutdown). */
  close (): Promise<void>
}

const urlOf = (input: string | URL | Request) => typeof input === 'string' ? input : input instanceof URL ? input.href : input.url

/**
 * The transport under the openai SDK: one keep-alive undici pool for OpenAI's origin, driven with
 * `pool.request` (undici's core API) instead of the WHATWG fetch machinery, whose Request, Headers,
 * Response and web streams per call cost more CPU and garbage than the call itself on a fast link.
 * It follows no redirect: a 3xx comes back as it is and the SDK treats it as an error, so the key and
 * the caller's content never go to another host.
 *
 * Bodies other than a string or bytes (the multipart uploads, streamed from their spool) keep Node's
 * fetch, which the upload code's memory behaviour was built and tested on; so does a URL outside the
 * origin, which the SDK never builds.
 */
export function createUpstreamTransport (baseURL: string): UpstreamTransport {
  const origin = new URL(baseURL).origin
  const prefix = `${origin}/`
  const pool = new Pool(origin, { keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS })

  const upstreamFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = urlOf(input)
    const body = init?.body
    if (!url.startsWith(prefix) || !(body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array)) {
      return fetch(input, { ...init, redirect: init?.redirect === 'error' ? 'error' : 'manual' })
    }
    const res = await pool.request({
      method: (init?.method ?? 'GET') as Dispatcher.HttpMethod,
      path: url.slice(origin.length),
      // The SDK's Headers: iterable as [name, value] pairs, which undici takes as they are.
      headers: init?.headers as Iterable<[string, string]> | undefined,
      body: body ?? null,
      signal: init?.signal ?? undefined
    })
    return new UpstreamResponse(res.statusCode, url, res.headers, res.body) as unknown as Response
  }

  return {
    fetch: upstreamFetch as typeof fetch,
    close: () => pool.close()
  }
}
