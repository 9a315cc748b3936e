import type { Conversation, Core } from './core.ts'
import { nowSeconds, TERMINAL_STATUSES } from './core.ts'
import { badRequest, conversationLocked, notFound } from './errors.ts'
import type { Handler } from './http.ts'
import { send } from './http.ts'
import { hexId } from './ids.ts'
import type { Item } from './scripted-model.ts'

const MAX_METADATA_PAIRS = 16
const MAX_METADATA_KEY = 64
const MAX_METADATA_VALUE = 512

/** OpenAI's metadata limits, which the spec does not express. */
export function checkMetadata (metadata: unknown, param = 'metadata'): Record<string, string> {
  if (metadata === undefined || metadata === null) return {}
  const entries = Object.entries(metadata as Record<string, string>)
  if (entries.length > MAX_METADATA_PAIRS) {
    throw badRequest(`Invalid '${param}': too many properties. Expected an object with at most ${MAX_METADATA_PAIRS} properties, but got an object with ${entries.length} properties instead.`, param, 'object_above_max_properties')
  }
  for (const [key, value] of entries) {
    if (key.length > MAX_METADATA_KEY) {
      throw badRequest(`Invalid '${param}': key too long. Expected a key with maximum length ${MAX_METADATA_KEY}, but got a key with length ${key.length} instead.`, param, 'string_above_max_length')
    }
    if (value.length > MAX_METADATA_VALUE) {
      throw badRequest(`Invalid '${param}.${key}': string too long. Expected a string with maximum length ${MAX_METADATA_VALUE}, but got a string with length ${value.length} instead.`, `${param}.${key}`, 'string_above_max_length')
    }
  }
  return { ...(metadata as Record<string, string>) }
}

function outputTextPart (text: string): Record<string, unknown> {
  return { type: 'output_text', annotations: [], logprobs: [], text }
}

/** Turns one input item (any accepted shape) into the item OpenAI stores and lists. */
export function normalizeItem (raw: Record<string, unknown>): Item {
  const type = typeof raw.type === 'string' ? raw.type : 'message'
  if (type === 'message') {
    const role = String(raw.role)
    const content = typeof raw.content === 'string'
      ? [role === 'assistant' ? outputTextPart(raw.content) : { type: 'input_text', text: raw.content }]
      : (raw.content as Array<Record<string, unknown>>).map((part) => part.type === 'output_text'
          ? { ...outputTextPart(String(part.text)), annotations: part.annotations ?? [], logprobs: part.logprobs ?? [] }
          : { ...part })
    return { id: typeof raw.id === 'string' ? raw.id : hexId('msg_'), type: 'message', status: 'completed', content, role }
  }
  if (type === 'function_call') {
    return {
      id: typeof raw.id === 'string' ? raw.id : hexId('fc_'),
      type,
      status: 'completed',
      arguments: raw.arguments,
      call_id: raw.call_id,
      name: raw.name
    }
  }
  if (type === 'function_call_output') {
    return { id: typeof raw.id === 'string' ? raw.id : hexId('fco_'), type, status: 'completed', call_id: raw.call_id, output: raw.output }
  }
  return { ...raw, id: typeof raw.id === 'string' ? raw.id : hexId('item_'), type }
}

/**
 * Normalizes input items: assigns ids, resolves item references, rejects ids already in the
 * conversation and file ids that do not exist (OpenAI checks both).
 */
export function normalizeItems (core: Core, raws: Array<Record<string, unknown>>, conversation: Conversation | null, param: string): Item[] {
  const out: Item[] = []
  const seen = new Set<string>()
  raws.forEach((raw, index) => {
    let item: Item
    if (raw.type === 'item_reference') {
      const found = conversation?.index.get(String(raw.id)) ?? findItem(core, String(raw.id))
      if (!found) throw notFound(`Item with id '${String(raw.id)}' not found.`, `${param}[${index}]`)
      if (conversation?.index.has(found.id)) return
      item = structuredClone(found)
    } else {
      checkFileIds(core, raw, `${param}[${index}]`)
      item = normalizeItem(raw)
    }
    if (seen.has(item.id) || conversation?.index.has(item.id)) {
      throw badRequest(`Duplicate item found with id ${item.id}. Remove the duplicate item from your input and try again.`, `${param}[${index}]`)
    }
    seen.add(item.id)
    out.push(item)
  })
  return out
}

function findItem (core: Core, id: string): Item | undefined {
  for (const rec of core.responses.values()) {
    const hit = rec.wire.output.find((i) => i.id === id) ?? rec.inputItems.find((i) => i.id === id)
    if (hit) return hit
  }
  return undefined
}

/** `input_file` / `input_image` parts naming a file id must name an uploaded file. */
function checkFileIds (core: Core, node: unknown, param: string): void {
  if (Array.isArray(node)) {
    node.forEach((child, i) => checkFileIds(core, child, `${param}[${i}]`))
    return
  }
  if (typeof node !== 'object' || node === null) return
  const record = node as Record<string, unknown>
  if ((record.type === 'input_file' || record.type === 'input_image') && typeof record.file_id === 'string' && !core.files.has(record.file_id)) {
    throw badRequest(`Invalid 'file_id': '${record.file_id}'. The file does not exist or is not accessible.`, `${param}.file_id`, 'invalid_value')
  }
  for (const key of ['content', 'output']) {
    if (key in record) checkFileIds(core, record[key], `${param}.${key}`)
  }
}

