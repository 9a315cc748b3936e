import type { ResponseInputItem, ResponseInputMessageContentList } from 'openai/resources/responses/responses'
import { invalidArgument } from '../errors.ts'
import type { FileRecord } from '../store/types.ts'
import { MESSAGE_MAX_CHARS, type Attachment, type MessageContent } from '../../schemas/threads.ts'

const IMAGE_MIME = /^image\//

/** A message as a caller adds it: to a thread, at its creation, or before a run. */
export interface NewMessage {
  role?: 'user' | 'assistant'
  content: MessageContent
  attachments?: Attachment[] | null
  metadata?: Record<string, string> | null
}

export const contentTexts = (content: MessageContent): string[] =>
  typeof content === 'string' ? [content] : content.flatMap(part => part.type === 'text' ? [part.text] : [])

/** Characters as the schemas count a string's (Ajv's maxLength): code points, so a surrogate pair is one. */
function codePoints (text: string): number {
  let n = text.length
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) { n--; i++ }
    }
  }
  return n
}

/**
 * A message's text is bounded as a whole: the schema bounds each text part, and ten parts of 32 000
 * characters must not make a message ten times the contract's. `param` is where the content was sent.
 */
export function checkMessageText (content: MessageContent, param: string): void {
  if (typeof content === 'string') return
  const chars = contentTexts(content).reduce((n, text) => n + codePoints(text), 0)
  if (chars > MESSAGE_MAX_CHARS) throw invalidArgument(param, `must NOT have more than ${MESSAGE_MAX_CHARS} characters of text, all its parts together`)
}

/** The caller's files a message refers to: its image_file parts, then its attachments. */
export const messageFileIds = (message: NewMessage): string[] => [
  ...(typeof message.content === 'string' ? [] : message.content.flatMap(part => part.type === 'image_file' ? [part.image_file.file_id] : [])),
  ...(message.attachments ?? []).map(a => a.file_id)
]

/**
 * Generous upper estimate of a message's tokens, counted in UTF-8 bytes so that every script is covered:
 * BPE tokens average ~4 bytes of English, ~5 of Cyrillic and ~3 of Chinese or Japanese, and one token
 * per two bytes is above all of them. An attachment is counted as one large image or PDF page.
 */
export function estimateTokens (content: MessageContent | string, attachments = 0): number {
  const bytes = contentTexts(content).reduce((n, text) => n + Buffer.byteLength(text, 'utf8'), 0)
  return Math.ceil(bytes / 2) + 16 + attachments * 1500
}

/**
 * A message as the Conversations API takes it. A user message carries its files as image or file parts;
 * an assistant message (Assistants-era code seeds a thread with one) is text only and only shapes the
 * caller's own thread.
 */
export function messageItem (message: NewMessage, files: FileRecord[] = []): ResponseInputItem {
  const texts = contentTexts(message.content)
  if (message.role === 'assistant') {
    if (files.length > 0) throw invalidArgument('attachments', 'only user messages can carry files')
    return { type: 'message', role: 'assistant', content: texts.join('\n\n') }
  }
  const byId = new Map(files.map(file => [file.id, file]))
  const parts = typeof message.content === 'string' ? [{ type: 'text' as const, text: message.content }] : message.content
  const content: ResponseInputMessageContentList = []
  for (const part of parts) {
    if (part.type === 'text') {
      content.push({ type: 'input_text', text: part.text })
      continue
    }
    const file = byId.get(part.image_file.file_id)!
    if (!IMAGE_MIME.test(file.mime)) throw invalidArgument('content', `image_file ${file.id} is not an image`)
    content.push({ type: 'input_image', file_id: file.id, detail: part.image_file.detail ?? 'auto' })
  }
  for (const attachment of message.attachments ?? []) {
    const file = byId.get(attachment.file_id)!
    content.push(IMAGE_MIME.test(file.mime)
      ? { type: 'input_image', file_id: file.id, detail: 'auto' }
      : { type: 'input_file', file_id: file.id })
  }
  return { type: 'message', role: 'user', content }
}
