import { createHash } from 'node:crypto'
import { Busboy } from '@fastify/busboy'
import type { FileRecord } from './core.ts'
import { nowSeconds } from './core.ts'
import { ApiError, badRequest } from './errors.ts'
import type { Handler, RequestContext } from './http.ts'
import { assignField, send } from './http.ts'
import { base62Id } from './ids.ts'
import { tokens } from './scripted-model.ts'

interface UploadedFile {
  filename: string
  mimeType: string
  bytes: number
  sha256: string
  /** The first bytes, enough for a WAV header. */
  head: Buffer
}

interface Upload {
  fields: Record<string, unknown>
  file: UploadedFile | null
}

const HEAD_BYTES = 4096
// Without a WAV header the duration is estimated as if the audio were 128 kbit/s.
const ESTIMATED_BYTES_PER_SECOND = 16_000
const TRANSCRIPTION_MODELS = new Set(['gpt-transcribe', 'whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe'])
const LANGUAGE_NAMES: Record<string, string> = {
  en: 'english', fr: 'french', de: 'german', es: 'spanish', it: 'italian', pt: 'portuguese', nl: 'dutch', ja: 'japanese', zh: 'chinese', ko: 'korean'
}

/** OpenAI's answer to an oversized upload: 413, with the body limit and the bytes it read. */
function tooLarge (limit: number, read: number): ApiError {
  return new ApiError(413, `Maximum content size limit (${limit}) exceeded (${read} bytes read)`, { type: 'server_error' })
}

/**
 * Streams a multipart body through busboy: the file is hashed and measured on the fly, never
 * buffered; non-file fields are collected with the SDK's `a[]` / `a[b]` naming.
 */
function readMultipart (ctx: RequestContext, limit: number): Promise<Upload> {
  const { req } = ctx
  const contentType = req.headers['content-type'] ?? ''
  if (!contentType.startsWith('multipart/form-data')) {
    req.resume()
    try {
      // Not a form at all: recorded as nonconforming like any other body that misses the schema.
      ctx.checkBody(null)
    } catch (error) {
      return Promise.reject(error)
    }
    return Promise.reject(badRequest(`Invalid Content-Type header (${contentType || 'none'}), expected multipart/form-data.`))
  }
  return new Promise((resolve, reject) => {
    let total = 0
    let exceeded = false
    const drainThenFail = () => {
      exceeded = true
      req.unpipe()
      req.resume()
      req.once('end', () => reject(tooLarge(limit, total)))
    }
    const declared = Number(req.headers['content-length'])
    req.on('data', (chunk: Buffer) => {
      total += chunk.length
      if (!exceeded && total > limit) drainThenFail()
    })
    if (declared > limit) {
      drainThenFail()
      return
    }
    let parser: ReturnType<typeof Busboy>
    try {
      parser = Busboy({ headers: { ...req.headers, 'content-type': contentType }, limits: { fieldSize: 1024 * 1024, files: 1 } })
    } catch (error) {
      req.resume()
      reject(badRequest(`Could not parse multipart form: ${(error as Error).message}`))
      return
    }
    const fields: Record<string, unknown> = {}
    let file: UploadedFile | null = null
    let fileDone: Promise<void> = Promise.resolve()
    parser.on('file', (name, stream, filename, _encoding, mimeType) => {
      if (name !== 'file' || file !== null) {
        stream.resume()
        return
      }
      const hash = createHash('sha256')
      const head: Buffer[] = []
      let headLength = 0
      const current: UploadedFile = { filename, mimeType, bytes: 0, sha256: '', head: Buffer.alloc(0) }
      file = current
      fileDone = new Promise((resolve) => {
        stream.on('data', (chunk: Buffer) => {
          hash.update(chunk)
          current.bytes += chunk.length
          if (headLength < HEAD_BYTES) {
            head.push(chunk.subarray(0, HEAD_BYTES - headLength))
            headLength += Math.min(chunk.length, HEAD_BYTES - headLength)
          }
        })
        stream.on('end', () => {
          current.sha256 = hash.digest('hex')
          current.head = Buffer.concat(head)
          resolve()
        })
      })
    })
    parser.on('field', (name, value) => assignField(fields, name, value))
    parser.on('finish', () => {
      if (exceeded) return
      fileDone.then(() => resolve({ fields, file }), reject)
    })
    parser.on('error', (error: unknown) => {
      if (exceeded) return
      req.unpipe()
      req.resume()
      reject(badRequest(`Could not parse multipart form: ${(error as Error).message}`))
    })
    // A client that goes away mid-upload leaves nothing to answer; settle so nothing waits forever.
    req.once('close', () => {
      if (!req.complete) reject(badRequest('The request body was not received completely.'))
    })
    req.pipe(parser)
  })
}

