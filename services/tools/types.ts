/** What a tool sees of the run that called it. */
export interface ToolContext {
  userId: string
  runId: string
  threadId: string
  signal: AbortSignal
}

/** A tool implemented in TypeScript inside the gateway. */
export interface BuiltinTool {
  name: string
  description: string
  /** JSON Schema of the arguments (an object schema); the gateway validates calls against it. */
  parameters: Record<string, unknown>
  run (args: Record<string, unknown>, context: ToolContext): Promise<unknown>
}
