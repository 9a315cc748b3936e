// The identity and context fields of every response request, so a suite can assert what the gateway
// sent upstream ("a safety_identifier on every request, never the raw user id") without message bodies.

export interface RequestLogEntry {
  /** 1, 2, 3, … over the simulator's life (reset() starts again at 1). */
  seq: number
  /** Epoch milliseconds. */
  at: number
  operation: 'createResponse'
  /** 200 when the response was created, else the status of the refusal. */
  status: number
  /** The refusal's code (or message when it has none). */
  error: string | null
  response_id: string | null
  model: string | null
  conversation: string | null
  previous_response_id: string | null
  background: boolean
  stream: boolean
  store: boolean
  safety_identifier: string | null
  prompt_cache_key: string | null
  truncation: string | null
  context_management: unknown[] | null
  user: string | null
}

export interface RequestLogQuery {
  /** Entries with a larger seq only. */
  after?: number
  /** The latest N entries (after filtering). */
  limit?: number
  operation?: string
}

const str = (value: unknown): string | null => typeof value === 'string' ? value : null

/** The logged view of a `POST /v1/responses` body. */
export function responseRequestEntry (body: Record<string, unknown>): Omit<RequestLogEntry, 'seq' | 'at'> {
  const conversation = body.conversation
  return {
    operation: 'createResponse',
    status: 200,
    error: null,
    response_id: null,
    model: str(body.model),
    conversation: typeof conversation === 'string' ? conversation : str((conversation as { id?: unknown } | null | undefined)?.id),
    previous_response_id: str(body.previous_response_id),
    background: body.background === true,
    stream: body.stream === true,
    store: body.store !== false,
    safety_identifier: str(body.safety_identifier),
    prompt_cache_key: str(body.prompt_cache_key),
    truncation: str(body.truncation),
    context_management: Array.isArray(body.context_management) ? structuredClone(body.context_management) : null,
    user: str(body.user)
  }
}

/** The latest `size` entries; older ones are forgotten in batches so recording stays O(1) amortised. */
export class RequestLog {
  #entries: RequestLogEntry[] = []
  #seq = 0
  #size: number

  constructor (size: number) {
    this.#size = Math.max(1, size)
  }

  /** Records an entry and returns it; the caller may fill in its outcome later. */
  record (entry: Omit<RequestLogEntry, 'seq' | 'at'>): RequestLogEntry {
    const full: RequestLogEntry = { seq: ++this.#seq, at: Date.now(), ...entry }
    this.#entries.push(full)
    if (this.#entries.length > this.#size + Math.ceil(this.#size / 8)) this.#entries.splice(0, this.#entries.length - this.#size)
    return full
  }

  list (query: RequestLogQuery = {}): RequestLogEntry[] {
    let out = this.#entries.length > this.#size ? this.#entries.slice(-this.#size) : this.#entries
    if (query.after !== undefined) out = out.filter((e) => e.seq > (query.after as number))
    if (query.operation !== undefined) out = out.filter((e) => e.operation === query.operation)
    if (query.limit !== undefined) out = out.slice(Math.max(0, out.length - query.limit))
    return out.map((e) => ({ ...e, context_management: e.context_management && structuredClone(e.context_management) }))
  }

  clear (): void {
    this.#entries = []
    this.#seq = 0
  }

  /** Entries recorded since start or reset (forgotten ones included). */
  get total (): number {
    return this.#seq
  }
}
