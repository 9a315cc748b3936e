/// <reference lib="dom" />
/**
 * Client tools: functions an assistant's profile declares as `client_tools` because only the browser
 * knows the answer. When the model calls one, the gateway pauses the run in `requires_action`; the page
 * runs the function here and submits its output, and the run goes on.
 */
import type { ToolCall, ToolOutput } from './api.ts'

type ClientTool = (args: Record<string, unknown>) => unknown

/** By the name the profile gives them. Keep them to what the user may share with the assistant. */
export const CLIENT_TOOLS: Record<string, ClientTool> = {
  /** The bundled curator's tool: the learner's time zone, and the page of this SPA they are on. */
  get_learner_context: () => ({
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    page: location.pathname + location.search
  })
}

export interface ToolRun extends ToolOutput {
  name: string
  /** False when the output is an error: no such tool here, arguments that are not JSON, or the tool threw. */
  ok: boolean
}

/**
 * Runs one call. Every call gets an output, an error one when the tool cannot run: the gateway takes the
 * outputs only all together, so one unanswered call would leave the run waiting until it expires.
 */
export async function runToolCall (call: ToolCall): Promise<ToolRun> {
  const { name } = call.function
  try {
    const tool = Object.hasOwn(CLIENT_TOOLS, name) ? CLIENT_TOOLS[name] : undefined
    if (!tool) throw new Error(`this page has no tool named ${name}`)
    const args = call.function.arguments ? JSON.parse(call.function.arguments) : {}
    return { tool_call_id: call.id, name, ok: true, output: JSON.stringify(await tool(args) ?? null) }
  } catch (err) {
    return { tool_call_id: call.id, name, ok: false, output: JSON.stringify({ error: err instanceof Error ? err.message : String(err) }) }
  }
}
