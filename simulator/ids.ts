import { randomBytes, randomUUID } from 'node:crypto'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** `conv_…`, `resp_…`, `msg_…`, `fc_…`: the prefix plus 48 hex characters, like OpenAI's. */
export function hexId (prefix: string): string {
  return prefix + randomBytes(24).toString('hex')
}

/** `call_…`, `file-…`: the prefix plus 24 base62 characters. */
export function base62Id (prefix: string, length = 24): string {
  const bytes = randomBytes(length)
  let out = prefix
  // 62 does not divide 256, the slight bias is irrelevant for ids.
  for (let i = 0; i < length; i++) out += BASE62[bytes[i] % 62]
  return out
}

export function requestId (): string {
  return 'req_' + randomUUID().replaceAll('-', '')
}
