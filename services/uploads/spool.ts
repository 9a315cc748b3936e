import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Busboy, type BusboyFileStream, type BusboyHeaders, type BusboyInstance } from '@fastify/busboy'
import { UploadTimeout, ValidationFailed } from '../errors.ts'
import { displayFilename } from './filename.ts'
import { createInspector, tooLarge, type Inspected } from './inspector.ts'
import type { MediaKind } from './media-types.ts'

/** Room for the form's text fields, part headers and boundaries on top of the file itself. */
export const FORM_OVERHEAD_BYTES = 64 * 1024
/** Largest text field, in bytes (a 1 000-character prompt in any script fits). */
export const FIELD_MAX_BYTES = 4096
export const SPOOL_PREFIX = 'agw-upload-'
/** This host, as spool names carry it (no '-' ambiguity, bounded). */
export const SPOOL_HOST = hostname().replace(/[^A-Za-z0-9.]/g, '_').slice(0, 64) || 'host'

/**
 * Spool directories are named after the host and the process that made them
 * (`agw-upload-<host>-<pid>-XXXXXX`), so a process starting later can tell what a dead one left behind.
 */
export function spoolOwner (name: string): { host: string, pid: number } | null {
  const match = /^agw-upload-(.+)-(\d+)-[^-]{6}$/.exec(name)
  return match ? { host: match[1]!, pid: Number(match[2]) } : null
}
/** How often a list field (`name[]`, as the SDKs encode arrays in a form) may repeat. */
export const LIST_FIELD_MAX_ITEMS = 4

export interface UploadSpec {
  /** Names the file part may have (one of them, once); the first is the one messages use. */
  fileFields: readonly string[]
  /** Names of the text fields allowed, each at most once, except list fields (`name[]`), which may repeat. */
  fields: readonly string[]
  accept: readonly MediaKind[]
  maxFileBytes: number
}

export interface SpoolOptions {
  /** Parent of the private per-upload directories. */
  dir: string
  timeoutMs: number
}

export interface ReceivedUpload extends Inspected {
  /** The spooled file; its name is ours, never the client's. */
  path: string
  /** Display name: the client's, cleaned, with the extension of the identified format. */
  filename: string
  /** Text fields by name; a list field (`name[]`) as the list of its values. */
  fields: Record<string, string | string[]>
  /** Removes the spool directory; safe to call more than once. */
  cleanup (): Promise<void>
}

/**
 * Receives a multipart upload: one file spooled to a private temp file (directory 0700, file 0600)
 * while it is counted, hashed and identified, plus a few text fields. @fastify/multipart reads the
 * raw request itself and enforces no total (GHSA-3pm6-wjfr-3v47), so this drives the same parser
 * (busboy) directly and bounds the request as a whole: a declared length over the limit is refused
 * before a byte is read, every byte counts towards `maxFileBytes + FORM_OVERHEAD_BYTES`, and the
 * whole body must arrive within `timeoutMs`. On any failure the request stops being read at once
 * (the caller answers with `Connection: close`) and the spool is removed before the promise rejects.
 *
 * An empty part counts as absent: it is what a form sends for an input left empty — Swagger UI's
 * "Try it out" sends the unused `file` alias of a transcription as an empty field beside `audio`, a
 * browser's own form sends an unchosen file input as an empty file part.
 */
