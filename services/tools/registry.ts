import { createHmac } from 'node:crypto'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyBaseLogger } from 'fastify'
import type { FunctionTool } from 'openai/resources/responses/responses'
import type { WebhookTool } from '../../schemas/assistants.ts'
import { ConfigError } from '../config.ts'
import type { Metrics } from '../metrics.ts'
import { failSpan, NO_TRACING, type Tracing } from '../telemetry/tracing.ts'
import type { BuiltinTool, ToolContext } from './types.ts'
import type { WebhookClient } from './webhook.ts'

export interface ToolCall { name: string, arguments: string, call_id: string }

export interface ToolRegistryOptions {
  builtins: BuiltinTool[]
  webhooks: WebhookTool[]
  webhookSecret?: string
  defaultTimeoutMs: number
  log: FastifyBaseLogger
  metrics?: Metrics
  /** How webhook tools are called (webhook.ts: destinations, no redirects, bounded answers); needed when there are any. */
  webhookClient?: WebhookClient
  /** An execute_tool span per call; webhook calls carry its traceparent. */
  tracing?: Tracing
}

/** Tool outputs are fed back to the model; keep them bounded. */
const MAX_OUTPUT_CHARS = 64 * 1024

interface Entry {
  /** The conventions' gen_ai.tool.type: in-process functions, or extensions calling a service. */
  type: 'function' | 'extension'
  definition: FunctionTool
  validate: ValidateFunction
  timeoutMs: number
  run: (args: Record<string, unknown>, context: ToolContext) => Promise<unknown>
}

export class ToolError extends Error {
  readonly kind: string
  constructor (kind: string, message: string) {
    super(message)
    this.kind = kind
  }
}