/** Duration from a RIFF/WAVE header, or null when the bytes are not a WAV file. */
export function wavDuration (head: Buffer, fileBytes: number): number | null {
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return null
  let offset = 12
  let byteRate = 0
  while (offset + 8 <= head.length) {
    const id = head.toString('latin1', offset, offset + 4)
    const size = head.readUInt32LE(offset + 4)
    if (id === 'fmt ' && offset + 20 <= head.length) byteRate = head.readUInt32LE(offset + 16)
    if (id === 'data') {
      if (byteRate === 0) return null
      // Streamed WAVs often declare 0 or 0xFFFFFFFF as the data size: trust the bytes received.
      const available = fileBytes - (offset + 8)
      const dataBytes = size === 0 || size > available ? available : size
      return dataBytes / byteRate
    }
    offset += 8 + size + (size % 2)
  }
  return null
}

function withFile (upload: Upload): Record<string, unknown> {
  // The spec types the file part as a binary string; a placeholder lets `required` see it.
  return upload.file ? { ...upload.fields, file: '<binary>' } : upload.fields
}

export const createTranscription: Handler = async (ctx) => {
  const upload = await readMultipart(ctx, ctx.core.config.maxTranscriptionBytes)
  const fields = withFile(upload)
  ctx.checkBody(fields)
  const file = upload.file as UploadedFile
  const model = String(fields.model)
  if (!TRANSCRIPTION_MODELS.has(model)) {
    throw badRequest(`Invalid model '${model}' for transcription. Supported models: ${[...TRANSCRIPTION_MODELS].join(', ')}.`, 'model', 'invalid_value')
  }
  const format = typeof fields.response_format === 'string' ? fields.response_format : 'json'
  const whisper = model === 'whisper-1'
  if (!['json', 'text'].includes(format) && !(whisper && ['verbose_json', 'srt', 'vtt'].includes(format))) {
    throw badRequest(`response_format '${format}' is not compatible with model '${model}'. Use 'json' or 'text' instead.`, 'response_format', 'unsupported_value')
  }
  const language = typeof fields.language === 'string' && fields.language !== '' ? fields.language : null
  const prompt = typeof fields.prompt === 'string' ? fields.prompt : ''
  const duration = wavDuration(file.head, file.bytes) ?? file.bytes / ESTIMATED_BYTES_PER_SECOND
  const seconds = Math.round(duration * 100) / 100
  const text = `Transcript ${file.sha256.slice(0, 8)} of ${seconds.toFixed(2)} s of audio${language ? ` [${language}]` : ''}`
  const audioTokens = Math.ceil(duration * 10)
  const textTokens = tokens(prompt)
  const outputTokens = tokens(text)
  const usage = whisper
    ? { type: 'duration', seconds: Math.ceil(duration) }
    : {
        type: 'tokens',
        input_tokens: audioTokens + textTokens,
        input_token_details: { audio_tokens: audioTokens, text_tokens: textTokens },
        output_tokens: outputTokens,
        total_tokens: audioTokens + textTokens + outputTokens
      }

  if (fields.stream === true && !whisper) {
    const frames = text.split(/(?<= )/).map((delta) => ({ type: 'transcript.text.delta', delta }))
    ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'x-request-id': ctx.requestId })
    for (const frame of [...frames, { type: 'transcript.text.done', text, usage }]) {
      ctx.res.write(`event: ${frame.type}\ndata: ${JSON.stringify(frame)}\n\n`)
    }
    ctx.res.end()
    return
  }
  if (format === 'text') {
    send(ctx, 200, `${text}\n`, { 'content-type': 'text/plain; charset=utf-8' })
    return
  }
  if (format === 'srt' || format === 'vtt') {
    const stamp = (s: number, sep: string) => new Date(s * 1000).toISOString().slice(11, 23).replace('.', sep)
    const cue = `${stamp(0, format === 'srt' ? ',' : '.')} --> ${stamp(seconds, format === 'srt' ? ',' : '.')}\n${text}\n`
    send(ctx, 200, format === 'srt' ? `1\n${cue}\n` : `WEBVTT\n\n${cue}\n`, { 'content-type': 'text/plain; charset=utf-8' })
    return
  }
  if (format === 'verbose_json') {
    const granularities = Array.isArray(fields.timestamp_granularities) ? fields.timestamp_granularities : ['segment']
    const wordList = text.split(' ')
    const body: Record<string, unknown> = {
      task: 'transcribe',
      language: language ? (LANGUAGE_NAMES[language] ?? language) : 'english',
      duration: seconds,
      text,
      segments: [{
        id: 0,
        seek: 0,
        start: 0,
        end: seconds,
        text,
        tokens: Array.from({ length: outputTokens }, (_, i) => 1000 + i),
        temperature: typeof fields.temperature === 'number' ? fields.temperature : 0,
        avg_logprob: -0.25,
        compression_ratio: 1,
        no_speech_prob: 0.01
      }],
      usage
    }
    if (granularities.includes('word')) {
      body.words = wordList.map((word, i) => ({ word, start: (seconds * i) / wordList.length, end: (seconds * (i + 1)) / wordList.length }))
    }
    send(ctx, 200, body)
    return
  }
  send(ctx, 200, { text, usage })
}