export function conversationWire (conversation: Conversation): Record<string, unknown> {
  return { id: conversation.id, object: 'conversation', created_at: conversation.created_at, metadata: conversation.metadata }
}

export function getConversation (core: Core, id: string, param: string | null = null): Conversation {
  const conversation = core.conversations.get(id)
  if (!conversation || conversation.deleted) throw notFound(`Conversation with id '${id}' not found.`, param)
  return conversation
}

export function isLocked (core: Core, conversation: Conversation): boolean {
  if (conversation.activeResponse === null) return false
  const active = core.responses.get(conversation.activeResponse)
  if (active && !TERMINAL_STATUSES.has(active.wire.status)) return true
  conversation.activeResponse = null
  return false
}

export function appendItems (conversation: Conversation, items: Item[]): void {
  for (const item of items) {
    conversation.items.push(item)
    conversation.index.set(item.id, item)
  }
}

export function listPage (items: Item[], query: Record<string, unknown>): Record<string, unknown> {
  const limit = query.limit === undefined ? 20 : Number(query.limit)
  if (limit < 1) throw badRequest(`Invalid 'limit': integer below minimum value. Expected a value >= 1, but got ${limit} instead.`, 'limit', 'integer_below_min_value')
  if (limit > 100) throw badRequest(`Invalid 'limit': integer above maximum value. Expected a value <= 100, but got ${limit} instead.`, 'limit', 'integer_above_max_value')
  const ordered = query.order === 'asc' ? items : [...items].reverse()
  let start = 0
  if (typeof query.after === 'string') {
    const at = ordered.findIndex((i) => i.id === query.after)
    // An unknown cursor yields an empty page rather than an error.
    start = at === -1 ? ordered.length : at + 1
  }
  const data = ordered.slice(start, start + limit)
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < ordered.length
  }
}

export const createConversation: Handler = (ctx) => {
  const body = (ctx.body ?? {}) as { metadata?: unknown, items?: Array<Record<string, unknown>> | null }
  const metadata = checkMetadata(body.metadata)
  const conversation: Conversation = {
    id: hexId('conv_'),
    created_at: nowSeconds(),
    metadata,
    items: [],
    index: new Map(),
    deleted: false,
    activeResponse: null
  }
  appendItems(conversation, normalizeItems(ctx.core, body.items ?? [], conversation, 'items'))
  ctx.core.conversations.set(conversation.id, conversation)
  send(ctx, 200, conversationWire(conversation))
}

export const retrieveConversation: Handler = (ctx) => {
  send(ctx, 200, conversationWire(getConversation(ctx.core, ctx.params.conversation_id)))
}

export const updateConversation: Handler = (ctx) => {
  const conversation = getConversation(ctx.core, ctx.params.conversation_id)
  conversation.metadata = checkMetadata((ctx.body as { metadata?: unknown }).metadata)
  send(ctx, 200, conversationWire(conversation))
}

export const deleteConversation: Handler = (ctx) => {
  const conversation = getConversation(ctx.core, ctx.params.conversation_id)
  // Like OpenAI: the conversation goes, its items are not deleted (they stay in memory, see peek()).
  conversation.deleted = true
  send(ctx, 200, { id: conversation.id, object: 'conversation.deleted', deleted: true })
}

export const createItems: Handler = (ctx) => {
  const conversation = getConversation(ctx.core, ctx.params.conversation_id)
  if (isLocked(ctx.core, conversation)) throw conversationLocked()
  const items = normalizeItems(ctx.core, (ctx.body as { items: Array<Record<string, unknown>> }).items, conversation, 'items')
  appendItems(conversation, items)
  send(ctx, 200, { object: 'list', data: items, first_id: items[0]?.id ?? null, last_id: items.at(-1)?.id ?? null, has_more: false })
}

export const listItems: Handler = (ctx) => {
  const conversation = getConversation(ctx.core, ctx.params.conversation_id)
  send(ctx, 200, listPage(conversation.items, ctx.query))
}

export const retrieveItem: Handler = (ctx) => {
  const conversation = getConversation(ctx.core, ctx.params.conversation_id)
  const item = conversation.index.get(ctx.params.item_id)
  if (!item) throw notFound(`Item with id '${ctx.params.item_id}' not found.`)
  send(ctx, 200, item)
}

export const deleteItem: Handler = (ctx) => {
  const conversation = getConversation(ctx.core, ctx.params.conversation_id)
  const item = conversation.index.get(ctx.params.item_id)
  if (!item) throw notFound(`Item with id '${ctx.params.item_id}' not found.`)
  if (isLocked(ctx.core, conversation)) throw conversationLocked()
  conversation.index.delete(item.id)
  conversation.items.splice(conversation.items.indexOf(item), 1)
  send(ctx, 200, conversationWire(conversation))
}