/** Signature of a webhook tool call: HMAC-SHA256 over "<timestamp>.<body>" with the shared secret. */
export function signWebhook (secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/**
 * Every tool an assistant may be given: built-in TypeScript tools and webhook tools. Calls are
 * validated against the tool's schema and bounded in time; whatever goes wrong (unknown tool, bad
 * arguments, timeout, failure) becomes a tool output the model can read, so the run continues.
 */
export function createToolRegistry (options: ToolRegistryOptions) {
  const { log, metrics, defaultTimeoutMs } = options
  const tracing = options.tracing ?? NO_TRACING
  const ajv = new Ajv({ strict: false, allErrors: false })
  addFormats.default(ajv)
  const tools = new Map<string, Entry>()

  for (const tool of options.builtins) {
    tools.set(tool.name, {
      type: 'function',
      definition: { type: 'function', name: tool.name, description: tool.description, parameters: tool.parameters, strict: false },
      validate: ajv.compile(tool.parameters),
      timeoutMs: defaultTimeoutMs,
      run: tool.run
    })
  }
  for (const hook of options.webhooks) {
    if (tools.has(hook.name)) throw new ConfigError(`Invalid configuration: AGENTS_FILE: webhook tool ${hook.name} is named like a built-in tool or another webhook tool`)
    if (!options.webhookSecret) throw new ConfigError(`Invalid configuration: TOOL_WEBHOOK_SECRET is required: webhook tool ${hook.name} signs its calls with it`)
    const secret = options.webhookSecret
    const client = options.webhookClient
    if (!client) throw new Error(`webhook tool ${hook.name} needs a webhook client`)
    client.checkUrl(hook.name, hook.url)
    tools.set(hook.name, {
      type: 'extension',
      definition: { type: 'function', name: hook.name, description: hook.description, parameters: hook.parameters, strict: false },
      validate: ajv.compile(hook.parameters),
      timeoutMs: hook.timeout_ms ?? defaultTimeoutMs,
      run: async (args, context) => {
        const body = JSON.stringify({ tool: hook.name, arguments: args, user_id: context.userId, run_id: context.runId, thread_id: context.threadId })
        const timestamp = String(Math.floor(Date.now() / 1000))
        const headers = { 'content-type': 'application/json', 'x-gateway-timestamp': timestamp, 'x-gateway-signature': signWebhook(secret, timestamp, body) }
        // The tool service can join the run's trace; the signature covers the timestamp and body, not this.
        tracing.inject(headers)
        const text = await client.post(hook.name, hook.url, headers, body, context.signal)
        try {
          return JSON.parse(text)
        } catch {
          return text
        }
      }
    })
  }

  async function runWithTimeout (entry: Entry, args: Record<string, unknown>, context: Omit<ToolContext, 'signal'>, outer: AbortSignal) {
    const controller = new AbortController()
    const abort = () => controller.abort()
    outer.addEventListener('abort', abort, { once: true })
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        entry.run(args, { ...context, signal: controller.signal }),
        new Promise((_resolve, reject) => {
          timer = setTimeout(() => {
            controller.abort()
            reject(new ToolError('timeout', `the tool did not answer within ${entry.timeoutMs} ms`))
          }, entry.timeoutMs)
        })
      ])
    } finally {
      clearTimeout(timer)
      outer.removeEventListener('abort', abort)
    }
  }

  function output (value: unknown): string {
    const text = typeof value === 'string' ? value : JSON.stringify(value ?? null)
    return text.length > MAX_OUTPUT_CHARS ? `${text.slice(0, MAX_OUTPUT_CHARS)}…[truncated]` : text
  }

  /** One call, whatever happens: the output the model reads and how it went (ok, or the kind of failure). */
  async function attempt (entry: Entry | undefined, call: ToolCall, context: Omit<ToolContext, 'signal'>, signal: AbortSignal): Promise<{ output: string, outcome: string }> {
    let outcome = 'ok'
    try {
      if (!entry) throw new ToolError('unknown_tool', `no tool named ${call.name} is available`)
      let args: unknown
      try {
        args = JSON.parse(call.arguments || '{}')
      } catch {
        throw new ToolError('invalid_arguments', 'arguments are not valid JSON')
      }
      if (!entry.validate(args)) {
        const issue = entry.validate.errors?.[0]
        throw new ToolError('invalid_arguments', `arguments${issue?.instancePath ?? ''} ${issue?.message ?? 'do not match the schema'}`)
      }
      return { output: output(await runWithTimeout(entry, args as Record<string, unknown>, context, signal)), outcome }
    } catch (err) {
      const kind = err instanceof ToolError ? err.kind : 'tool_failed'
      outcome = kind
      // Only our own messages reach the model; an arbitrary exception could carry internals (URLs, paths).
      const message = err instanceof ToolError ? err.message : 'the tool failed'
      if (!(err instanceof ToolError)) log.warn({ err, tool: call.name, runId: context.runId }, 'tool threw')
      log.info({ tool: call.name, runId: context.runId, kind }, 'tool call failed')
      return { output: JSON.stringify({ error: kind, message }), outcome }
    } finally {
      metrics?.toolCalls.inc({ tool: entry ? call.name : 'unknown', outcome })
    }
  }

  return {
    has: (name: string) => tools.has(name),
    /** Function tool definitions for the upstream request, in the assistant's order. */
    definitions (names: string[]): FunctionTool[] {
      return names.flatMap(name => {
        const entry = tools.get(name)
        return entry ? [entry.definition] : []
      })
    },
    /** Runs one call and returns the output for the model; never throws. An execute_tool span when tracing. */
    async execute (call: ToolCall, allowed: string[], context: Omit<ToolContext, 'signal'>, signal: AbortSignal): Promise<string> {
      const entry = allowed.includes(call.name) ? tools.get(call.name) : undefined
      // The model names the tool: an unknown name is not a span name (nor more than a short attribute).
      const name = entry ? call.name : 'unknown'
      return tracing.span(`execute_tool ${name}`, {
        attributes: {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': call.name.slice(0, 64),
          'gen_ai.tool.call.id': call.call_id,
          ...(entry ? { 'gen_ai.tool.type': entry.type } : {}),
          'assistant_gateway.run.id': context.runId
        }
      }, async span => {
        const args = tracing.content(call.arguments)
        if (args) span?.setAttribute('gen_ai.tool.call.arguments', args)
        const done = await attempt(entry, call, context, signal)
        span?.setAttribute('assistant_gateway.tool.outcome', done.outcome)
        if (done.outcome !== 'ok') failSpan(span, done.outcome)
        const result = tracing.content(done.output)
        if (result) span?.setAttribute('gen_ai.tool.call.result', result)
        return done.output
      })
    }
  }
}
export type ToolRegistry = ReturnType<typeof createToolRegistry>