function fileNotFound (id: string): ApiError {
  return new ApiError(404, `No such File object: ${id}`, { param: 'id' })
}

export const createFile: Handler = async (ctx) => {
  const upload = await readMultipart(ctx, ctx.core.config.maxFileBytes)
  const fields = withFile(upload)
  ctx.checkBody(fields)
  const file = upload.file as UploadedFile
  const createdAt = nowSeconds()
  const expires = fields.expires_after as { seconds?: number } | undefined
  const record: FileRecord = {
    id: base62Id('file-'),
    object: 'file',
    bytes: file.bytes,
    created_at: createdAt,
    filename: file.filename,
    purpose: String(fields.purpose),
    status: 'processed',
    expires_at: typeof expires?.seconds === 'number' ? createdAt + expires.seconds : null
  }
  ctx.core.files.set(record.id, record)
  send(ctx, 200, record)
}

export const listFiles: Handler = (ctx) => {
  const { purpose, order, after } = ctx.query
  const limit = ctx.query.limit === undefined ? 10_000 : Number(ctx.query.limit)
  if (limit < 1 || limit > 10_000) throw badRequest(`Invalid 'limit': expected a value between 1 and 10000, but got ${limit} instead.`, 'limit', limit < 1 ? 'integer_below_min_value' : 'integer_above_max_value')
  let files = [...ctx.core.files.values()]
  if (typeof purpose === 'string') files = files.filter((f) => f.purpose === purpose)
  if (order !== 'asc') files.reverse()
  const start = typeof after === 'string' ? files.findIndex((f) => f.id === after) + 1 : 0
  const data = start === 0 && typeof after === 'string' ? [] : files.slice(start, start + limit)
  send(ctx, 200, {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < files.length
  })
}

export const retrieveFile: Handler = (ctx) => {
  const record = ctx.core.files.get(ctx.params.file_id)
  if (!record) throw fileNotFound(ctx.params.file_id)
  send(ctx, 200, record)
}

export const deleteFile: Handler = (ctx) => {
  const record = ctx.core.files.get(ctx.params.file_id)
  if (!record) throw fileNotFound(ctx.params.file_id)
  ctx.core.files.delete(record.id)
  send(ctx, 200, { id: record.id, object: 'file', deleted: true })
}