export function receiveUpload (req: IncomingMessage, spec: UploadSpec, options: SpoolOptions): Promise<ReceivedUpload> {
  const maxTotal = spec.maxFileBytes + FORM_OVERHEAD_BYTES
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxTotal) return Promise.reject(tooLarge(spec.maxFileBytes))

  return new Promise((resolve, reject) => {
    const fields: Record<string, string | string[]> = {}
    const listFields = spec.fields.filter(name => name.endsWith('[]'))
    let received = 0
    let settled = false
    let parsed = false
    let spoolDir: string | null = null
    let fileStream: BusboyFileStream | null = null
    let spooling: Promise<void> | null = null
    let inspected: (Inspected & { path: string, filename: string }) | null = null
    /** File parts whose first bytes are awaited, to tell an empty one (absent) from a file. */
    let probing = 0
    let emptyFileSeen = false

    const removeSpool = async () => {
      const dir = spoolDir
      spoolDir = null
      if (dir) await rm(dir, { recursive: true, force: true })
    }

    function detach () {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('close', onClose)
      req.off('error', onInterrupted)
    }

    function fail (err: Error) {
      if (settled) return
      settled = true
      detach()
      req.unpipe(parser)
      req.pause()
      fileStream?.destroy()
      // The spool goes before the caller learns of the failure, so no temp file outlives the answer.
      const finished = spooling ? spooling.catch(() => {}) : Promise.resolve()
      finished.then(removeSpool).catch(() => {}).finally(() => reject(err))
    }

    function maybeDone () {
      if (settled || !parsed || probing > 0 || (spooling && !inspected)) return
      if (!inspected) return fail(new ValidationFailed(`body.${spec.fileFields[0]} ${emptyFileSeen ? 'is empty' : 'is required'}`))
      settled = true
      detach()
      resolve({ ...inspected, fields, cleanup: removeSpool })
    }

    const onData = (chunk: Buffer) => {
      received += chunk.length
      if (received > maxTotal) fail(tooLarge(spec.maxFileBytes))
    }
    // A client that goes away mid-upload gets no answer; what matters is that the spool goes too.
    const onInterrupted = () => fail(new ValidationFailed('The upload was interrupted before it was complete'))
    const onClose = () => { if (!req.complete) onInterrupted() }
    const timer = setTimeout(() => fail(new UploadTimeout(`The upload did not arrive within ${options.timeoutMs} ms`)), options.timeoutMs)

    async function spool (stream: BusboyFileStream, givenName: string | undefined, declaredType: string | undefined) {
      const dir = await mkdtemp(join(options.dir, `${SPOOL_PREFIX}${SPOOL_HOST}-${process.pid}-`))
      spoolDir = dir
      if (settled) return removeSpool()
      const path = join(dir, 'upload')
      const inspector = createInspector({ field: spec.fileFields[0]!, accept: spec.accept, maxBytes: spec.maxFileBytes, filename: givenName, declaredType })
      await pipeline(stream, inspector, createWriteStream(path, { flags: 'wx', mode: 0o600 }))
      const result = inspector.result()
      inspected = { ...result, path, filename: displayFilename(givenName, result.type) }
    }

    let parser: BusboyInstance
    // Every file name may come as a part, empty or not (only one may hold a file); empty ones may come as fields.
    const maxFields = spec.fields.length + listFields.length * (LIST_FIELD_MAX_ITEMS - 1) + spec.fileFields.length
    try {
      parser = Busboy({
        headers: req.headers as BusboyHeaders,
        limits: {
          fieldNameSize: 64,
          fieldSize: FIELD_MAX_BYTES,
          fields: maxFields,
          files: spec.fileFields.length,
          parts: maxFields + spec.fileFields.length,
          headerPairs: 16,
          headerSize: 8 * 1024
        }
      })
    } catch {
      clearTimeout(timer)
      reject(new ValidationFailed('body must be multipart/form-data with a boundary'))
      return
    }

    parser.on('field', (name: string, value: string, _nameTruncated: boolean, valueTruncated: boolean) => {
      if (value === '') return
      if (spec.fileFields.includes(name)) return fail(new ValidationFailed(`body.${name} must be a file`))
      if (!spec.fields.includes(name)) return fail(new ValidationFailed(`body.${name} is not allowed`))
      if (valueTruncated) return fail(new ValidationFailed(`body.${name} must NOT be longer than ${FIELD_MAX_BYTES} bytes`))
      if (listFields.includes(name)) {
        const list = (fields[name] ??= []) as string[]
        if (list.length >= LIST_FIELD_MAX_ITEMS) return fail(new ValidationFailed(`body.${name} must NOT have more than ${LIST_FIELD_MAX_ITEMS} items`))
        list.push(value)
        return
      }
      if (Object.hasOwn(fields, name)) return fail(new ValidationFailed(`body.${name} must be sent once`))
      fields[name] = value
    })
    parser.on('file', (name: string, stream: BusboyFileStream, filename: string | undefined, _encoding: string, mimeType: string | undefined) => {
      if (settled) {
        stream.resume()
        return
      }
      probing++
      firstChunk(stream).then(first => {
        probing--
        if (settled) {
          stream.resume()
          return
        }
        if (first === null) {
          emptyFileSeen ||= spec.fileFields.includes(name)
          return maybeDone()
        }
        if (!spec.fileFields.includes(name) || spooling) {
          stream.resume()
          return fail(new ValidationFailed(spooling ? 'Send one file per request' : `body.${name} is not allowed: send the file as ${spec.fileFields[0]}`))
        }
        stream.unshift(first)
        fileStream = stream
        spooling = spool(stream, filename, mimeType)
        spooling.then(maybeDone, fail)
      }, fail)
    })
    parser.on('filesLimit', () => fail(new ValidationFailed('Send one file per request')))
    parser.on('fieldsLimit', () => fail(new ValidationFailed(`body has too many fields: at most ${spec.fields.join(', ')}`)))
    parser.on('partsLimit', () => fail(new ValidationFailed('body has too many parts')))
    parser.on('error', () => fail(new ValidationFailed('body is not valid multipart/form-data')))
    parser.on('finish', () => {
      parsed = true
      maybeDone()
    })

    req.on('data', onData)
    req.on('close', onClose)
    req.on('error', onInterrupted)
    req.pipe(parser)
  })
}

/** A part's first chunk, or null when it ends without one; the stream is left paused. */
function firstChunk (stream: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const settle = (chunk: Buffer | null) => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', reject)
      resolve(chunk)
    }
    const onData = (chunk: Buffer) => {
      stream.pause()
      settle(chunk)
    }
    const onEnd = () => settle(null)
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', reject)
  })
}
