import type { RunRecord } from './runs.ts'

export type NewRunFields = Pick<RunRecord, 'id' | 'thread_id' | 'owner' | 'assistant_type' | 'assistant_version' | 'model' | 'created_at' | 'deadline_at'> & Partial<RunRecord>

/** A run as it is born: the given identity and settings, everything else at its starting value. */
export function newRunRecord (fields: NewRunFields): RunRecord {
  return {
    status: 'queued',
    started_at: null,
    completed_at: null,
    cancelled_at: null,
    failed_at: null,
    last_error: null,
    incomplete_details: null,
    usage: null,
    temperature: null,
    top_p: null,
    max_output_tokens: null,
    stream: false,
    response_ids: [],
    settled_response_ids: [],
    tool_rounds: 0,
    cancel_requested: false,
    reservation_id: null,
    lease_owner: null,
    lease_expires_at: 0,
    fence: 0,
    pending_input: null,
    creating_since: null,
    metadata: {},
    tools: [],
    max_prompt_tokens: null,
    truncation_strategy: null,
    response_format: null,
    tool_choice: null,
    parallel_tool_calls: true,
    additional_instructions: null,
    required_action: null,
    expires_at: null,
    steps: [],
    context_policy: null,
    trace_context: null,
    ...fields
  }
}
