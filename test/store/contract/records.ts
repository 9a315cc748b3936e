import type { Test } from 'tap'
import type { AssistantProfile, FileRecord, LedgerRow, MessageRecord, RunRecord, ThreadRecord } from '../../../services/store/types.ts'
import { DAY, limits, makeRun, OPTS, profile, reservation, type Setup, T0, thread, usage } from './fixtures.ts'

/** Checks the fixture itself: every field but `except` is away from its usual value, so that losing it shows. */
function awayFromUsual<T extends object> (t: Test, record: T, usual: T, except: Array<keyof T> = []) {
  for (const field of Object.keys(usual) as Array<keyof T>) {
    if (!except.includes(field)) t.notSame(record[field], usual[field], `${String(field)} is set away from its usual value`)
  }
}

/**
 * Every field of every record is stored. The records are written out whole (typed: a field added to a
 * type must be given here) with each field away from its usual value, so a backend that drops a field,
 * or gives it back with another type, fails here; so does a SQLite table that lacks the field's column
 * (a missing migration).
 */
export function recordsContract (tap: Test, setup: Setup): void {
  tap.test('records: every field of a run is stored, listed and patched', async t => {
    const { store, clock } = await setup(t)
    const full: RunRecord = {
      id: 'run_full',
      thread_id: 'th_full',
      owner: 'alice',
      assistant_type: 'mentor',
      assistant_version: 7,
      model: 'gpt-full',
      status: 'in_progress',
      created_at: 11,
      started_at: 12,
      completed_at: 13,
      cancelled_at: 14,
      failed_at: 15,
      last_error: { code: 'upstream_error', message: 'it broke' },
      incomplete_details: { reason: 'max_output_tokens' },
      usage: { input_tokens: 10, cached_tokens: 2, cache_write_tokens: 3, output_tokens: 5, reasoning_tokens: 1, total_tokens: 15 },
      temperature: 0.25,
      top_p: 0.5,
      max_output_tokens: 99,
      stream: true,
      response_ids: ['resp_1', 'resp_2'],
      settled_response_ids: ['resp_1'],
      tool_rounds: 4,
      cancel_requested: true,
      reservation_id: 'res_full',
      deadline_at: T0 + 1,
      lease_owner: 'worker_full',
      lease_expires_at: T0 + 2,
      fence: 5,
      pending_input: [{ type: 'function_call_output', call_id: 'call_1', output: '{}' }],
      creating_since: T0 + 3,
      metadata: { course: 'algebra' },
      tools: [{ type: 'function', function: { name: 'get_current_time', description: 'now', parameters: { type: 'object' } } }],
      max_prompt_tokens: 5000,
      truncation_strategy: { type: 'auto' },
      response_format: { type: 'json_object' },
      tool_choice: 'required',
      parallel_tool_calls: false,
      additional_instructions: 'Be brief.',
      required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'page_url', arguments: '{}' } }] } },
      expires_at: 1234,
      steps: [{ id: 'step_1', type: 'tool_calls', status: 'in_progress', created_at: 12, ended_at: null, message_id: null, tool_calls: [{ id: 'call_1', name: 'page_url', arguments: '{}', output: null }], usage: null }],
      context_policy: { truncation: 'auto', compact_threshold: 4000, max_input_tokens: null },
      trace_context: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    }
    awayFromUsual(t, full, makeRun(full.id, full.thread_id, full.owner), ['id', 'thread_id', 'owner'])

    t.same(await store.createRun(full, OPTS), { ok: true })
    t.strictSame(await store.getRun(full.id), full, 'createRun stores every field')
    t.strictSame((await store.listRuns(full.thread_id, { limit: 5, order: 'asc' })).data, [full], 'a page reads every field')
    clock.advance(2)
    t.strictSame((await store.listOrphanedRuns(5)).find(r => r.id === full.id), full, 'so does the orphan scan')

    const plain = makeRun('run_plain', 'th_plain', 'bob')
    t.same(await store.createRun(plain, OPTS), { ok: true })
    const { id: _id, thread_id: _thread, owner: _owner, lease_owner: _leaseOwner, lease_expires_at: _leaseExpires, fence: _fence, ...patch } = full
    const patched = { ...plain, ...patch }
    t.strictSame(await store.updateRun(plain.id, patch, null), patched, 'updateRun writes every field it may change')
    t.strictSame(await store.getRun(plain.id), patched)
  })

  tap.test('records: every field of a thread, message, file and assistant is stored', async t => {
    const { store } = await setup(t)
    const full: ThreadRecord = { id: 'th_full', owner: 'alice', title: 'Full', metadata: { topic: 'x' }, created_at: 5, updated_at: 6, token_estimate: 7, turn_tokens: 9, revision: 8 }
    awayFromUsual(t, full, thread(full.id, full.owner, 0), ['id', 'owner'])
    await store.createThread(full)
    t.strictSame(await store.getThread(full.id), full)
    t.strictSame((await store.listThreads(full.owner, { limit: 5, order: 'asc' })).data, [full])
    await store.createThread(thread('th_plain', 'alice', 1))
    const threadPatch = { title: full.title, metadata: full.metadata, updated_at: full.updated_at, token_estimate: full.token_estimate, turn_tokens: full.turn_tokens }
    t.strictSame(await store.updateThread('th_plain', threadPatch), { ...thread('th_plain', 'alice', 1), ...threadPatch, revision: 1 },
      'updateThread writes every field it may change')

    const message: MessageRecord = {
      thread_id: full.id,
      item_id: 'msg_full',
      created_at: 9,
      run_id: 'run_full',
      attachments: [{ file_id: 'file_a', tools: [{ type: 'file_search' }] }],
      metadata: { k: 'v' },
      assistant_id: 'mentor'
    }
    await store.putMessages([message])
    t.strictSame((await store.getMessages(full.id, [message.item_id])).get(message.item_id), message)

    const file: FileRecord = { id: 'file_full', owner: 'alice', filename: 'notes.pdf', bytes: 1234, purpose: 'user_data', mime: 'application/pdf', created_at: 10 }
    await store.createFile(file)
    t.strictSame(await store.getFile(file.id), file)
    t.strictSame((await store.listFiles(file.owner, { limit: 5, order: 'asc' })).data, [file])

    const fullProfile: AssistantProfile = {
      id: 'curator',
      name: 'Full curator',
      description: 'Every field set',
      model: 'gpt-full',
      instructions: 'Be thorough.',
      tools: ['get_time', 'search'],
      temperature: 0.3,
      top_p: 0.9,
      accepts_sampling: false,
      max_output_tokens: 777,
      daily_token_cap: 5000,
      client_tools: [{ name: 'page_url', description: 'the page the learner is on', parameters: { type: 'object' } }],
      aliases: ['asst_full'],
      accepts_additional_instructions: true,
      show_tool_outputs: true,
      response_format: { type: 'json_object' },
      metadata: { team: 'a' },
      created_at: 99
    }
    awayFromUsual(t, fullProfile, profile(fullProfile.id), ['id'])
    const stored = { profile: fullProfile, deleted: false, version: 1, updated_at: 1234 }
    t.strictSame(await store.putAssistant(fullProfile, 0, 1234), stored)
    t.strictSame(await store.getAssistant(fullProfile.id), stored)
    t.strictSame(await store.listAssistants(), [{ id: fullProfile.id, ...stored }])
  })

  tap.test('records: every field of a reservation and a ledger row is stored', async t => {
    const { store, clock } = await setup(t)
    const row: LedgerRow = {
      day: DAY,
      user: 'alice',
      assistant: 'curator',
      model: 'gpt-full',
      input_tokens: 10,
      cached_tokens: 2,
      cache_write_tokens: 3,
      output_tokens: 5,
      reasoning_tokens: 1,
      total_tokens: 15,
      audio_seconds: 2.5,
      runs: 1,
      cost_usd: 0.125
    }
    awayFromUsual(t, row, usage(), ['day', 'user', 'assistant'])
    t.equal(await store.recordUsage('u_full', row), true)
    t.strictSame(await store.usageLedger(DAY, 'alice'), [row], 'every amount of a ledger row is stored')

    // A reservation is read back by its release: the counters it moved go back to where they were.
    const held = reservation('r_full', { user: 'res_user', assistant: 'res_assistant', tokens: 3, audio_seconds: 2, expires_at: T0 + 10 })
    t.same(await store.reserveBudget(held, limits()), { ok: true })
    t.match(await store.budgetCounters(DAY, 'res_user', 'res_assistant'),
      { reserved_user_tokens: 3, reserved_user_audio_seconds: 2, reserved_assistant_tokens: 3, reserved_global_tokens: 3 })
    clock.advance(9)
    t.equal(await store.releaseExpiredReservations(), 0, 'its expiry is stored')
    clock.advance(1)
    t.equal(await store.releaseExpiredReservations(), 1)
    t.match(await store.budgetCounters(DAY, 'res_user', 'res_assistant'),
      { reserved_user_tokens: 0, reserved_user_audio_seconds: 0, reserved_assistant_tokens: 0, reserved_global_tokens: 0 },
      'its day, user, assistant and amounts are stored')
  })
}
