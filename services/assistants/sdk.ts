import type { AssistantProfile, AssistantUpdateBody, ClientTool } from '../../schemas/assistants.ts'
import { invalidArgument } from '../errors.ts'
import type { ToolRegistry } from '../tools/registry.ts'

/** What an assistant created through the SDK may answer with, unless the admin says otherwise. */
const DEFAULT_MAX_OUTPUT_TOKENS = 4096
/** Reasoning models reject temperature and top_p: a profile for one does not send them. */
const REASONING_MODEL = /^(o\d|gpt-5)/

/**
 * A profile from the Assistants API's assistants.create/update body, over the current profile (null:
 * a new one). A function tool named like a configured server-side tool refers to it; any other function
 * tool is a client tool, run by the SPA. What the body does not mention is kept.
 */
export function profileFromSdk (id: string, body: AssistantUpdateBody, current: AssistantProfile | null, tools: ToolRegistry): AssistantProfile {
  if (body.tool_resources && Object.keys(body.tool_resources).length > 0) {
    throw invalidArgument('tool_resources', 'is not supported: attach files to messages instead')
  }
  if (body.reasoning_effort !== undefined && body.reasoning_effort !== null) {
    throw invalidArgument('reasoning_effort', 'is not supported by the gateway\'s profiles')
  }
  let serverTools = current?.tools ?? []
  let clientTools = current?.client_tools ?? []
  if (body.tools !== undefined) {
    serverTools = []
    clientTools = []
    for (const tool of body.tools) {
      if (tool.type !== 'function') throw invalidArgument('tools', `${tool.type} is an OpenAI-hosted tool the gateway does not offer`)
      const { name, description, parameters } = tool.function
      if (tools.has(name)) {
        serverTools.push(name)
        continue
      }
      const schema = (parameters ?? { type: 'object', properties: {} }) as Record<string, unknown>
      if (schema.type !== 'object') throw invalidArgument('tools', `function ${name}: parameters must be a JSON Schema of type object`)
      clientTools.push({ name, description: description ?? '', parameters: schema as ClientTool['parameters'] })
    }
  }
  const model = body.model ?? current?.model
  if (!model) throw invalidArgument('model', 'is required')
  const keep = <K extends keyof AssistantProfile>(key: K, fallback: AssistantProfile[K]): AssistantProfile[K] =>
    (body as Record<string, unknown>)[key] !== undefined ? (body as Record<string, unknown>)[key] as AssistantProfile[K] : current?.[key] ?? fallback
  return {
    id,
    name: body.name ?? current?.name ?? id,
    description: body.description ?? current?.description ?? '',
    model,
    instructions: body.instructions ?? current?.instructions ?? '',
    tools: serverTools,
    client_tools: clientTools,
    temperature: keep('temperature', null),
    top_p: keep('top_p', null),
    accepts_sampling: body.accepts_sampling ?? current?.accepts_sampling ?? !REASONING_MODEL.test(model),
    max_output_tokens: body.max_output_tokens ?? current?.max_output_tokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
    daily_token_cap: body.daily_token_cap ?? current?.daily_token_cap ?? 0,
    aliases: body.aliases ?? current?.aliases ?? [],
    accepts_additional_instructions: body.accepts_additional_instructions ?? current?.accepts_additional_instructions ?? false,
    show_tool_outputs: body.show_tool_outputs ?? current?.show_tool_outputs ?? false,
    response_format: keep('response_format', null),
    ...(body.context_policy !== undefined ? (body.context_policy === null ? {} : { context_policy: body.context_policy }) : (current?.context_policy ? { context_policy: current.context_policy } : {})),
    metadata: body.metadata === undefined ? current?.metadata ?? {} : body.metadata ?? {}
  }
}
