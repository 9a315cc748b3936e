import type { AssistantTool, AssistantProfile } from '../../schemas/assistants.ts'
import type { ToolRegistry } from '../tools/registry.ts'
import type { ResolvedAssistant } from './service.ts'

/** The functions a profile offers the model, as the Assistants API showed them (no webhook URL, no secret). */
export function toolObjects (profile: Pick<AssistantProfile, 'tools' | 'client_tools'>, tools: ToolRegistry): AssistantTool[] {
  return [
    ...tools.definitions(profile.tools).map(d => ({ name: d.name, description: d.description ?? '', parameters: d.parameters ?? {} })),
    ...profile.client_tools
  ].map(f => ({ type: 'function' as const, function: { name: f.name, description: f.description, parameters: f.parameters } }))
}

/** What every user sees of an assistant: the Assistants API's object without the prompt. */
export function publicView ({ profile, created_at: createdAt }: ResolvedAssistant, tools: ToolRegistry) {
  return {
    id: profile.id,
    object: 'assistant' as const,
    created_at: createdAt,
    name: profile.name,
    description: profile.description,
    model: profile.model,
    instructions: null,
    tools: toolObjects(profile, tools),
    metadata: profile.metadata ?? {},
    temperature: profile.temperature,
    top_p: profile.top_p,
    response_format: profile.response_format,
    tool_resources: null
  }
}

/** The admin view: the whole profile. */
export function adminView (assistant: ResolvedAssistant, tools: ToolRegistry) {
  const { profile } = assistant
  return {
    ...publicView(assistant, tools),
    instructions: profile.instructions,
    tool_names: profile.tools,
    aliases: profile.aliases,
    accepts_sampling: profile.accepts_sampling,
    accepts_additional_instructions: profile.accepts_additional_instructions,
    show_tool_outputs: profile.show_tool_outputs,
    max_output_tokens: profile.max_output_tokens,
    daily_token_cap: profile.daily_token_cap,
    context_policy: profile.context_policy ?? null,
    version: assistant.version,
    updated_at: assistant.updated_at
  }
}
