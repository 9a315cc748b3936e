// The deterministic stand-in for a model. It reads the latest user message (or the function_call_output
// items sent after it) and answers according to the directives documented in simulator/README.md.
// Same input, same output: tests can predict every word.

export type Item = Record<string, unknown> & { id: string, type: string }

export interface PlannedCall {
  name: string
  arguments: string
}

export interface SafetyTrigger {
  notice: 'warning' | 'deactivation'
  /** The webhook's data carries only the case id (`[safety:…:case-only]`). */
  caseOnly: boolean
}

export interface Plan {
  /** The assistant message text, already truncated when the response ends incomplete; null for none. */
  text: string | null
  calls: PlannedCall[]
  status: 'completed' | 'incomplete' | 'failed'
  /** Overrides the configured generation time ([slow:MS]). */
  generationMs: number | null
  /** Stays queued forever ([stuck]). */
  stuck: boolean
  outputTokens: number
  /** A safety notice raised when the response ends ([safety:warning], [safety:deactivation]). */
  safety: SafetyTrigger | null
}

export interface PlanInput {
  model: string
  /** Items of this request, normalized. */
  input: Item[]
  /** Items the model sees before the input: the conversation or previous responses. */
  context: Item[]
  tools: Array<Record<string, unknown>>
  toolChoice: unknown
  parallelToolCalls: boolean
  maxOutputTokens: number | null
}

const FILLER = ['The', 'simulator', 'streams', 'this', 'deterministic', 'answer', 'one', 'word', 'at', 'a', 'time', 'so', 'tests', 'can', 'count', 'every', 'token.']

/** Token estimate used for all usage figures: a quarter of the characters, rounded up. */
export function tokens (text: string): number {
  return Math.ceil(text.length / 4)
}

function partsText (parts: unknown): string {
  if (typeof parts === 'string') return parts
  if (!Array.isArray(parts)) return ''
  let out = ''
  for (const part of parts) {
    if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      out += (out ? '\n' : '') + (part as { text: string }).text
    }
  }
  return out
}

/** The text of an item as the model "reads" it (and as usage counts it). */
export function itemText (item: Item): string {
  switch (item.type) {
    case 'message': return partsText(item.content)
    case 'function_call': return `${String(item.name)} ${String(item.arguments)}`
    case 'function_call_output': return partsText(item.output)
    case 'compaction': return typeof item.encrypted_content === 'string' ? item.encrypted_content : ''
    default: return ''
  }
}

interface Directives {
  len: number | null
  calls: PlannedCall[]
  fail: boolean
  incomplete: boolean
  slowMs: number | null
  stuck: boolean
  safety: SafetyTrigger | null
  /** The text with directives removed and whitespace collapsed. */
  rest: string
}

/** Finds the `]` closing a `[call:name {json}]` directive, skipping brackets inside JSON strings. */
function closingBracket (text: string, from: number): number {
  let depth = 0
  let inString = false
  for (let i = from; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
    } else if (c === '"') {
      inString = true
    } else if (c === '{' || c === '[') {
      depth++
    } else if (c === '}') {
      depth--
    } else if (c === ']') {
      if (depth <= 0) return i
      depth--
    }
  }
  // Malformed arguments (unbalanced): fall back to the first `]`, so tests can still send them.
  return text.indexOf(']', from)
}

export function parseDirectives (text: string): Directives {
  const d: Directives = { len: null, calls: [], fail: false, incomplete: false, slowMs: null, stuck: false, safety: null, rest: '' }
  let rest = ''
  let i = 0
  while (i < text.length) {
    const open = text.indexOf('[', i)
    if (open === -1) { rest += text.slice(i); break }
    rest += text.slice(i, open)
    const call = /^\[call:([A-Za-z0-9_.-]+)/.exec(text.slice(open, open + 80))
    if (call) {
      const argsStart = open + call[0].length
      const close = closingBracket(text, argsStart)
      if (close !== -1) {
        const args = text.slice(argsStart, close).trim()
        d.calls.push({ name: call[1], arguments: args === '' ? '{}' : args })
        i = close + 1
        continue
      }
    }
    const safety = /^\[safety:(warning|deactivation)(:case-only)?\]/.exec(text.slice(open, open + 40))
    if (safety) {
      d.safety = { notice: safety[1] as SafetyTrigger['notice'], caseOnly: safety[2] !== undefined }
      i = open + safety[0].length
      continue
    }
    const simple = /^\[(len|slow):(\d+)\]|^\[(fail|incomplete|stuck)\]/.exec(text.slice(open, open + 24))
    if (simple) {
      if (simple[1] === 'len') d.len = Number(simple[2])
      else if (simple[1] === 'slow') d.slowMs = Number(simple[2])
      else if (simple[3] === 'fail') d.fail = true
      else if (simple[3] === 'incomplete') d.incomplete = true
      else d.stuck = true
      i = open + simple[0].length
      continue
    }
    rest += '['
    i = open + 1
  }
  d.rest = rest.replace(/\s+/g, ' ').trim()
  return d
}

function lastUserText (items: Item[]): string | null {
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]
    if (item.type === 'message' && item.role === 'user') return itemText(item)
  }
  return null
}

function defaultAnswer (quote: string, model: string): string {
  return `You said: "${quote}". This is a simulated answer from ${model}. ` +
    'It is generated word by word by the OpenAI upstream simulator, deterministically, so that tests can predict every word of it.'
}

function words (count: number): string {
  const out: string[] = []
  for (let i = 0; i < count; i++) out.push(FILLER[i % FILLER.length])
  return out.join(' ')
}

function toolsOffered (tools: Array<Record<string, unknown>>, toolChoice: unknown): boolean {
  return tools.length > 0 && toolChoice !== 'none'
}

export function plan (input: PlanInput): Plan {
  // The model answers the latest turn: tool outputs sent after the latest user message, else that message.
  let lastUser = -1
  input.input.forEach((item, i) => { if (item.type === 'message' && item.role === 'user') lastUser = i })
  const outputs = input.input.slice(lastUser + 1).filter((i) => i.type === 'function_call_output')
  const userText = lastUser === -1 ? null : itemText(input.input[lastUser])
  let text: string | null
  let d: Directives
  if (outputs.length > 0) {
    // Directives inside tool outputs are obeyed too, so a test tool can make the model call again.
    d = parseDirectives(outputs.map((o) => itemText(o)).join('\n'))
    text = outputs.map((o) => `Tool result for ${String(o.call_id)}: ${itemText(o)}`).join('\n')
  } else {
    d = parseDirectives(userText ?? lastUserText(input.context) ?? '')
    text = d.len !== null ? words(d.len) : defaultAnswer(d.rest, input.model)
  }

  let calls: PlannedCall[] = []
  if (toolsOffered(input.tools, input.toolChoice)) {
    calls = d.calls
    if (calls.length === 0 && input.toolChoice === 'required' && outputs.length === 0) {
      const first = input.tools.find((t) => t.type === 'function' && typeof t.name === 'string')
      if (first) calls = [{ name: String(first.name), arguments: '{}' }]
    }
    if (!input.parallelToolCalls) calls = calls.slice(0, 1)
  }
  if (calls.length > 0) text = null

  let status: Plan['status'] = d.fail ? 'failed' : 'completed'
  if (status === 'completed' && text !== null) {
    const cap = input.maxOutputTokens
    if (d.incomplete) {
      status = 'incomplete'
      text = text.slice(0, Math.ceil(text.length / 2))
    }
    if (cap !== null && tokens(text) > cap) {
      status = 'incomplete'
      text = text.slice(0, cap * 4)
    }
  } else if (status === 'completed' && d.incomplete) {
    status = 'incomplete'
  }
  if (status === 'failed') { text = null; calls = [] }

  const outputTokens = tokens(text ?? '') + calls.reduce((n, c) => n + tokens(`${c.name} ${c.arguments}`), 0)
  return { text, calls, status, generationMs: d.slowMs, stuck: d.stuck, outputTokens, safety: d.safety }
}
